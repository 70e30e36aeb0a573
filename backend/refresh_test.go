package backend

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/vault/sdk/logical"
)

// With 100s tokens the lease margin is 10s and the refresh runs at 80% of
// the lifetime.
const (
	testLifetime  = 100 * time.Second
	testRefreshAt = 80 * time.Second
)

func newRefreshEnv(t *testing.T) *testEnv {
	env := newTestEnv(t)
	env.partner.setLifetime(testLifetime)
	env.writeConfig("p", nil)
	return env
}

func TestRefreshAheadReplacesATokenInUseBeforeItExpires(t *testing.T) {
	env := newRefreshEnv(t)
	env.readToken("p")

	env.clock.Advance(testRefreshAt - time.Second)
	if got := env.readToken("p").Data["access_token"]; got != env.partner.token(1) || env.partner.mints() != 1 {
		t.Fatalf("refreshed before the refresh time: %v", got)
	}
	env.clock.Advance(time.Second)
	env.waitRefresh(2)

	resp := env.readToken("p")
	if resp.Data["access_token"] != env.partner.token(2) {
		t.Fatalf("after the refresh got %v", resp.Data["access_token"])
	}
	if resp.Secret.MaxTTL != 90*time.Second {
		t.Fatalf("lease on the new token = %s, want a full 90s", resp.Secret.MaxTTL)
	}
}

func TestRefreshAheadLeavesIdleConfigsAlone(t *testing.T) {
	env := newRefreshEnv(t)
	env.readToken("p")
	env.clock.Advance(testRefreshAt)
	env.waitRefresh(2)

	// token-2 was never read: nobody uses this config any more.
	env.clock.Advance(testLifetime)
	if err := env.b.periodicFunc(t.Context(), &logical.Request{Storage: env.storage}); err != nil {
		t.Fatal(err)
	}
	if n := env.partner.mints(); n != 2 {
		t.Fatalf("an idle config caused %d mints, want 2", n)
	}
}

func TestPeriodicFuncRefreshesDueTokensAfterAReload(t *testing.T) {
	env := newRefreshEnv(t)
	env.readToken("p")
	// A new backend (plugin reload) loads the token from storage and has
	// no timer until the token is read.
	reloaded := env.newBackend()
	env.b.Cleanup(t.Context())
	env.b = reloaded
	env.readToken("p")
	env.clock.Advance(testRefreshAt)
	if err := env.b.periodicFunc(t.Context(), &logical.Request{Storage: env.storage}); err != nil {
		t.Fatal(err)
	}
	env.waitRefresh(2)
	if got := env.readToken("p").Data["access_token"]; got != env.partner.token(2) {
		t.Fatalf("got %v after the periodic refresh", got)
	}
	if n := env.partner.mints(); n != 2 {
		t.Fatalf("timer and periodic function minted %d times, want 2 in all", n)
	}
}

// TestRefreshAheadAsksVaultBeforeThePartner: a plugin process whose Vault
// server died (an orphan of a killed HA node) keeps its refresh timers, but
// its storage calls fail; it must not mint a token it cannot store.
func TestRefreshAheadAsksVaultBeforeThePartner(t *testing.T) {
	env := newRefreshEnv(t)
	env.readToken("p")
	// A first refresh, so nothing is left to load from storage but the
	// config the refresh checks.
	env.clock.Advance(testRefreshAt)
	env.waitRefresh(2)
	env.readToken("p")

	env.storage.(*logical.InmemStorage).FailGet(true)
	env.clock.Advance(testRefreshAt)
	// The failed attempt is retried after a second.
	env.clock.BlockUntilContext(t.Context(), 1)
	if n := env.partner.mints(); n != 2 {
		t.Fatalf("a refresh with Vault's storage unreachable minted: %d mints, want 2", n)
	}
	if !strings.Contains(env.logs.String(), "refresh ahead failed; still serving the current token") {
		t.Fatalf("no warning about the failed refresh in the log:\n%s", env.logs.String())
	}
	env.storage.(*logical.InmemStorage).FailGet(false)
	env.clock.Advance(time.Second)
	env.waitRefresh(3)
	if got := env.readToken("p").Data["access_token"]; got != env.partner.token(3) {
		t.Fatalf("the retry did not replace the token: %v", got)
	}
}

