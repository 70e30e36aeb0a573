package backend

import (
	"errors"
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/hashicorp/vault/sdk/logical"
)

// TestNextSecretStaysWithItsEndpoint moves a config with a pending
// next_client_secret to another endpoint that refuses the new secret: the
// other endpoint must never receive the stored next secret, by verify or by
// a read.
func TestNextSecretStaysWithItsEndpoint(t *testing.T) {
	const next = "next-secret-for-a-only"
	for _, verify := range []bool{true, false} {
		env := newTestEnv(t)
		other := newSimPartner(t, env.clock)
		other.acceptSecrets("something-else-entirely")
		env.writeConfig("p", map[string]any{"next_client_secret": next})

		resp, err := env.request(logical.UpdateOperation, "config/p", map[string]any{
			"token_url": other.URL(), "client_secret": "new-secret-for-b", "verify": verify,
		})
		if err != nil {
			t.Fatal(err)
		}
		if verify != (resp != nil && resp.IsError()) {
			t.Fatalf("verify=%v: response %v", verify, resp)
		}
		if !verify {
			if data := env.mustOK(logical.ReadOperation, "config/p", nil).Data; data["next_client_secret_set"] != false {
				t.Fatal("the next secret survived the move to another endpoint")
			}
			if resp, err := env.request(logical.ReadOperation, "token/p", nil); err == nil && !resp.IsError() {
				t.Fatal("the other endpoint gave a token for a secret it refuses")
			}
		}
		if got := other.presentedSecrets(); len(got) == 0 || slices.Contains(got, next) {
			t.Fatalf("verify=%v: the other endpoint received %d secrets, the stored next secret among them: %v", verify, len(got), slices.Contains(got, next))
		}
	}
}

// TestNextSecretCanMoveWithItsEndpoint: a write that moves the config and
// supplies a next secret keeps that one, and an unrelated write keeps the
// stored one.
func TestNextSecretCanMoveWithItsEndpoint(t *testing.T) {
	env := newTestEnv(t)
	other := newSimPartner(t, env.clock)
	env.writeConfig("p", map[string]any{"next_client_secret": "next-secret-for-a"})
	env.mustOK(logical.UpdateOperation, "config/p", map[string]any{"ttl": "5m"})
	if cfg, _ := readConfig(t.Context(), env.storage, "p"); cfg.NextClientSecret != "next-secret-for-a" {
		t.Fatal("a write that did not move the config dropped the next secret")
	}
	env.mustOK(logical.UpdateOperation, "config/p", map[string]any{
		"token_url": other.URL(), "client_secret": "wrong-for-b-123", "next_client_secret": testClientSecret,
	})
	if cfg, _ := readConfig(t.Context(), env.storage, "p"); cfg.NextClientSecret != testClientSecret {
		t.Fatal("the next secret supplied with the move was dropped")
	}
	env.readToken("p") // b refuses the current secret and takes the next one
	if got := other.presentedSecrets(); !slices.Equal(got, []string{"wrong-for-b-123", testClientSecret}) {
		t.Fatalf("the other endpoint received %d secrets, want the two written for it", len(got))
	}
}

// TestAStaleMintNeverPromotesTwice drives the interleaving in which a forced
// refresh loaded the config's entry before another mint promoted the next
// secret, and mints from it once the promoted token is old enough to
// replace: the promotion is not repeated (which would store an empty
// secret), and a token minted with a secret the config no longer holds is
// not stored.
func TestAStaleMintNeverPromotesTwice(t *testing.T) {
	const next = "the-next-secret-42"
	env := newTestEnv(t)
	env.writeConfig("p", map[string]any{"next_client_secret": next})
	stale, err := env.b.cache.current(t.Context(), "p")
	if err != nil {
		t.Fatal(err)
	}
	// The partner retires the current secret; a read promotes the next.
	env.partner.acceptSecrets(next)
	env.readToken("p")
	if cfg := env.storedConfig("p"); cfg.ClientSecret != next || cfg.NextClientSecret != "" {
		t.Fatalf("the first mint did not promote the next secret: %+v", cfg)
	}
	promoted := env.storedConfig("p")
	env.clock.Advance(refreshMinInterval)
	always := func(*cacheEntry, time.Time) bool { return true }

	// The stale mint's current secret is refused and its next secret,
	// already promoted, mints: the token is stored, the config stays.
	e, err := env.b.cache.shareMint(t.Context(), stale, always)
	if err != nil {
		t.Fatalf("the stale mint with the promoted secret: %v", err)
	}
	if cfg := env.storedConfig("p"); !reflect.DeepEqual(cfg, promoted) {
		t.Fatalf("the stale mint changed the config: %+v, want %+v", cfg, promoted)
	}
	if e.token.AccessToken != env.partner.token(2) || e.config.ClientSecret != next {
		t.Fatalf("the stale mint's token was not committed with the promoted config: %+v", e.config)
	}
	env.readToken("p")

	// The partner takes the old secret again (a grace period): a stale
	// mint with it is thrown away, since the config no longer holds it.
	env.partner.acceptSecrets(next, testClientSecret)
	if _, err := env.b.cache.shareMint(t.Context(), stale, always); !errors.Is(err, errConfigChanged) {
		t.Fatalf("a token minted with a secret the config no longer holds: %v, want it discarded", err)
	}
	if cfg := env.storedConfig("p"); !reflect.DeepEqual(cfg, promoted) {
		t.Fatalf("the discarded mint changed the config: %+v", cfg)
	}
	if got := env.readToken("p").Data["access_token"]; got != env.partner.token(2) {
		t.Fatalf("the discarded token replaced the stored one: %v", got)
	}
}
