package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"math"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	promv1 "github.com/prometheus/client_golang/api/prometheus/v1"
	"github.com/prometheus/common/model"
)

// operationsDoc documents the scrape job, the policy and scrape token, the
// alerts and the dashboard that TestPrometheus runs as written (relative to
// the repository root, as docBlock takes it).
const operationsDoc = "docs/operations.md"

// grafanaDashboard is the dashboard docs/operations.md ships.
var grafanaDashboard = filepath.Join("..", "deploy", "grafana", "partnertoken.json")

// promConfigs are the configs TestPrometheus drives, each on its own
// simulated partner so that a fault injected into one partner touches one
// config, and the alerts each must have once driven: a refusal, a rate
// limit, an outage and an answer without a token fire; minting too often
// and slow mints go pending (they fire after 30 and 15 minutes).
var promConfigs = []struct {
	name, partner string
	extra         map[string]any
	alerts        map[string]promv1.AlertState
}{
	{"prom-refused", "podero", map[string]any{"client_secret": "not-the-podero-secret"},
		map[string]promv1.AlertState{"PartnerTokenCredentialsRefused": promv1.AlertStateFiring}},
	{"prom-limited", "dinie", map[string]any{"timeout": "2s"},
		map[string]promv1.AlertState{"PartnerTokenRateLimited": promv1.AlertStateFiring}},
	{"prom-outage", "setu", map[string]any{"timeout": "1s"},
		map[string]promv1.AlertState{"PartnerTokenPartnerUnreliable": promv1.AlertStateFiring}},
	{"prom-unusable", "doku", nil,
		map[string]promv1.AlertState{"PartnerTokenUnusableAnswers": promv1.AlertStateFiring}},
	{"prom-churn", "oauth2", nil,
		map[string]promv1.AlertState{"PartnerTokenMintingTooOften": promv1.AlertStatePending}},
	{"prom-slow", "dupr", nil,
		map[string]promv1.AlertState{"PartnerTokenMintSlow": promv1.AlertStatePending}},
}

