package backend

import (
	"fmt"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/vault/sdk/logical"

	"github.com/partnertoken/vault-plugin-secrets-partnertoken/internal/partnersim"
	"github.com/partnertoken/vault-plugin-secrets-partnertoken/internal/provider"
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

// TestPoderoSecretWithFormCharactersMintsThroughTheEngine configures a
// Podero secret holding + / % : and reads its token against the simulator,
// which decodes the Basic pair as django-oauth-toolkit does.
func TestPoderoSecretWithFormCharactersMintsThroughTheEngine(t *testing.T) {
	env := newTestEnv(t)
	sim := startSimulator(t, partnersim.Options{Now: env.clock.Now})
	client := partnersim.Client{ID: "podero-client", Secret: "s3+cr/et%20:with-colon"}
	if err := sim.SetClient(partnersim.Podero, client); err != nil {
		t.Fatal(err)
	}
	env.mustOK(logical.CreateOperation, "config/podero", map[string]any{
		"provider": "podero", "token_url": sim.TokenURL(partnersim.Podero), "client_id": client.ID, "client_secret": client.Secret,
	})
	tok := env.readToken("podero")
	if active, _ := sim.Introspect(partnersim.Podero, tok.Data["access_token"].(string)); !active {
		t.Fatal("the partner does not know the token")
	}
}

// TestDUPRExpirySourcesThroughTheEngine has the simulated DUPR answer with
// a Java serialiser's expiry and with none, and checks the expiry the
// engine derives and the source its mint log names.
func TestDUPRExpirySourcesThroughTheEngine(t *testing.T) {
	for _, tc := range []struct {
		layout, source string
	}{
		{partnersim.DUPRExpiryDocumented, "expiry"},
		{partnersim.DUPRExpiryJackson, "expiry"},
		{partnersim.DUPRNoExpiry, "jwt_exp"},
	} {
		t.Run(tc.layout, func(t *testing.T) {
			env := newTestEnv(t)
			sim := startSimulator(t, partnersim.Options{Now: env.clock.Now, DUPRExpiryLayout: tc.layout})
			const lifetime = 40 * time.Minute
			if err := sim.SetLifetime(partnersim.DUPR, lifetime); err != nil {
				t.Fatal(err)
			}
			env.mustOK(logical.CreateOperation, "config/dupr", simConfig(sim, partnersim.DUPR, ""))
			tok := env.readToken("dupr")
			// An expiry counted against Date loses the second Date may
			// have truncated (provider.serverExpiry).
			var dateLoss time.Duration
			if tc.source == "expiry" {
				dateLoss = time.Second
			}
			if want := env.clock.Now().Add(lifetime - dateLoss).UTC().Format(time.RFC3339); tok.Data["expires_at"] != want {
				t.Errorf("expires_at = %v, want %s", tok.Data["expires_at"], want)
			}
			if want := "expiry_source=" + tc.source; !strings.Contains(env.logs.String(), want) {
				t.Errorf("the mint log does not say %s:\n%s", want, env.logs.String())
			}
		})
	}
}

func TestConcurrentColdReadsMintOnce(t *testing.T) {
	env := newTestEnv(t)
	env.writeConfig("p", nil)
	arrived, release := env.partner.hold()

	const readers = 1000
	var wg sync.WaitGroup
	tokens := make([]any, readers)
	errs := make([]error, readers)
	for i := range readers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			resp, err := env.request(logical.ReadOperation, "token/p", nil)
			errs[i] = err
			if err == nil {
				tokens[i] = resp.Data["access_token"]
			}
		}()
	}
	<-arrived
	release()
	wg.Wait()
	for i := range readers {
		if errs[i] != nil || tokens[i] != env.partner.token(1) {
			t.Fatalf("reader %d: token %v, error %v", i, tokens[i], errs[i])
		}
	}
	if n := env.partner.mints(); n != 1 {
		t.Fatalf("%d concurrent cold reads caused %d mints, want 1", readers, n)
	}
}

func TestTokenMintedDuringAConfigRewriteIsDiscarded(t *testing.T) {
	env := newTestEnv(t)
	env.writeConfig("p", nil)
	arrived, release := env.partner.hold()
	result := make(chan *logical.Response)
	go func() {
		resp, err := env.request(logical.ReadOperation, "token/p", nil)
		if err != nil {
			t.Error(err)
		}
		result <- resp
	}()
	<-arrived
	// The operator replaces the client, which the partner issued, while
	// the partner is answering.
	env.partner.acceptClient("new-client")
	env.mustOK(logical.UpdateOperation, "config/p", map[string]any{"client_id": "new-client"})
	release()
	resp := <-result
	if got := env.partner.seenClientIDs(); len(got) != 2 || got[1] != "new-client" {
		t.Fatalf("partner saw clients %v, want the old one then the new one", got)
	}
	if resp.Data["access_token"] != env.partner.token(2) {
		t.Fatalf("reader got %v, minted with the replaced credentials", resp.Data["access_token"])
	}
	if again := env.readToken("p"); again.Data["access_token"] != env.partner.token(2) {
		t.Fatalf("cache holds %v", again.Data["access_token"])
	}
	// The first read looked twice, before and after the rewrite: it counts
	// once, as a miss; the second as a hit.
	misses := counterValue(t, env.b.metrics.cacheMisses.WithLabelValues("p", "oauth2"))
	hits := counterValue(t, env.b.metrics.cacheHits.WithLabelValues("p", "oauth2"))
	if misses != 1 || hits != 1 {
		t.Fatalf("two reads counted %v misses and %v hits, want 1 and 1", misses, hits)
	}
}

// TestDOKUsLongestValidTimeMintsThroughTheEngine asks the simulated DOKU
// for the longest valid_time the engine accepts: the simulator grants it
// (it refuses from the same line) and the engine believes the token.
func TestDOKUsLongestValidTimeMintsThroughTheEngine(t *testing.T) {
	env := newTestEnvAt(t, time.Now())
	sim := startSimulator(t, partnersim.Options{})
	cfg := simConfig(sim, partnersim.DOKU, "")
	cfg["valid_time"] = strconv.Itoa(provider.DOKUMaxValidTime)
	env.mustOK(logical.CreateOperation, "config/doku", cfg)
	env.readToken("doku")
	if want := "lifetime=" + (time.Duration(provider.DOKUMaxValidTime) * time.Minute).String(); !strings.Contains(env.logs.String(), want) {
		t.Errorf("the mint log does not say %s:\n%s", want, env.logs.String())
	}

	cfg["valid_time"] = strconv.Itoa(provider.DOKUMaxValidTime + 1)
	resp, err := env.request(logical.UpdateOperation, "config/doku", cfg)
	want := fmt.Sprintf("valid_time: must be at most %d minutes (366 days)", provider.DOKUMaxValidTime)
	if err != nil || resp == nil || !resp.IsError() || !strings.Contains(resp.Error().Error(), want) {
		t.Fatalf("a valid_time past the line: %v, %v; want a 400 saying %s", resp, err, want)
	}
}
