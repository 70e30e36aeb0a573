package backend

import (
	"math"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/vault/sdk/logical"
)

func TestRereadTTLEndsBeforeTheToken(t *testing.T) {
	env := newTestEnv(t)
	env.writeConfig("p", nil)
	cfg := env.storedConfig("p")
	issued := env.clock.Now()
	hour := &storedToken{IssuedAt: issued, ExpiresAt: issued.Add(time.Hour)}
	tests := []struct {
		name      string
		tok       *storedToken
		at        time.Duration
		allowance time.Duration
		want      time.Duration
	}{
		{"before the refresh ahead: until it", hour, 0, 0, 48 * time.Minute},
		{"past the refresh ahead: until the safe end", hour, 50 * time.Minute, 0, 5 * time.Minute},
		{"past the refresh ahead under load: until the safe end less the allowance", hour, 50 * time.Minute, 10 * time.Second, 4*time.Minute + 50*time.Second},
		{"never below a second", hour, 55*time.Minute - 1500*time.Millisecond, 0, time.Second},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			now := issued.Add(tt.at)
			got := cfg.rereadTTL(tt.tok, now, tt.allowance)
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

func TestLeaseNeverOutlivesTheTokenSafeEnd(t *testing.T) {
	env := newTestEnv(t)
	env.writeConfig("p", nil)
	cfg := env.storedConfig("p")
	issued := env.clock.Now()
	for _, life := range []time.Duration{2 * time.Second, 3 * time.Second, 30 * time.Second, time.Hour} {
		tok := &storedToken{IssuedAt: issued, ExpiresAt: issued.Add(life)}
		for _, jitter := range []float64{0, 0.3, 0.999} {
			for _, allowance := range []time.Duration{0, 700 * time.Millisecond, 4 * time.Second} {
				for at := issued; at.Before(tok.ExpiresAt); at = at.Add(life / 37) {
					ttl := cfg.leaseTTL(tok, at, allowance, 0, jitter)
					if ttl >= minLease && at.Add(ttl).Add(allowance).After(cfg.leaseEnd(tok)) {
						t.Fatalf("life %s, jitter %.3f, allowance %s, at +%s: a %s lease ends after the safe end less the allowance",
							life, jitter, allowance, at.Sub(issued), ttl)
					}
					if servable := cfg.servable(tok, at, allowance); servable != (ttl >= minServedLease) {
						t.Fatalf("life %s, jitter %.3f, allowance %s, at +%s: servable %v but the lease is %s",
							life, jitter, allowance, at.Sub(issued), servable, ttl)
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
		for _, allowance := range []time.Duration{0, 3 * time.Second} {
			period := cfg.renewalPeriod(tok, allowance)
			refresh := cfg.refreshAt(tok, allowance).Sub(issued)
			if period < minLease {
				t.Errorf("life %s: period %s", life, period)
			}
			// Every read until the refresh, with the most jitter: the
			// lease it gets, truncated as leaseTTL truncates it, is let go
			// only after the refresh.
			for read := time.Duration(0); read < refresh; read += max(life/1000, time.Millisecond) {
				ttl := cfg.leaseTTL(tok, issued.Add(read), allowance, 0, mostJitter)
				if letGo := read + ttl - time.Duration(0.8*float64(period)); letGo < refresh {
					t.Errorf("life %s, allowance %s: a read at %s gets %s with period %s and is let go at %s, before the refresh at %s",
						life, allowance, read, ttl, period, letGo, refresh)
					break
				}
			}
		}
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