// TestPrometheus runs a real Prometheus server against the shared server:
// a scrape token made with the documented policy and commands, the
// documented scrape job (for this test's address and token file, over
// plain HTTP), the shipped alerting rules. It drives a refusal, a rate
// limit, an outage, an unusable answer, a burst of mints and a slow mint
// through the simulator, and checks through Prometheus' API that each
// config has exactly the alerts it should, pending or firing, and that
// every query of the Grafana dashboard returns data.
func TestPrometheus(t *testing.T) {
	bin := prometheusBin(t)
	ctx := ctxFor(t)
	root := shared.root
	dir := filepath.Join(env.workDir, "prometheus")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	sim, err := startSimulator("prometheus", nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(sim.Close)
	for _, c := range promConfigs {
		if err := configure(ctx, root, mount, c.name, c.partner, sim, c.extra); err != nil {
			t.Fatal(err)
		}
	}
	t.Cleanup(func() {
		for _, c := range promConfigs {
			root.delete(context.Background(), mount+"/config/"+c.name)
		}
	})

	tokenFile := filepath.Join(dir, "vault-token")
	scrapeToken := makeScrapeToken(t, ctx, tokenFile)

	addr, err := url.Parse(shared.vault.Addr)
	if err != nil {
		t.Fatal(err)
	}
	rules, err := filepath.Abs(alertRules)
	if err != nil {
		t.Fatal(err)
	}
	// One-second scrapes and evaluations keep the test short.
	job := docBlock(t, operationsDoc, "run", "operations-scrape-job", map[string]string{
		"scheme: https":               "scheme: http", // the test's server has no TLS listener
		"vault.example.com:8200":      addr.Host,
		"/etc/prometheus/vault-token": tokenFile,
	})
	prom := startPrometheus(t, ctx, bin, dir, fmt.Sprintf(`global:
  scrape_interval: 1s
  scrape_timeout: 1s
  evaluation_interval: 1s
rule_files: [%q]
scrape_configs:
%s
`, rules, job))

	// The scrape works with the documented token, and every failure
	// counter of every config is scraped at 0 before the first failure.
	waitFor(t, ctx, "the partnertoken target to be scraped", func() (bool, string) {
		targets, err := prom.API.Targets(ctx)
		if err != nil || len(targets.Active) != 1 {
			return false, fmt.Sprintf("targets %+v, %v", targets, err)
		}
		target := targets.Active[0]
		return target.Health == promv1.HealthGood, fmt.Sprintf("target %s: %s (%s)", target.ScrapeURL, target.Health, target.LastError)
	})
	zeros := fmt.Sprintf(`count(partnertoken_mint_failures_total{config=~"prom-.*"} == 0) == %d`, len(promConfigs)*8)
	waitForQuery(t, ctx, prom, zeros)

	// The configs whose alerts need history, minting too often and a slow
	// mint, first mint quickly once, as Prometheus sees.
	for _, name := range []string{"prom-churn", "prom-slow"} {
		if _, err := readToken(ctx, root, mount, name); err != nil {
			t.Fatal(err)
		}
	}
	waitForQuery(t, ctx, prom, `count(partnertoken_mint_duration_seconds_count{config=~"prom-churn|prom-slow"} == 1) == 2`)

	// A slow mint, in the background: 6 s, within the default 10 s timeout.
	inject(t, sim, "dupr", map[string]any{"delay": "6s"})
	slow := make(chan error, 1)
	go func() {
		if err := configure(ctx, root, mount, "prom-slow", "dupr", sim, nil); err != nil {
			slow <- err
			return
		}
		_, err := readToken(ctx, root, mount, "prom-slow")
		slow <- err
	}()

	// A refusal of the credentials.
	mustFail(t, ctx, root, "prom-refused")
	// A rate limit, and a read the engine holds back while it lasts.
	inject(t, sim, "dinie", map[string]any{"status": http.StatusTooManyRequests, "retry_after": "120"})
	mustFail(t, ctx, root, "prom-limited")
	mustFail(t, ctx, root, "prom-limited")
	// An outage. The first read's mint finds the partner down; the reads
	// after it are refused at once while the next attempt is not due, and
	// three forced refreshes make three more attempts: four failed mints.
	inject(t, sim, "setu", map[string]any{"status": http.StatusBadGateway, "times": -1})
	mustFail(t, ctx, root, "prom-outage")
	for range 3 {
		mustFail(t, ctx, root, "prom-outage")
	}
	for range 3 {
		if _, err := root.write(ctx, mount+"/refresh/prom-outage", nil); statusOf(err) != http.StatusBadGateway {
			t.Fatalf("refreshing prom-outage: %v, want HTTP 502", err)
		}
	}
	waitForQuery(t, ctx, prom, `partnertoken_outage_refused_reads_total{config="prom-outage"} >= 1`)
	// A token endpoint that is not there (a wrong token_url).
	inject(t, sim, "doku", map[string]any{"status": http.StatusNotFound})
	mustFail(t, ctx, root, "prom-unusable")
	// Eight more mints of hour-long tokens: the config rewritten, as a
	// broken automation does, and read after each write.
	for range 8 {
		if err := configure(ctx, root, mount, "prom-churn", "oauth2", sim, nil); err != nil {
			t.Fatal(err)
		}
		if _, err := readToken(ctx, root, mount, "prom-churn"); err != nil {
			t.Fatal(err)
		}
	}
	if err := <-slow; err != nil {
		t.Fatalf("the slow mint: %v", err)
	}

	want := map[string]map[string]promv1.AlertState{}
	for _, c := range promConfigs {
		want[c.name] = c.alerts
	}
	var got map[string]map[string]promv1.AlertState
	waitFor(t, ctx, "each config's alerts", func() (bool, string) {
		got = configAlerts(t, ctx, prom)
		return equalAlerts(got, want), fmt.Sprintf("alerts %v, want %v", got, want)
	})
	t.Logf("alerts by config: %v", got)
	// Two more evaluations: no other alert follows.
	time.Sleep(2500 * time.Millisecond)
	if got := configAlerts(t, ctx, prom); !equalAlerts(got, want) {
		t.Errorf("alerts later: %v, want %v", got, want)
	}

	checkRulesLoaded(t, ctx, prom)
	checkDashboard(t, ctx, prom)

	// The scrape token reads metrics, and nothing else of the mount.
	if _, err := scrapeToken.read(ctx, mount+"/token/prom-churn"); statusOf(err) != http.StatusForbidden {
		t.Errorf("reading a token with the scrape token: %v, want HTTP 403", err)
	}
	if _, err := scrapeToken.read(ctx, mount+"/status/prom-churn"); statusOf(err) != http.StatusForbidden {
		t.Errorf("reading status with the scrape token: %v, want HTTP 403", err)
	}

	// A scrape token that is gone (not renewed, revoked) stops the scrapes,
	// and Prometheus says so.
	if state := alertState(t, ctx, prom, "PartnerTokenMetricsDown"); state != "" {
		t.Fatalf("PartnerTokenMetricsDown is %s while scrapes work", state)
	}
	if _, err := scrapeToken.write(ctx, "auth/token/revoke-self", nil); err != nil {
		t.Fatal(err)
	}
	waitFor(t, ctx, "PartnerTokenMetricsDown to go pending", func() (bool, string) {
		state := alertState(t, ctx, prom, "PartnerTokenMetricsDown")
		return state == promv1.AlertStatePending, fmt.Sprintf("it is %q", state)
	})
	// What the runbook line tells on-call to look for.
	if targets, err := prom.API.Targets(ctx); err != nil || len(targets.Active) != 1 || !strings.Contains(targets.Active[0].LastError, "403") {
		t.Errorf("the target's last error does not show the 403 of a revoked token: %+v, %v", targets.Active, err)
	}
}

// alertState is the state of the alert named, "" when it is not active.
func alertState(t *testing.T, ctx context.Context, prom *prometheusServer, name string) promv1.AlertState {
	t.Helper()
	res, err := prom.API.Alerts(ctx)
	if err != nil {
		t.Fatalf("asking Prometheus for its alerts: %v", err)
	}
	for _, a := range res.Alerts {
		if string(a.Labels[model.AlertNameLabel]) == name {
			return a.State
		}
	}
	return ""
}

// makeScrapeToken writes the documented policy and makes the scrape token
// into tokenFile with the documented commands, then renews it as
// documented, and returns a client holding it.
func makeScrapeToken(t *testing.T, ctx context.Context, tokenFile string) *vaultClient {
	t.Helper()
	replace := map[string]string{"/etc/prometheus/vault-token": tokenFile}
	runDocBlock(t, ctx, shared.vault, operationsDoc, "operations-scrape-token", filepath.Dir(tokenFile), replace)
	info, err := os.Stat(tokenFile)
	if err != nil {
		t.Fatal(err)
	}
	if info.Mode().Perm()&0o077 != 0 {
		t.Errorf("the documented commands leave %s readable by others (%v)", tokenFile, info.Mode().Perm())
	}
	data, err := os.ReadFile(tokenFile)
	if err != nil {
		t.Fatal(err)
	}
	client := shared.vault.client(strings.TrimSpace(string(data)))
	self, err := client.read(ctx, "auth/token/lookup-self")
	if err != nil {
		t.Fatalf("looking up the scrape token: %v", err)
	}
	if self.Data["period"] == nil || self.Data["orphan"] != true {
		t.Errorf("the scrape token is not a periodic orphan token: %v", self.Data)
	}
	runDocBlock(t, ctx, shared.vault, operationsDoc, "operations-scrape-token-renew", filepath.Dir(tokenFile), replace)
	return client
}

// inject queues a fault of the simulator's partner.
func inject(t *testing.T, sim *simulator, partner string, fault map[string]any) {
	t.Helper()
	if err := sim.admin(http.MethodPost, "faults/"+partner, fault, nil); err != nil {
		t.Fatal(err)
	}
}

// mustFail reads token/name, which must fail with the engine's 502.
func mustFail(t *testing.T, ctx context.Context, c *vaultClient, name string) {
	t.Helper()
	if _, err := readToken(ctx, c, mount, name); statusOf(err) != http.StatusBadGateway {
		t.Fatalf("reading %s: %v, want HTTP 502", name, err)
	}
}

// waitFor polls done every half second for up to a minute; its string
// says what it saw, for the failure message.
func waitFor(t *testing.T, ctx context.Context, what string, done func() (bool, string)) {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for {
		ok, saw := done()
		if ok {
			return
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			t.Fatalf("waited a minute for %s: %s", what, saw)
		}
		time.Sleep(500 * time.Millisecond)
	}
}

// waitForQuery waits until the PromQL query returns a result.
func waitForQuery(t *testing.T, ctx context.Context, prom *prometheusServer, query string) {
	t.Helper()
	waitFor(t, ctx, query, func() (bool, string) {
		v, _, _, err := prom.API.Query(ctx, query, time.Now())
		if err != nil {
			return false, err.Error()
		}
		vec, _ := v.(model.Vector)
		return len(vec) > 0, fmt.Sprintf("got %v", v)
	})
}

// configAlerts are the alerts Prometheus holds for this test's configs,
// by config and alert name (other tests' configs on the shared mount have
// alerts of their own).
func configAlerts(t *testing.T, ctx context.Context, prom *prometheusServer) map[string]map[string]promv1.AlertState {
	t.Helper()
	res, err := prom.API.Alerts(ctx)
	if err != nil {
		t.Fatalf("asking Prometheus for its alerts: %v", err)
	}
	out := map[string]map[string]promv1.AlertState{}
	for _, a := range res.Alerts {
		config := string(a.Labels["config"])
		if !strings.HasPrefix(config, "prom-") {
			continue
		}
		if out[config] == nil {
			out[config] = map[string]promv1.AlertState{}
		}
		out[config][string(a.Labels[model.AlertNameLabel])] = a.State
	}
	return out
}

func equalAlerts(got, want map[string]map[string]promv1.AlertState) bool {
	return maps.EqualFunc(got, want, maps.Equal)
}

// checkRulesLoaded checks that Prometheus loaded every rule of the shipped
// file and evaluates each without an error.
func checkRulesLoaded(t *testing.T, ctx context.Context, prom *prometheusServer) {
	t.Helper()
	res, err := prom.API.Rules(ctx, nil)
	if err != nil {
		t.Fatalf("asking Prometheus for its rules: %v", err)
	}
	var loaded []string
	for _, g := range res.Groups {
		for _, r := range g.Rules {
			switch r := r.(type) {
			case promv1.AlertingRule:
				loaded = append(loaded, r.Name)
				if r.Health != promv1.RuleHealthGood {
					t.Errorf("alert %s: health %s: %s", r.Name, r.Health, r.LastError)
				}
			case promv1.RecordingRule:
				loaded = append(loaded, r.Name)
				if r.Health != promv1.RuleHealthGood {
					t.Errorf("recording rule %s: health %s: %s", r.Name, r.Health, r.LastError)
				}
			}
		}
	}
	var shipped []string
	for _, g := range parseAlertRules(t).Groups {
		for _, r := range g.Rules {
			shipped = append(shipped, r.Alert+r.Record)
		}
	}
	slices.Sort(loaded)
	slices.Sort(shipped)
	if !slices.Equal(loaded, shipped) {
		t.Errorf("Prometheus loaded the rules %v, the file has %v", loaded, shipped)
	}
}

// dashboard is what the test reads of a Grafana dashboard.
type dashboard struct {
	Templating struct {
		List []struct {
			Name string `json:"name"`
		} `json:"list"`
	} `json:"templating"`
	Panels []struct {
		Title      string `json:"title"`
		Datasource struct {
			UID string `json:"uid"`
		} `json:"datasource"`
		Targets []struct {
			Expr  string `json:"expr"`
			RefID string `json:"refId"`
		} `json:"targets"`
	} `json:"panels"`
}

// checkDashboard runs every panel query of the Grafana dashboard against
// prom, with the template variables as Grafana fills them for all of this
// test's configs, and requires data from each.
func checkDashboard(t *testing.T, ctx context.Context, prom *prometheusServer) {
	t.Helper()
	data, err := os.ReadFile(grafanaDashboard)
	if err != nil {
		t.Fatal(err)
	}
	var d dashboard
	if err := json.Unmarshal(data, &d); err != nil {
		t.Fatalf("%s: %v", grafanaDashboard, err)
	}
	var variables []string
	for _, v := range d.Templating.List {
		variables = append(variables, v.Name)
	}
	if !slices.Contains(variables, "datasource") || !slices.Contains(variables, "config") {
		t.Fatalf("%s: template variables %v, want datasource and config", grafanaDashboard, variables)
	}
	// The rate interval covers this test's whole life, so every rate has
	// samples to work on.
	fill := strings.NewReplacer("${config}", "prom-.*", "$config", "prom-.*", "$__rate_interval", "5m")
	if len(d.Panels) == 0 {
		t.Fatalf("%s has no panels", grafanaDashboard)
	}
	for _, p := range d.Panels {
		if p.Datasource.UID != "${datasource}" {
			t.Errorf("panel %q: datasource %q, want the ${datasource} variable", p.Title, p.Datasource.UID)
		}
		if len(p.Targets) == 0 {
			t.Errorf("panel %q has no query", p.Title)
		}
		for _, target := range p.Targets {
			expr := fill.Replace(target.Expr)
			if strings.Contains(expr, "$") {
				t.Errorf("panel %q, query %s: a variable the test does not know: %s", p.Title, target.RefID, target.Expr)
				continue
			}
			v, _, _, err := prom.API.Query(ctx, expr, time.Now())
			if err != nil {
				t.Errorf("panel %q, query %s: %v\n%s", p.Title, target.RefID, err, expr)
				continue
			}
			if !hasData(v) {
				t.Errorf("panel %q, query %s returns no data: %v\n%s", p.Title, target.RefID, v, expr)
			}
		}
	}
}

// hasData tells whether a query result holds a number worth plotting.
func hasData(v model.Value) bool {
	vec, ok := v.(model.Vector)
	if !ok {
		return false
	}
	for _, s := range vec {
		if !math.IsNaN(float64(s.Value)) {
			return true
		}
	}
	return false
}
