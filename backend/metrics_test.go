package backend

import (
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/vault/sdk/logical"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/partnertoken/vault-plugin-secrets-partnertoken/internal/partnersim"
	"github.com/partnertoken/vault-plugin-secrets-partnertoken/internal/provider"
)

// scraped reads metrics?format=prometheus as a scraper does and returns
// each sample of the family name, keyed by its labels other than config
// and provider in the form class=refused (empty for none), for config.
func (env *testEnv) scraped(name, config string) map[string]float64 {
	env.t.Helper()
	resp := env.mustOK(logical.ReadOperation, "metrics", map[string]any{"format": "prometheus"})
	body := resp.Data[logical.HTTPRawBody].([]byte)
	parser := expfmt.NewTextParser(model.UTF8Validation)
	families, err := parser.TextToMetricFamilies(strings.NewReader(string(body)))
	if err != nil {
		env.t.Fatalf("parsing the served metrics: %v\n%s", err, body)
	}
	out := map[string]float64{}
	for _, m := range families[name].GetMetric() {
		var key []string
		matches := false
		for _, l := range m.GetLabel() {
			switch l.GetName() {
			case "config":
				matches = l.GetValue() == config
			case "provider":
			default:
				key = append(key, l.GetName()+"="+l.GetValue())
			}
		}
		if matches {
			out[strings.Join(key, ",")] = m.GetCounter().GetValue() + m.GetGauge().GetValue()
		}
	}
	return out
}

// zeroFailures is every failure class of a stored config at 0.
func zeroFailures() map[string]float64 {
	out := map[string]float64{}
	for _, class := range failureClasses {
		out["status_class="+class] = 0
	}
	return out
}

func equalSeries(got, want map[string]float64) bool {
	if len(got) != len(want) {
		return false
	}
	for k, v := range want {
		if g, ok := got[k]; !ok || g != v {
			return false
		}
	}
	return true
}

func TestStatusClassTellsRefusalsFromRateLimitsFromOther4xx(t *testing.T) {
	partner := func(status int, retryAfter time.Duration) error {
		return fmt.Errorf("gave up after 3 attempts: %w", &provider.Error{Partner: "Setu", Status: status, Message: "no", RetryAfter: retryAfter})
	}
	for _, c := range []struct {
		name string
		err  error
		want string
	}{
		{"400 is a refusal", partner(http.StatusBadRequest, 0), "refused"},
		{"401 is a refusal", partner(http.StatusUnauthorized, 0), "refused"},
		{"403 is a refusal", partner(http.StatusForbidden, 0), "refused"},
		{"429 without Retry-After is a rate limit", partner(http.StatusTooManyRequests, 0), "rate_limited"},
		{"429 with Retry-After is a rate limit", partner(http.StatusTooManyRequests, time.Minute), "rate_limited"},
		{"503 with Retry-After asks to wait like a rate limit", partner(http.StatusServiceUnavailable, time.Minute), "rate_limited"},
		{"503 without Retry-After is a server error", partner(http.StatusServiceUnavailable, 0), "5xx"},
		{"500 is a server error", partner(http.StatusInternalServerError, 0), "5xx"},
		{"404 is another 4xx", partner(http.StatusNotFound, 0), "other_4xx"},
		{"408 is another 4xx", partner(http.StatusRequestTimeout, 0), "other_4xx"},
		{"200 without a usable token is 2xx", partner(http.StatusOK, 0), "2xx"},
		{"a redirect is 3xx", partner(http.StatusFound, 0), "3xx"},
		{"no answer is network", partner(0, 0), "network"},
		{"a failure inside the engine is internal", errors.New("storage is sealed"), "internal"},
	} {
		t.Run(c.name, func(t *testing.T) {
			if got := statusClass(c.err); got != c.want {
				t.Errorf("statusClass = %q, want %q", got, c.want)
			}
			if !slices.Contains(failureClasses, c.want) {
				t.Errorf("%q is not among failureClasses %v", c.want, failureClasses)
			}
		})
	}
}

