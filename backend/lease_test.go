package backend

import (
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/vault/sdk/logical"
)

func TestTokenTooShortLivedToLeaseIsRefusedWithA502(t *testing.T) {
	env := newTestEnv(t)
	env.partner.setLifetime(2 * time.Second)
	env.writeConfig("p", nil)
	// The partner takes 1.5 s to answer: of the 2 s token, the 1 s margin
	// and the 1.5 s of latency leave nothing to lease.
	arrived, release := env.partner.hold()
	errc := make(chan error, 1)
	go func() {
		_, err := env.request(logical.ReadOperation, "token/p", nil)
		errc <- err
	}()
	<-arrived
	env.clock.Advance(1500 * time.Millisecond)
	release()
	err := <-errc
	var coded logical.HTTPCodedError
	if !errors.As(err, &coded) || coded.Code() != http.StatusBadGateway || !strings.Contains(err.Error(), "too short to lease") {
		t.Fatalf("read of a token with 0.5 s left returned %v, want a 502 saying the lifetime is too short to lease", err)
	}
}

func TestReadsSpreadTheirLeaseEnds(t *testing.T) {
	env := newTestEnv(t)
	draws := []float64{0, 0.25, 0.5, 0.75}
	env.b.jitter = func() float64 {
		d := draws[0]
		draws = append(draws[1:], d)
		return d
	}
	env.writeConfig("p", nil)
	ends := map[time.Duration]bool{}
	for range 4 {
		ends[env.readToken("p").Secret.MaxTTL] = true
	}
	if len(ends) != 4 {
		t.Fatalf("4 reads at the same instant got leases %v, want 4 different ends", ends)
	}
	for ttl := range ends {
		if ttl > 55*time.Minute || ttl < 52*time.Minute+30*time.Second {
			t.Errorf("lease %s outside [52m30s, 55m]", ttl)
		}
	}
}

func TestALateRefreshTimerShortensTheLeases(t *testing.T) {
	env := newTestEnv(t)
	env.writeConfig("p", nil)
	env.readToken("p") // arms the refresh for 48m (80% of the hour)
	// The machine is so starved that the timer fires 20 s late.
	env.clock.Advance(48*time.Minute + 20*time.Second)
	env.waitRefresh(2)
	resp := env.readToken("p")
	if resp.Data["access_token"] != env.partner.token(2) {
		t.Fatalf("read after the refresh got %v, want token-2", resp.Data["access_token"])
	}
	// The new token's hour, less the 5m margin, less the 20 s delay seen.
	if want := 55*time.Minute - 20*time.Second; resp.Secret.MaxTTL != want {
		t.Fatalf("lease %s, want %s: the late timer must shorten leases by its lateness", resp.Secret.MaxTTL, want)
	}
}

func TestDelayWatchForgetsOldDelays(t *testing.T) {
	var w delayWatch
	start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	w.observe(start, 3*time.Second)
	w.observe(start.Add(10*time.Second), time.Second)
	if got := w.allowance(start.Add(30 * time.Second)); got != 3*time.Second {
		t.Fatalf("recent = %s, want the 3s peak", got)
	}
	if got := w.allowance(start.Add(delayWindow + time.Second)); got != 3*time.Second {
		t.Fatalf("a window later: recent = %s, want the 3s peak of the previous window", got)
	}
	if got := w.allowance(start.Add(2*delayWindow + time.Second)); got != 0 {
		t.Fatalf("two windows later: recent = %s, want 0", got)
	}
	w.observe(start.Add(3*delayWindow), time.Hour)
	if got := w.allowance(start.Add(3 * delayWindow)); got != maxDelayAllowance {
		t.Fatalf("an hour-long stall: recent = %s, want the %s cap", got, maxDelayAllowance)
	}
}

// TestACachedTokenWithUnderTwoSecondsLeftIsReplacedFirst: Vault Agent
// drops a read that completes within the same second as the one before,
// so a 1 s lease on the old token made it miss the new one (issue 16).
func TestACachedTokenWithUnderTwoSecondsLeftIsReplacedFirst(t *testing.T) {
	env := newTestEnv(t)
	env.writeConfig("p", map[string]any{"lease_renewable": false})
	env.readToken("p")
	env.b.cache.cancelRefresh(env.b.cache.lookup("p")) // no refresh ahead: the read must replace the token itself
	env.clock.Advance(55*time.Minute - 1900*time.Millisecond)
	resp := env.readToken("p")
	if resp.Data["access_token"] != env.partner.token(2) || resp.Secret.TTL < time.Minute {
		t.Fatalf("with 1.9 s of lease left got %v for %s, want a new token", resp.Data["access_token"], resp.Secret.TTL)
	}
}

func TestARenewableLeaseTTLLeavesTheFirstRenewalItsWholeTTL(t *testing.T) {
	env := newTestEnv(t)
	env.writeConfig("p", nil)
	env.readToken("p")
	env.b.cache.cancelRefresh(env.b.cache.lookup("p")) // no refresh ahead: the old token is still current
	env.clock.Advance(55*time.Minute - 5*time.Second)
	resp := env.readToken("p")
	if resp.Data["access_token"] != env.partner.token(1) || resp.Secret.MaxTTL != 5*time.Second || resp.Secret.TTL != 4*time.Second {
		t.Fatalf("%v: lease TTL %s, max TTL %s; want token-1, 4s, 5s", resp.Data["access_token"], resp.Secret.TTL, resp.Secret.MaxTTL)
	}
}

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
	if got := counterValue(t, env.b.metrics.leasesIssued.WithLabelValues("p", "oauth2")); got != 0 {
		t.Errorf("lease_mode=none counted %v leases issued", got)
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

// TestTheTTLFloorIsTheShortestCapACachedReadIsServedUnder: a config
// stored with ttl=1s (before writes refused it) fails every cached read;
// at the 2s floor a write accepts, cached reads are served.
func TestTheTTLFloorIsTheShortestCapACachedReadIsServedUnder(t *testing.T) {
	for _, tt := range []struct {
		ttl      time.Duration
		serves   bool
		storedAs string
	}{
		{time.Second, false, "stored before the floor"},
		{minServedLease, true, "written"},
	} {
		t.Run(tt.ttl.String(), func(t *testing.T) {
			env := newTestEnv(t)
			env.writeConfig("p", map[string]any{"ttl": minServedLease.String()})
			if tt.ttl < minServedLease {
				cfg := env.storedConfig("p")
				cfg.TTL = tt.ttl
				if err := writeConfig(t.Context(), env.storage, "p", cfg); err != nil {
					t.Fatal(err)
				}
				env.b.cache.drop("p")
			}
			if resp := env.readToken("p"); resp.Secret.MaxTTL != tt.ttl {
				t.Fatalf("the minting read got a %s lease, want the %s cap", resp.Secret.MaxTTL, tt.ttl)
			}
			_, err := env.request(logical.ReadOperation, "token/p", nil)
			if served := err == nil; served != tt.serves {
				t.Fatalf("ttl %s (%s): a cached read returned %v, want served %v", tt.ttl, tt.storedAs, err, tt.serves)
			}
			if err != nil && !strings.Contains(err.Error(), "too short to lease") {
				t.Fatalf("the cached read failed with %v, want too short to lease", err)
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