func TestFailedRefreshKeepsServingTheValidToken(t *testing.T) {
	env := newRefreshEnv(t)
	// A refusal is not retried within the mint, and with refusal_backoff
	// 0 it is not remembered either: the refresh is retried on schedule.
	env.mustOK(logical.UpdateOperation, "config/p", map[string]any{"refusal_backoff": 0})
	env.readToken("p")
	env.partner.failNext(http.StatusForbidden)
	env.clock.Advance(testRefreshAt)
	// The failed attempt is retried after a second.
	env.clock.BlockUntilContext(t.Context(), 1)
	resp := env.readToken("p")
	if resp.Data["access_token"] != env.partner.token(1) || resp.Secret.MaxTTL != 10*time.Second {
		t.Fatalf("during the failed refresh got %v with TTL %s", resp.Data["access_token"], resp.Secret.MaxTTL)
	}
	env.clock.Advance(time.Second)
	env.waitRefresh(2)
	if got := env.readToken("p").Data["access_token"]; got != env.partner.token(2) {
		t.Fatalf("retry did not replace the token: %v", got)
	}
}

// TestADayOfReadsMintsAtMostThirtyHourLongTokens reads every 10 seconds for
// 24 simulated hours: refresh ahead at 80% of an hour is one mint per 48
// minutes.
func TestADayOfReadsMintsAtMostThirtyHourLongTokens(t *testing.T) {
	env := newTestEnv(t)
	env.writeConfig("p", nil)
	for elapsed := time.Duration(0); elapsed < 24*time.Hour; elapsed += 10 * time.Second {
		resp := env.readToken("p")
		if resp.Secret.MaxTTL < minLease {
			t.Fatalf("at %s a reader got a %s lease", elapsed, resp.Secret.MaxTTL)
		}
		// Background refreshes run on their own; a read that finds no
		// valid token joins or follows them without minting twice.
		env.clock.Advance(10 * time.Second)
	}
	if n := env.partner.mints(); n > 30 {
		t.Fatalf("24 hours of reads minted %d hour-long tokens, want at most 30", n)
	}
}

// TestBackgroundRefreshesAreSpreadOverTime lets six tokens of one partner
// fall due at once with refresh_rate 2: the partner sees a burst of two,
// then one every half second of the engine's clock.
func TestBackgroundRefreshesAreSpreadOverTime(t *testing.T) {
	env := newTestEnv(t)
	env.mustOK(logical.UpdateOperation, "settings", map[string]any{"refresh_rate": 2})
	const configs = 6
	for i := range configs {
		name := fmt.Sprintf("p%d", i)
		env.writeConfig(name, nil)
		env.readToken(name)
	}
	env.clock.Advance(48 * time.Minute) // every refresh timer fires
	env.partner.waitMint(configs + 2)
	for waiting := configs - 2; waiting > 0; waiting-- {
		// The others wait their turn on the engine's clock.
		if err := env.clock.BlockUntilContext(t.Context(), waiting); err != nil {
			t.Fatal(err)
		}
		if n := env.partner.mints(); n != 2*configs-waiting {
			t.Fatalf("with %d refreshes waiting their turn the partner minted %d tokens, want %d", waiting, n, 2*configs-waiting)
		}
		env.clock.Advance(500 * time.Millisecond)
		env.partner.waitMint(2*configs - waiting + 1)
	}
}

// TestBackgroundRefreshFollowsTheOutage: a token in use whose refresh
// ahead finds the partner down is served until its leases' end, while the
// background makes the outage's attempts on its schedule, one request
// each; reads of the cached token send none. Once it cannot be served, the
// first read after the next attempt is due makes it, and the others fail at
// once.
func TestBackgroundRefreshFollowsTheOutage(t *testing.T) {
	env := newOutageEnv(t)
	minted := env.clock.Now()
	first := env.readToken("p").Data["access_token"]
	env.partner.down()
	env.clock.Advance(48 * time.Minute) // refresh_fraction 0.8 of an hour
	sent := 2
	env.waitRequests(sent)
	for _, wait := range []time.Duration{1, 2, 4, 8, 16, 30, 30} {
		env.clock.Advance(wait * time.Second)
		sent++
		env.waitRequests(sent)
		if got := env.readToken("p").Data["access_token"]; got != first {
			t.Fatalf("%s after the mint a read got %v, want the cached token", env.clock.Since(minted), got)
		}
		if n := env.partner.requests(); n != sent {
			t.Fatalf("after %d attempts the partner saw %d requests, want %d: one per attempt, none from reads", sent-1, n, sent)
		}
	}
	// Every 30 s while the token can be served (its leases end at 55 min).
	for env.clock.Now().Add(30 * time.Second).Before(minted.Add(54 * time.Minute)) {
		env.clock.Advance(30 * time.Second)
		sent++
		env.waitRequests(sent)
	}
	env.clock.Advance(5 * time.Minute)
	env.settle()
	if n := env.partner.requests(); n != sent {
		t.Fatalf("the background kept asking once the token could not be served: %d requests, want %d", n, sent)
	}
	env.readFails("p") // the attempt is due: this read makes it
	env.readFails("p")
	if n := env.partner.requests(); n != sent+1 {
		t.Fatalf("two reads after the token's end sent %d requests, want one", n-sent)
	}
}