func TestFailureCountersExistFromTheConfigWrite(t *testing.T) {
	env := newTestEnv(t)
	env.writeConfig("p", nil)
	if got := env.scraped("partnertoken_mint_failures_total", "p"); !equalSeries(got, zeroFailures()) {
		t.Fatalf("after the config write: %v, want every class at 0", got)
	}

	env.partner.failNext(http.StatusUnauthorized)
	env.readFails("p")
	want := zeroFailures()
	want["status_class=refused"] = 1
	if got := env.scraped("partnertoken_mint_failures_total", "p"); !equalSeries(got, want) {
		t.Fatalf("after a refusal: %v, want %v", got, want)
	}

	// A rewrite keeps the name's history; a delete drops it, and a config
	// stored again under the name starts from 0.
	env.writeConfig("p", map[string]any{"timeout": "5s"})
	if got := env.scraped("partnertoken_mint_failures_total", "p"); !equalSeries(got, want) {
		t.Fatalf("after a rewrite: %v, want %v", got, want)
	}
	env.mustOK(logical.DeleteOperation, "config/p", nil)
	if got := env.scraped("partnertoken_mint_failures_total", "p"); len(got) != 0 {
		t.Fatalf("after the delete: %v, want no series", got)
	}
	env.writeConfig("p", nil)
	if got := env.scraped("partnertoken_mint_failures_total", "p"); !equalSeries(got, zeroFailures()) {
		t.Fatalf("stored again: %v, want every class at 0", got)
	}
}

func TestFailureCountersExistOnceAStoredConfigIsLoaded(t *testing.T) {
	env := newTestEnv(t)
	env.writeConfig("p", nil)
	env.writeConfig("q", nil)
	// A restart: the new backend loads each config on its first use, and
	// lists none at start.
	env.b = env.newBackend()
	if got := env.scraped("partnertoken_mint_failures_total", "p"); len(got) != 0 {
		t.Fatalf("before any use: %v, want no series", got)
	}
	env.mustOK(logical.ReadOperation, "status/p", nil)
	if got := env.scraped("partnertoken_mint_failures_total", "p"); !equalSeries(got, zeroFailures()) {
		t.Fatalf("once status/p loaded it: %v, want every class at 0", got)
	}
	if got := env.scraped("partnertoken_mint_failures_total", "q"); len(got) != 0 {
		t.Fatalf("q, never used: %v, want no series", got)
	}
}

func TestTokenGaugesFollowTheCurrentToken(t *testing.T) {
	env := newTestEnv(t)
	env.partner.setLifetime(time.Hour)
	env.writeConfig("p", map[string]any{"refresh_fraction": 0.5})
	gauges := []string{"partnertoken_token_issued_timestamp_seconds", "partnertoken_token_expiry_timestamp_seconds", "partnertoken_refresh_interval_seconds"}
	for _, name := range gauges {
		if got := env.scraped(name, "p"); len(got) != 0 {
			t.Fatalf("%s before any mint: %v", name, got)
		}
	}
	mintedAt := env.clock.Now()
	env.readToken("p")
	for name, want := range map[string]float64{
		"partnertoken_token_issued_timestamp_seconds": float64(mintedAt.Unix()),
		"partnertoken_token_expiry_timestamp_seconds": float64(mintedAt.Add(time.Hour).Unix()),
		"partnertoken_refresh_interval_seconds":       1800, // refresh_fraction 0.5 of an hour
	} {
		if got := env.scraped(name, "p"); got[""] != want || len(got) != 1 {
			t.Errorf("%s = %v, want %v", name, got, want)
		}
	}
	family := env.mustOK(logical.ReadOperation, "metrics", nil).Data["metrics"].(map[string]any)["partnertoken_refresh_interval_seconds"].(map[string]any)
	if series := family["series"].([]map[string]any); len(series) != 1 || series[0]["value"] != 1800.0 || family["type"] != "GAUGE" {
		t.Errorf("the JSON format shows the refresh interval as %v", family)
	}

	// A restarted node reports the stored token once it loads it.
	env.b = env.newBackend()
	env.mustOK(logical.ReadOperation, "status/p", nil)
	if got := env.scraped("partnertoken_refresh_interval_seconds", "p"); got[""] != 1800 {
		t.Errorf("refresh interval after a restart = %v, want 1800", got)
	}

	// A rewrite throws the token away: no token, no series, until the
	// next mint.
	env.writeConfig("p", nil)
	for _, name := range gauges {
		if got := env.scraped(name, "p"); len(got) != 0 {
			t.Errorf("%s after a rewrite: %v, want none", name, got)
		}
	}
	env.readToken("p")
	env.mustOK(logical.DeleteOperation, "config/p", nil)
	for _, name := range gauges {
		if got := env.scraped(name, "p"); len(got) != 0 {
			t.Errorf("%s after the delete: %v, want none", name, got)
		}
	}
}

