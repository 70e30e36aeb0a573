package backend

import (
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/vault/sdk/logical"

	"github.com/partnertoken/vault-plugin-secrets-partnertoken/internal/partnersim"
)

// TestEveryPartnerThroughTheEngine mints, caches and leases a token of each
// partner against the strict simulator, with the engine's and the
// simulator's clocks in step.
func TestEveryPartnerThroughTheEngine(t *testing.T) {
	for _, partner := range partnersim.Partners() {
		t.Run(partner, func(t *testing.T) {
			env := newTestEnv(t)
			sim := startSimulator(t, partnersim.Options{Now: env.clock.Now})
			const lifetime = 30 * time.Minute
			sim.SetLifetime(partner, lifetime)
			env.mustOK(logical.CreateOperation, "config/"+partner, simConfig(sim, partner, ""))
			first := env.readToken(partner)
			// DUPR's expiry is absolute and Date has whole seconds: the
			// engine counts the second Date may have truncated against
			// the token (provider.serverExpiry).
			var dateLoss time.Duration
			if partner == partnersim.DUPR {
				dateLoss = time.Second
			}
			wantExpiry := env.clock.Now().Add(lifetime - dateLoss).UTC().Format(time.RFC3339)
			if first.Data["expires_at"] != wantExpiry {
				t.Fatalf("expires_at = %v, want %s", first.Data["expires_at"], wantExpiry)
			}
			if first.Data["token_type"] != "Bearer" {
				t.Fatalf("token_type = %v", first.Data["token_type"])
			}
			if want := lifetime - 3*time.Minute - dateLoss; !first.Secret.Renewable || first.Secret.MaxTTL != want {
				t.Fatalf("lease: renewable %v, max TTL %s; want renewable, %s", first.Secret.Renewable, first.Secret.MaxTTL, want)
			}
			if active, _ := sim.Introspect(partner, first.Data["access_token"].(string)); !active {
				t.Fatal("the partner does not know the token")
			}

			env.clock.Advance(time.Minute)
			second := env.readToken(partner)
			if second.Data["access_token"] != first.Data["access_token"] || sim.Mints(partner) != 1 {
				t.Fatalf("second read was not served from the cache (%d mints)", sim.Mints(partner))
			}
			if want := lifetime - 4*time.Minute - dateLoss; second.Secret.MaxTTL != want {
				t.Fatalf("second lease TTL %s, want %s", second.Secret.MaxTTL, want)
			}
		})
	}
}

// TestPartnerRefusalsNameThePartner checks that each partner's own refusal
// reaches the reader with its status and message, without the secret.
func TestPartnerRefusalsNameThePartner(t *testing.T) {
	for _, partner := range partnersim.Partners() {
		t.Run(partner, func(t *testing.T) {
			env := newTestEnv(t)
			sim := startSimulator(t, partnersim.Options{Now: env.clock.Now})
			const wrongSecret = "definitely-the-wrong-secret"
			env.mustOK(logical.CreateOperation, "config/"+partner, simConfig(sim, partner, wrongSecret))
			_, err := env.request(logical.ReadOperation, "token/"+partner, nil)
			if err == nil {
				t.Fatal("a wrong secret minted a token")
			}
			spec := env.b.providers[partner].Spec()
			for _, want := range []string{spec.DisplayName, "answered HTTP 4"} {
				if !contains(err.Error(), want) {
					t.Errorf("error %q does not mention %q", err, want)
				}
			}
			if contains(err.Error(), wrongSecret) {
				t.Fatalf("error echoes the secret: %v", err)
			}
			if sim.Mints(partner) != 0 {
				t.Fatal("simulator minted for a wrong secret")
			}
		})
	}
}

var contains = strings.Contains
