package backend

import (
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/vault/sdk/logical"
	dto "github.com/prometheus/client_model/go"
)

func TestLeaseModeNoneReturnsTheTokenWithoutALease(t *testing.T) {
	env := newTestEnv(t)
	env.writeConfig("p", map[string]any{"lease_mode": "none"})
	resp := env.readToken("p")
	if resp.Secret != nil {
		t.Fatalf("lease_mode=none returned a lease: %+v", resp.Secret)
	}
	want := map[string]any{
		"access_token":    env.partner.token(1),
		"token_type":      "Bearer",
		"expires_at":      env.clock.Now().Add(time.Hour).UTC().Format(time.RFC3339),
		"ttl":             int64(48 * 60), // until the refresh ahead at 80% of the hour
		"rotation_period": int64(3600),
	}
	for k, v := range want {
		if resp.Data[k] != v {
			t.Errorf("%s = %v (%T), want %v", k, resp.Data[k], resp.Data[k], v)
		}
	}
	if got := env.mustOK(logical.ReadOperation, "status/p", nil).Data["lease_mode"]; got != "none" {
		t.Errorf("status lease_mode = %v, want none", got)
	}
	if got := env.b.metrics.leasesIssued.WithLabelValues("p", "oauth2"); testCounter(got) != 0 {
		t.Errorf("lease_mode=none counted %v leases issued", testCounter(got))
	}
}

func TestRereadTTLEndsBeforeTheToken(t *testing.T) {
	env := newTestEnv(t)
	env.writeConfig("p", nil)
	cfg := env.storedConfig("p")
	issued := env.clock.Now()
	hour := &storedToken{IssuedAt: issued, ExpiresAt: issued.Add(time.Hour)}
	tests := []struct {
		name  string
		tok   *storedToken
		at    time.Duration
		guard time.Duration
		want  time.Duration
	}{
		{"before the refresh ahead: until it", hour, 0, 0, 48 * time.Minute},
		{"past the refresh ahead: until the safe end", hour, 50 * time.Minute, 0, 5 * time.Minute},
		{"past the refresh ahead under load: until the safe end less the guard", hour, 50 * time.Minute, 10 * time.Second, 4*time.Minute + 50*time.Second},
		{"never below a second", hour, 55*time.Minute - 1500*time.Millisecond, 0, time.Second},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			now := issued.Add(tt.at)
			got := cfg.rereadTTL(tt.tok, now, tt.guard)
			if got != tt.want {
				t.Fatalf("ttl %s, want %s", got, tt.want)
			}
			// consul-template re-reads after ttl + 1 s: still before the expiry.
			if now.Add(got + time.Second).After(tt.tok.ExpiresAt) {
				t.Fatalf("ttl %s + 1 s ends after the token expires", got)
			}
		})
	}
}

// TestLeaseModeNoneRefusesNewCaps: ttl and max_ttl cap a lease, which a
// lease_mode=none read does not get. A write that sets one, or switches a
// capped config to none, is refused; a config stored with both keeps
// serving, and writes that touch neither still apply.
func TestLeaseModeNoneRefusesNewCaps(t *testing.T) {
	env := newTestEnv(t)
	env.writeConfig("capped", map[string]any{"ttl": "10m"})
	resp, err := env.request(logical.UpdateOperation, "config/capped", map[string]any{"lease_mode": "none"})
	if err != nil || !resp.IsError() || !strings.Contains(resp.Error().Error(), "write ttl=0 with lease_mode=none") {
		t.Fatalf("switching a config with ttl=10m to lease_mode=none: %v %v, want a 400 naming ttl", resp, err)
	}
	env.mustOK(logical.UpdateOperation, "config/capped", map[string]any{"lease_mode": "none", "ttl": 0})

	// A config stored with both before the rule.
	env.writeConfig("old", map[string]any{"lease_mode": "none"})
	cfg := env.storedConfig("old")
	cfg.TTL, cfg.MaxTTL = 10*time.Minute, 20*time.Minute
	if err := writeConfig(t.Context(), env.storage, "old", cfg); err != nil {
		t.Fatal(err)
	}
	env.b.cache.drop("old")
	if ttl := env.readToken("old").Data["ttl"]; ttl != int64(48*60) {
		t.Fatalf("the stored config's read returned ttl %v, want 2880 (the refresh ahead, whatever the stored caps)", ttl)
	}
	env.mustOK(logical.UpdateOperation, "config/old", map[string]any{"next_client_secret": "next-secret-0123"})
	for _, field := range []string{"ttl", "max_ttl"} {
		resp, err := env.request(logical.UpdateOperation, "config/old", map[string]any{field: "15m"})
		if err != nil || !resp.IsError() || !strings.Contains(resp.Error().Error(), field+" (15m0s) caps a lease") {
			t.Errorf("a write of %s=15m to a lease_mode=none config: %v %v, want a 400 naming %s", field, resp, err, field)
		}
	}
}

func TestLeaseModeIsValidated(t *testing.T) {
	env := newTestEnv(t)
	resp, err := env.request(logical.CreateOperation, "config/p", map[string]any{
		"provider": "oauth2", "token_url": env.partner.URL(), "client_id": testClientID, "client_secret": testClientSecret,
		"lease_mode": "sometimes",
	})
	if err == nil && (resp == nil || !resp.IsError()) {
		t.Fatal("lease_mode=sometimes was accepted")
	}
	msg := ""
	if err != nil {
		msg = err.Error()
	} else {
		msg = resp.Error().Error()
	}
	if !strings.Contains(msg, "lease_mode") {
		t.Fatalf("error %q does not name lease_mode", msg)
	}
}

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
	if got := testCounter(env.b.metrics.leasesIssued.WithLabelValues("p", "oauth2")); got != 3000 {
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

func testCounter(c interface{ Write(*dto.Metric) error }) float64 {
	var m dto.Metric
	if err := c.Write(&m); err != nil {
		return -1
	}
	return m.GetCounter().GetValue()
}