// The refresh interval is when the refresh ahead comes, as status/<name>
// says: refresh_fraction of the lifetime at most, less when the token's
// leases would end sooner.
func TestRefreshIntervalOfShortLivedTokens(t *testing.T) {
	env := newTestEnv(t)
	env.partner.setLifetime(5 * time.Minute)
	env.writeConfig("p", nil)
	env.readToken("p")
	status := env.mustOK(logical.ReadOperation, "status/p", nil).Data
	minted, _ := time.Parse(time.RFC3339, status["minted_at"].(string))
	next, _ := time.Parse(time.RFC3339, status["next_refresh_at"].(string))
	got := env.scraped("partnertoken_refresh_interval_seconds", "p")[""]
	if got <= 0 || got > 0.8*300 || time.Duration(got*float64(time.Second)).Truncate(time.Second) != next.Sub(minted) {
		t.Fatalf("refresh interval %vs; status/p says %s after the mint, at most 80%% of 300s", got, next.Sub(minted))
	}
}

func TestRateLimitsAreNotRefusals(t *testing.T) {
	env := newTestEnv(t)
	env.writeConfig("p", map[string]any{"timeout": "2s"})
	env.partner.inject(partnersim.Fault{Status: http.StatusTooManyRequests, RetryAfter: "120"})
	env.readFails("p")
	env.readFails("p") // held: the partner asked to wait
	want := zeroFailures()
	want["status_class=rate_limited"] = 1
	if got := env.scraped("partnertoken_mint_failures_total", "p"); !equalSeries(got, want) {
		t.Fatalf("after a 429 and a held read: %v, want %v", got, want)
	}
	if got := env.scraped("partnertoken_retry_after_held_total", "p"); got[""] != 1 {
		t.Fatalf("retry_after_held = %v, want 1", got)
	}
}

func TestLeaseTTLSumIsTheLiveLeaseEstimate(t *testing.T) {
	env := newTestEnv(t)
	env.writeConfig("p", nil)
	var ttl time.Duration
	for range 3 {
		ttl += env.readToken("p").Secret.TTL
	}
	if got := env.scraped("partnertoken_leases_issued_total", "p"); got[""] != 3 {
		t.Fatalf("leases issued = %v, want 3", got)
	}
	got := env.scraped("partnertoken_lease_ttl_seconds_total", "p")[""]
	if got != ttl.Seconds() || got == 0 {
		t.Fatalf("lease TTL sum = %v, want the three leases' %v", got, ttl.Seconds())
	}
	// Three leases in the last minute: status/p's estimate is the sum's
	// rate over that minute.
	live := env.mustOK(logical.ReadOperation, "status/p", nil).Data["live_leases_estimate"]
	if want := int64(got / 60); live != want {
		t.Fatalf("status live_leases_estimate = %v, want the TTL sum's rate over a minute, %v", live, want)
	}
}
