package backend

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/vault/sdk/logical"
)

// TestCleanupWaitsForMintsAndClosesConnections: a mint whose reader gave
// up still runs; cleanup waits for it (cancelled with the mount) and
// closes the pooled connections to partners.
func TestCleanupWaitsForMintsAndClosesConnections(t *testing.T) {
	env := newTestEnv(t)
	var mu sync.Mutex
	closed := make(chan struct{})
	open := 0
	srv := httptest.NewUnstartedServer(env.partner.sim)
	srv.Config.ConnState = func(_ net.Conn, state http.ConnState) {
		mu.Lock()
		defer mu.Unlock()
		switch state {
		case http.StateNew:
			open++
		case http.StateClosed, http.StateHijacked:
			if open--; open == 0 {
				close(closed)
			}
		}
	}
	srv.Start()
	t.Cleanup(srv.Close)
	env.writeConfig("idle", map[string]any{"token_url": srv.URL + strings.TrimPrefix(env.partner.URL(), env.partner.sim.URL())})
	env.readToken("idle") // leaves an idle pooled connection

	env.writeConfig("p", nil)
	arrived, release := env.partner.hold()
	defer release()
	ctx, cancel := context.WithCancel(t.Context())
	go env.b.HandleRequest(ctx, &logical.Request{Operation: logical.ReadOperation, Path: "token/p", Storage: env.storage, MountPoint: "partner/"})
	<-arrived
	cancel() // the reader leaves; its mint goes on

	env.b.Cleanup(t.Context())
	if !strings.Contains(env.logs.String(), "mint failed") {
		t.Fatal("cleanup returned while a mint was still in flight")
	}
	within(t, "closing the idle connection to the partner", closed)
	if _, err := env.b.cache.verify(t.Context(), "p", &Config{Provider: "oauth2", Timeout: time.Second}); !errors.Is(err, errStopping) {
		t.Fatalf("a mint after cleanup: %v", err)
	}
}

func TestInvalidateDropsMemory(t *testing.T) {
	env := newTestEnv(t)
	env.writeConfig("p", nil)
	env.readToken("p")
	// Another node rewrote the config: storage changed under this node.
	cfg, _ := readConfig(t.Context(), env.storage, "p")
	cfg.ID = "rewritten-elsewhere"
	if err := writeConfig(t.Context(), env.storage, "p", cfg); err != nil {
		t.Fatal(err)
	}
	env.b.Invalidate(context.Background(), configPrefix+"p")
	if tok := env.readToken("p").Data["access_token"]; tok != env.partner.token(2) {
		t.Fatalf("after invalidation got %v, want a token for the new config", tok)
	}
}

func TestANewBackendOnTheSameStorageReusesTheToken(t *testing.T) {
	env := newTestEnv(t)
	env.writeConfig("p", nil)
	first := env.readToken("p")
	reloaded := env.newBackend()
	resp, err := env.requestTo(reloaded, logical.ReadOperation, "token/p", nil)
	if err != nil {
		t.Fatal(err)
	}
	if resp.Data["access_token"] != first.Data["access_token"] || env.partner.mints() != 1 {
		t.Fatal("a reloaded backend minted again")
	}
}

// An entry loaded from storage while an invalidation arrives may hold what
// the write replaced: it serves the read that loaded it, and is not kept.
func TestInvalidationDuringALoadKeepsTheEntryOutOfMemory(t *testing.T) {
	env := newTestEnv(t)
	env.writeConfig("p", nil)
	c := env.b.cache
	c.mu.RLock()
	seen := c.invalidations
	c.mu.RUnlock()
	c.invalidate("p")
	c.installLoaded(&cacheEntry{name: "p", config: env.storedConfig("p")}, seen)
	if e := c.lookup("p"); e != nil {
		t.Fatalf("an entry loaded across an invalidation was installed")
	}
	c.mu.RLock()
	seen = c.invalidations
	c.mu.RUnlock()
	c.installLoaded(&cacheEntry{name: "p", config: env.storedConfig("p")}, seen)
	if e := c.lookup("p"); e == nil {
		t.Fatalf("an entry loaded with no invalidation meanwhile was not installed")
	}
}
