package e2e

import (
	"context"
	"log/slog"
	"net/http"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/model/rulefmt"
	"github.com/prometheus/prometheus/promql/parser"
)

// alertRules is the rules file docs/operations.md ("Alerts worth having") ships.
var alertRules = filepath.Join("..", "deploy", "prometheus", "partnertoken.rules.yml")

// TestAlertRules parses the shipped alerting rules with Prometheus' own rule
// file and PromQL parser (what `promtool check rules` does) and checks that
// every metric and label they select is one the engine serves through a
// real Vault: an alert on a misspelt or removed metric never fires.
func TestAlertRules(t *testing.T) {
	promql := parser.NewParser(parser.Options{})
	groups, errs := rulefmt.ParseFile(alertRules, false, model.UTF8Validation, promql, slog.New(slog.DiscardHandler))
	for _, err := range errs {
		t.Errorf("parsing the rules: %v", err)
	}
	if len(errs) > 0 {
		t.FailNow()
	}

	served := servedMetricLabels(t)
	alerts := 0
	for _, group := range groups.Groups {
		for _, rule := range group.Rules {
			if rule.Alert == "" {
				continue
			}
			alerts++
			if rule.Annotations["summary"] == "" || rule.Labels["severity"] == "" {
				t.Errorf("alert %s: needs a summary annotation and a severity label", rule.Alert)
			}
			expr, err := promql.ParseExpr(rule.Expr)
			if err != nil {
				t.Errorf("alert %s: %v", rule.Alert, err)
				continue
			}
			for _, matchers := range parser.ExtractSelectors(expr) {
				checkSelector(t, rule.Alert, matchers, served)
			}
		}
	}
	if alerts == 0 {
		t.Fatalf("%s holds no alerting rule", alertRules)
	}
}

// checkSelector checks one series selector of an alert against what the
// engine serves: the metric exists, and so does every label it matches on.
func checkSelector(t *testing.T, alert string, matchers []*labels.Matcher, served map[string][]string) {
	t.Helper()
	var name string
	for _, m := range matchers {
		if m.Name == labels.MetricName && m.Type == labels.MatchEqual {
			name = m.Value
		}
	}
	if !strings.HasPrefix(name, "partnertoken_") {
		t.Errorf("alert %s selects %v: want a partnertoken_ metric named exactly", alert, matchers)
		return
	}
	known, ok := served[name]
	if !ok {
		t.Errorf("alert %s uses %s, which the engine does not serve (it serves %v)", alert, name, sortedKeys(served))
		return
	}
	for _, m := range matchers {
		if m.Name != labels.MetricName && !slices.Contains(known, m.Name) {
			t.Errorf("alert %s matches label %s of %s, which has only %v", alert, m.Name, name, known)
		}
	}
}

// servedMetricLabels makes the engine produce a series of every metric the
// alerts need (a mint, a cached read, a refused mint), reads the mount's
// metrics in the Prometheus text format through Vault, and returns each
// sample name (histograms as their _bucket, _sum and _count series) with
// the label names it carries.
func servedMetricLabels(t *testing.T) map[string][]string {
	t.Helper()
	ctx := ctxFor(t)
	root := shared.root
	const good, refused = "alerts-podero", "alerts-refused"
	if err := configure(ctx, root, mount, good, "podero", shared.sim, nil); err != nil {
		t.Fatal(err)
	}
	if err := configure(ctx, root, mount, refused, "podero", shared.sim, map[string]any{"client_secret": "not-the-podero-secret"}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		root.delete(context.Background(), mount+"/config/"+good)
		root.delete(context.Background(), mount+"/config/"+refused)
	})
	for range 2 {
		if _, err := readToken(ctx, root, mount, good); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := readToken(ctx, root, mount, refused); statusOf(err) != http.StatusBadGateway {
		t.Fatalf("reading a refused config: %v, want HTTP 502", err)
	}

	text := rawGet(t, ctx, root, mount+"/metrics?format=prometheus")
	textParser := expfmt.NewTextParser(model.UTF8Validation)
	families, err := textParser.TextToMetricFamilies(strings.NewReader(text))
	if err != nil {
		t.Fatalf("parsing the served metrics: %v\n%.2000s", err, text)
	}
	served := map[string][]string{}
	add := func(name string, m *dto.Metric, extra ...string) {
		for _, l := range m.GetLabel() {
			if !slices.Contains(served[name], l.GetName()) {
				served[name] = append(served[name], l.GetName())
			}
		}
		for _, l := range extra {
			if !slices.Contains(served[name], l) {
				served[name] = append(served[name], l)
			}
		}
	}
	for name, family := range families {
		for _, m := range family.GetMetric() {
			if family.GetType() == dto.MetricType_HISTOGRAM {
				add(name+"_bucket", m, model.BucketLabel)
				add(name+"_sum", m)
				add(name+"_count", m)
			} else {
				add(name, m)
			}
		}
	}
	return served
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
