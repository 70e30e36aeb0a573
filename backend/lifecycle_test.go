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

// within fails the test unless done is closed within a generous real-time
// bound (a deadlock guard, not a timing assertion).
func within(t *testing.T, what string, done <-chan struct{}) {
	t.Helper()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatalf("%s did not finish", what)
	}
}

// TestVerifyDoesNotHoldTheNameLock: while verify=true waits for the
// partner, another request that takes the name's lock (a delete) is not
// held up; the verify then finds the config changed and stores nothing.
func TestVerifyDoesNotHoldTheNameLock(t *testing.T) {
	env := newTestEnv(t)
	env.writeConfig("p", nil)
	arrived, release := env.partner.hold()
	result := make(chan error, 1)
	go func() {
		_, err := env.request(logical.UpdateOperation, "config/p", map[string]any{"ttl": "5m", "verify": true})
		result <- err
	}()
	<-arrived
	deleted := make(chan struct{})
	go func() {
		env.mustOK(logical.DeleteOperation, "config/p", nil)
		close(deleted)
	}()
	within(t, "a delete while verify waited for the partner", deleted)
	release()
	var err error
	select {
	case err = <-result:
	case <-time.After(10 * time.Second):
		t.Fatal("the verify did not finish")
	}
	var coded logical.HTTPCodedError
	if !errors.As(err, &coded) || coded.Code() != http.StatusConflict || !strings.Contains(err.Error(), "rewritten or deleted while this write verified it") {
		t.Fatalf("verify after a concurrent delete: %v, want a 409", err)
	}
	if cfg, _ := readConfig(t.Context(), env.storage, "p"); cfg != nil {
		t.Fatal("the verify stored a config that was deleted meanwhile")
	}
}

// TestVerifyStopsWhenTheWriterGivesUp: verify runs under the request's
// context.
func TestVerifyStopsWhenTheWriterGivesUp(t *testing.T) {
	env := newTestEnv(t)
	arrived, release := env.partner.hold()
	defer release()
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan struct{})
	go func() {
		defer close(done)
		env.b.HandleRequest(ctx, &logical.Request{
			Operation: logical.CreateOperation, Path: "config/p", Storage: env.storage, MountPoint: "partner/",
			Data: map[string]any{"provider": "oauth2", "token_url": env.partner.URL(), "client_id": testClientID,
				"client_secret": testClientSecret, "verify": true, "timeout": "5m"},
		})
	}()
	<-arrived
	cancel()
	within(t, "a verify whose writer gave up", done)
	if cfg, _ := readConfig(t.Context(), env.storage, "p"); cfg != nil {
		t.Fatal("a cancelled verify stored the config")
	}
}

// lockProbe is an events sender that records whether the config's lock
// was held when an event was sent.
type lockProbe struct {
	b      func() *backend
	mu     sync.Mutex
	events int
	held   int
}

func (p *lockProbe) SendEvent(_ context.Context, _ logical.EventType, event *logical.EventData) error {
	name := event.GetMetadata().GetFields()["config"].GetStringValue()
	lock := p.b().cache.lock(name)
	p.mu.Lock()
	defer p.mu.Unlock()
	p.events++
	if !lock.TryLock() {
		p.held++
		return nil
	}
	lock.Unlock()
	return nil
}

func TestEventsAreSentOutsideTheNameLock(t *testing.T) {
	env := newTestEnv(t)
	var b *backend
	probe := &lockProbe{b: func() *backend { return b }}
	env.events = probe
	b = env.newBackend()
	env.b = b
	env.writeConfig("p", nil)
	env.readToken("p")
	env.clock.Advance(time.Minute)
	env.mustOK(logical.UpdateOperation, "refresh/p", nil)
	probe.mu.Lock()
	defer probe.mu.Unlock()
	if probe.events < 2 || probe.held != 0 {
		t.Fatalf("%d of %d events were sent while the name's lock was held", probe.held, probe.events)
	}
}

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
