package backend

import (
	"errors"
	"math"
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

// TestAMarginOverHalfTheLifetimeIsCutAndSaidSo: expiry_margin cannot be
// refused when written (the lifetime comes with the token), so the cut is
// said where the token is known: a verify=true write and status/<name>.
func TestAMarginOverHalfTheLifetimeIsCutAndSaidSo(t *testing.T) {
	env := newTestEnv(t)
	env.partner.setLifetime(20 * time.Second)
	const cut = "expiry_margin (1m0s) is more than half the token's lifetime (20s): leases on it end 10s before it expires"
	written := env.mustOK(logical.CreateOperation, "config/p", map[string]any{
		"provider": "oauth2", "token_url": env.partner.URL(), "client_id": testClientID, "client_secret": testClientSecret,
		"expiry_margin": "1m", "verify": true,
	})
	if len(written.Warnings) != 1 || !strings.Contains(written.Warnings[0], cut) {
		t.Errorf("the verified write warned %q, want %q", written.Warnings, cut)
	}
	if got := env.readToken("p").Secret.MaxTTL; got != 10*time.Second {
		t.Errorf("lease %s, want 10s: the margin cut to half the lifetime", got)
	}
	status := env.mustOK(logical.ReadOperation, "status/p", nil)
	if len(status.Warnings) != 1 || !strings.Contains(status.Warnings[0], cut) {
		t.Errorf("status warned %q, want %q", status.Warnings, cut)
	}

	env.mustOK(logical.UpdateOperation, "config/p", map[string]any{"expiry_margin": "10s", "verify": true})
	if status := env.mustOK(logical.ReadOperation, "status/p", nil); len(status.Warnings) != 0 {
		t.Errorf("a margin of half the lifetime warned %q", status.Warnings)
	}
}

// TestOutageToleranceAfterTheRefreshPoint: a partner outage that begins at
// the refresh point goes unnoticed by readers until the last instant a
// cached token is served (its safe end less minServedLease); after it,
// reads mint and fail. The figures docs/reading-tokens.md quotes, from the
// rules alone: an hour-long token has a 5m margin (10% capped), refreshes at
// 48m and is served until 55m; a 15-minute one has a 90s margin, refreshes
// at 12m and is served until 13m30s; a lower refresh_fraction buys more.
func TestOutageToleranceAfterTheRefreshPoint(t *testing.T) {
	tests := []struct {
		name     string
		life     time.Duration
		fraction float64
		refresh  time.Duration // after the mint
		served   time.Duration // after the refresh point
	}{
		{"an hour-long token with the defaults", time.Hour, defaultRefreshFraction, 48 * time.Minute, 7*time.Minute - minServedLease},
		{"a 15-minute token with the defaults", 15 * time.Minute, defaultRefreshFraction, 12 * time.Minute, 90*time.Second - minServedLease},
		{"an hour-long token with refresh_fraction 0.5", time.Hour, 0.5, 30 * time.Minute, 25*time.Minute - minServedLease},
		{"a 15-minute token with refresh_fraction 0.5", 15 * time.Minute, 0.5, 7*time.Minute + 30*time.Second, 6*time.Minute - minServedLease},
	}
	issued := time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := &Config{RefreshFraction: tt.fraction}
			tok := &storedToken{IssuedAt: issued, ExpiresAt: issued.Add(tt.life)}
			refresh := cfg.refreshAt(tok, 0)
			if got := refresh.Sub(issued); got != tt.refresh {
				t.Fatalf("refresh %s after the mint, want %s", got, tt.refresh)
			}
			last := refresh.Add(tt.served)
			if !cfg.servable(tok, last, 0) || cfg.servable(tok, last.Add(time.Millisecond), 0) {
				t.Fatalf("served until %s after the refresh point, want until exactly %s", cfg.leaseEnd(tok).Add(-minServedLease).Sub(refresh), tt.served)
			}
		})
	}
}

