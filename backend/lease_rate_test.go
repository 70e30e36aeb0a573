package backend

import (
	"strings"
	"testing"

	"github.com/hashicorp/vault/sdk/logical"
)

func TestStatusWarnsWhenLeasedReadsKeepTooManyLeasesAlive(t *testing.T) {
	env := newTestEnv(t)
	env.writeConfig("p", nil)
	// Leases nobody renews live their TTL, the renewal period.
	period := env.readToken("p").Secret.TTL
	// 3,000 reads in a minute, 50 a second, keep 50 × period alive.
	for range 2999 {
		env.readToken("p")
	}
	status := env.mustOK(logical.ReadOperation, "status/p", nil).Data
	want := int64(50 * period.Seconds())
	if want <= liveLeaseWarning {
		t.Fatalf("the test's rate keeps only %d leases alive (renewal period %s): read faster", want, period)
	}
	if got := status["live_leases_estimate"].(int64); got < want*95/100 || got > want*105/100 {
		t.Errorf("live_leases_estimate = %d, want about %d (50 reads a second, TTL %s)", got, want, period)
	}
	warning, _ := status["lease_warning"].(string)
	for _, remedy := range []string{"Vault Agent", "Vault Proxy", "lease_mode=none"} {
		if !strings.Contains(warning, remedy) {
			t.Errorf("lease_warning %q does not name %s", warning, remedy)
		}
	}
	if logs := env.logs.String(); strings.Count(logs, "keep too many leases alive") != 1 {
		t.Errorf("want one warning in the log, got:\n%s", logs)
	}
	if got := counterValue(t, env.b.metrics.leasesIssued.WithLabelValues("p", "oauth2")); got != 3000 {
		t.Errorf("leases issued = %v, want 3000", got)
	}
	// A minute later with no reads, the warning is gone.
	env.clock.Advance(rateWindow + rateWindow/rateBuckets)
	status = env.mustOK(logical.ReadOperation, "status/p", nil).Data
	if _, ok := status["lease_warning"]; ok || status["live_leases_estimate"].(int64) != 0 {
		t.Errorf("a quiet minute later: %v, %v", status["lease_warning"], status["live_leases_estimate"])
	}
}

func TestStatusDoesNotWarnAtAgentRates(t *testing.T) {
	env := newTestEnv(t)
	env.writeConfig("p", nil)
	for range 10 {
		env.readToken("p")
	}
	status := env.mustOK(logical.ReadOperation, "status/p", nil).Data
	if _, ok := status["lease_warning"]; ok {
		t.Errorf("10 reads a minute warned: %v", status["lease_warning"])
	}
}
