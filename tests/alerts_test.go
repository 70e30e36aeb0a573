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

// alertRules is the rules file docs/operations.md ("Alerts") ships.
var alertRules = filepath.Join("..", "deploy", "prometheus", "partnertoken.rules.yml")

// parseAlertRules parses the shipped rules file with Prometheus' own rule
// file and PromQL parser, as `promtool check rules` does.
func parseAlertRules(t *testing.T) *rulefmt.RuleGroups {
	t.Helper()
	groups, errs := rulefmt.ParseFile(alertRules, false, model.UTF8Validation, parser.NewParser(parser.Options{}), slog.New(slog.DiscardHandler))
	for _, err := range errs {
		t.Errorf("parsing the rules: %v", err)
	}
	if len(errs) > 0 {
		t.FailNow()
	}
	return groups
}

// TestAlertRules parses the shipped rules and checks that every metric and
// label they select is one the engine serves through a real Vault (or a
// series the file records, or Prometheus' own up): an alert on a misspelt
// or removed metric never fires. promtool checks and unit-tests the rules
// (make test-rules); TestPrometheus runs them.
func TestAlertRules(t *testing.T) {
	promql := parser.NewParser(parser.Options{})
	groups := parseAlertRules(t)
	served := servedMetricLabels(t)
	// Each recording rule serves a series with the labels of what it reads.
	for _, group := range groups.Groups {
		for _, rule := range group.Rules {
			if rule.Record != "" {
				served[rule.Record] = served["partnertoken_mint_failures_total"]
			}
		}
	}
	served["up"] = []string{"job", "instance"}

	alerts := 0
	for _, group := range groups.Groups {
		for _, rule := range group.Rules {
			name := rule.Alert + rule.Record
			if rule.Alert != "" {
				alerts++
				if rule.Annotations["summary"] == "" || rule.Annotations["description"] == "" || rule.Labels["severity"] == "" {
					t.Errorf("alert %s: needs summary and description annotations and a severity label", rule.Alert)
				}
			}
			expr, err := promql.ParseExpr(rule.Expr)
			if err != nil {
				t.Errorf("rule %s: %v", name, err)
				continue
			}
			for _, matchers := range parser.ExtractSelectors(expr) {
				checkSelector(t, name, matchers, served)
			}
		}
	}
	if alerts == 0 {
		t.Fatalf("%s holds no alerting rule", alertRules)
	}
}

// checkSelector checks one series selector of a rule against what the
// engine serves: the metric exists, and so does every label it matches on.
func checkSelector(t *testing.T, rule string, matchers []*labels.Matcher, served map[string][]string) {
	t.Helper()
	var name string
	for _, m := range matchers {
		if m.Name == labels.MetricName && m.Type == labels.MatchEqual {
			name = m.Value
		}
	}
	if name == "" {
		t.Errorf("rule %s selects %v: want a metric named exactly", rule, matchers)
		return
	}
	known, ok := served[name]
	if !ok {
		t.Errorf("rule %s uses %s, which neither the engine nor the file serves (they serve %v)", rule, name, sortedKeys(served))
		return
	}
	for _, m := range matchers {
		if m.Name != labels.MetricName && !slices.Contains(known, m.Name) {
			t.Errorf("rule %s matches label %s of %s, which has only %v", rule, m.Name, name, known)
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