func TestLeaseNeverOutlivesTheTokenSafeEnd(t *testing.T) {
	env := newTestEnv(t)
	env.writeConfig("p", nil)
	cfg := env.storedConfig("p")
	issued := env.clock.Now()
	for _, life := range []time.Duration{2 * time.Second, 3 * time.Second, 30 * time.Second, time.Hour} {
		tok := &storedToken{IssuedAt: issued, ExpiresAt: issued.Add(life)}
		for _, jitter := range []float64{0, 0.3, 0.999} {
			for _, guard := range []time.Duration{0, 700 * time.Millisecond, 4 * time.Second} {
				for at := issued; at.Before(tok.ExpiresAt); at = at.Add(life / 37) {
					ttl := cfg.leaseTTL(tok, at, guard, 0, jitter)
					if ttl >= minLease && at.Add(ttl).Add(guard).After(cfg.leaseEnd(tok)) {
						t.Fatalf("life %s, jitter %.3f, guard %s, at +%s: a %s lease ends after the safe end less the guard",
							life, jitter, guard, at.Sub(issued), ttl)
					}
					if servable := cfg.servable(tok, at, guard); servable != (ttl >= minServedLease) {
						t.Fatalf("life %s, jitter %.3f, guard %s, at +%s: servable %v but the lease is %s",
							life, jitter, guard, at.Sub(issued), servable, ttl)
					}
				}
			}
		}
	}
}

func TestJitterSpreadsLeaseEndsOverHalfTheMargin(t *testing.T) {
	env := newTestEnv(t)
	env.writeConfig("p", nil)
	cfg := env.storedConfig("p")
	now := env.clock.Now()
	tok := &storedToken{IssuedAt: now, ExpiresAt: now.Add(time.Hour)} // margin 5m, safe end 55m
	tests := []struct {
		jitter float64
		want   time.Duration
	}{
		{0, 55 * time.Minute},
		{0.5, 55*time.Minute - 75*time.Second},
		// The jitter leaves the last second of the 2m30s slack to the
		// truncation to whole seconds.
		{0.999, 52*time.Minute + 31*time.Second},
	}
	for _, tt := range tests {
		if got := cfg.leaseTTL(tok, now, 0, 0, tt.jitter); got != tt.want {
			t.Errorf("jitter %.3f: lease %s, want %s", tt.jitter, got, tt.want)
		}
	}
	// A lease that is already short keeps its second.
	late := now.Add(55*time.Minute - 1500*time.Millisecond)
	if got := cfg.leaseTTL(tok, late, 0, 0, 0.999); got != time.Second {
		t.Errorf("1.5 s before the safe end, jitter 0.999: lease %s, want 1s", got)
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
	if got := w.recent(start.Add(30 * time.Second)); got != 3*time.Second {
		t.Fatalf("recent = %s, want the 3s peak", got)
	}
	if got := w.recent(start.Add(delayWindow + time.Second)); got != 3*time.Second {
		t.Fatalf("a window later: recent = %s, want the 3s peak of the previous window", got)
	}
	if got := w.recent(start.Add(2*delayWindow + time.Second)); got != 0 {
		t.Fatalf("two windows later: recent = %s, want 0", got)
	}
	w.observe(start.Add(3*delayWindow), time.Hour)
	if got := w.recent(start.Add(3 * delayWindow)); got != maxDelayGuard {
		t.Fatalf("an hour-long stall: recent = %s, want the %s cap", got, maxDelayGuard)
	}
}

// TestRenewableHoldersReadAgainOnlyAfterTheRefresh: Vault Proxy and Agent
// let a renewable lease go once a renewal returns less than 0.8 of its
// period (api.LifetimeWatcher); that must come after the refresh ahead
// replaced the token, for one read per token lifetime, and before the
// lease's end.
func TestRenewableHoldersReadAgainOnlyAfterTheRefresh(t *testing.T) {
	env := newTestEnv(t)
	env.writeConfig("p", nil)
	cfg := env.storedConfig("p")
	issued := env.clock.Now()
	// The largest jitter leaseTTL can draw.
	mostJitter := math.Nextafter(1, 0)
	for _, life := range []time.Duration{29 * time.Second, 100 * time.Second, 30 * time.Minute, time.Hour, 24 * time.Hour} {
		tok := &storedToken{IssuedAt: issued, ExpiresAt: issued.Add(life)}
		for _, guard := range []time.Duration{0, 3 * time.Second} {
			period := cfg.renewalPeriod(tok, guard)
			refresh := cfg.refreshAt(tok, guard).Sub(issued)
			if period < minLease {
				t.Errorf("life %s: period %s", life, period)
			}
			// Every read until the refresh, with the most jitter: the
			// lease it gets, truncated as leaseTTL truncates it, is let go
			// only after the refresh.
			for read := time.Duration(0); read < refresh; read += max(life/1000, time.Millisecond) {
				ttl := cfg.leaseTTL(tok, issued.Add(read), guard, 0, mostJitter)
				if letGo := read + ttl - time.Duration(0.8*float64(period)); letGo < refresh {
					t.Errorf("life %s, guard %s: a read at %s gets %s with period %s and is let go at %s, before the refresh at %s",
						life, guard, read, ttl, period, letGo, refresh)
					break
				}
			}
		}
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
