package backend

import (
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/vault/sdk/logical"
)

func TestTokenReadIsARenewableLeaseThatEndsBeforeTheToken(t *testing.T) {
	env := newTestEnv(t)
	env.writeConfig("p", map[string]any{"scopes": "read"})
	resp := env.readToken("p")
	if resp.Secret == nil {
		t.Fatal("token read returned no lease")
	}
	// Renewals extend it by 4m30s (from the refresh ahead at 48m to the
	// shortest lease's end at 52m30s) up to its end.
	if !resp.Secret.Renewable || resp.Secret.TTL != 4*time.Minute+30*time.Second {
		t.Fatalf("lease renewable %v, TTL %s; want renewable, a 4m30s renewal period", resp.Secret.Renewable, resp.Secret.TTL)
	}
	want := map[string]any{
		"access_token": env.partner.token(1),
		"token_type":   "Bearer",
		"expires_at":   env.clock.Now().Add(time.Hour).UTC().Format(time.RFC3339),
		"scope":        "read",
	}
	for k, v := range want {
		if resp.Data[k] != v {
			t.Errorf("%s = %v, want %v", k, resp.Data[k], v)
		}
	}
	// 1h token: the lease ends 10% (capped at 5m) before expiry.
	if resp.Secret.MaxTTL != 55*time.Minute {
		t.Fatalf("lease TTL = %s, want 55m", resp.Secret.MaxTTL)
	}
}

func TestTokenReadOfUnknownConfigSaysSo(t *testing.T) {
	env := newTestEnv(t)
	_, err := env.request(logical.ReadOperation, "token/nobody", nil)
	var coded logical.HTTPCodedError
	if !errors.As(err, &coded) || coded.Code() != http.StatusNotFound || !strings.Contains(err.Error(), `no config named "nobody"`) {
		t.Fatalf("got %v", err)
	}
}

func TestTokenCacheHitAndMiss(t *testing.T) {
	env := newTestEnv(t)
	env.writeConfig("p", nil)
	first := env.readToken("p")
	env.clock.Advance(10 * time.Minute)
	second := env.readToken("p")
	if n := env.partner.mints(); n != 1 {
		t.Fatalf("two reads minted %d tokens, want 1", n)
	}
	if first.Data["access_token"] != second.Data["access_token"] {
		t.Fatal("second read got another token")
	}
	if second.Secret.MaxTTL != 45*time.Minute {
		t.Fatalf("second lease TTL = %s, want the time left less the margin, 45m", second.Secret.MaxTTL)
	}
}

func TestLeaseTTLMapping(t *testing.T) {
	tests := []struct {
		name     string
		lifetime time.Duration
		config   map[string]any
		mountMax time.Duration
		want     time.Duration
	}{
		{"an hour-long token is leased until 5m before it expires", time.Hour, nil, 0, 55 * time.Minute},
		{"a 30s token keeps the 5s minimum margin", 30 * time.Second, nil, 0, 25 * time.Second},
		{"a 10h token keeps the 5m maximum margin", 10 * time.Hour, nil, 0, 10*time.Hour - 5*time.Minute},
		{"ttl caps the lease", time.Hour, map[string]any{"ttl": "10m"}, 0, 10 * time.Minute},
		{"max_ttl caps the lease", time.Hour, map[string]any{"max_ttl": "20m"}, 0, 20 * time.Minute},
		{"the mount's max_lease_ttl caps the lease", time.Hour, nil, 15 * time.Minute, 15 * time.Minute},
		{"expiry_margin replaces the automatic margin", time.Hour, map[string]any{"expiry_margin": "1m"}, 0, 59 * time.Minute},
		{"a margin over half the lifetime is halved", 20 * time.Second, map[string]any{"expiry_margin": "1m"}, 0, 10 * time.Second},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			env := newTestEnv(t)
			if tt.mountMax > 0 {
				env.system.MaxLeaseTTLVal = tt.mountMax
			}
			env.partner.setLifetime(tt.lifetime)
			env.writeConfig("p", tt.config)
			if got := env.readToken("p").Secret.MaxTTL; got != tt.want {
				t.Fatalf("lease TTL = %s, want %s", got, tt.want)
			}
		})
	}
}

func TestTokenWithoutAMeaningfulLeaseIsReplacedFirst(t *testing.T) {
	env := newTestEnv(t)
	env.writeConfig("p", nil)
	cfg := env.storedConfig("p")
	// A stored token whose leases would end in half a second: Vault would
	// turn its truncated TTL of 0 into a 32-day lease.
	now := env.clock.Now()
	if err := writeToken(t.Context(), env.storage, "p", &storedToken{
		AccessToken: "nearly-expired", TokenType: "Bearer", ConfigID: cfg.ID,
		IssuedAt: now.Add(-55 * time.Minute), ExpiresAt: now.Add(5*time.Minute + 500*time.Millisecond),
	}); err != nil {
		t.Fatal(err)
	}
	resp := env.readToken("p")
	if resp.Data["access_token"] != env.partner.token(1) || resp.Secret.MaxTTL < time.Minute {
		t.Fatalf("got %v with TTL %s, want a fresh token", resp.Data["access_token"], resp.Secret.MaxTTL)
	}
}
