package backend

import (
	"context"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hashicorp/vault/sdk/logical"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

func TestEventsCarryOnlyTheConfigAndProvider(t *testing.T) {
	env := newTestEnv(t)
	events := logical.NewMockEventSender()
	env.events = events
	env.b = env.newBackend()
	env.writeConfig("p", nil)
	env.readToken("p")
	env.settle() // events follow the answer
	env.partner.failNext(http.StatusUnauthorized)
	env.clock.Advance(time.Minute)
	env.request(logical.UpdateOperation, "refresh/p", nil)
	env.settle()

	events.Lock()
	defer events.Unlock()
	var types []string
	for _, e := range events.Events {
		types = append(types, string(e.Type))
		meta := e.Event.GetMetadata().AsMap()
		if meta["config"] != "p" || meta["provider"] != "oauth2" || len(meta) != 2 {
			t.Errorf("event %s metadata %v", e.Type, meta)
		}
	}
	if strings.Join(types, ",") != eventTokenMinted+","+eventCredentialsRefused {
		t.Fatalf("events %v", types)
	}
}

// unimplementedEvents answers like OpenBao, which has no events system.
type unimplementedEvents struct{ calls atomic.Int32 }

func (u *unimplementedEvents) SendEvent(context.Context, logical.EventType, *logical.EventData) error {
	u.calls.Add(1)
	return status.Error(codes.Unimplemented, "unknown service pb.Events")
}

func TestAServerWithoutEventsIsAskedOnce(t *testing.T) {
	env := newTestEnv(t)
	events := &unimplementedEvents{}
	env.events = events
	env.b = env.newBackend()
	env.writeConfig("p", nil)
	env.writeConfig("q", nil)
	env.readToken("p")
	env.settle() // events follow the answer
	env.readToken("q")
	env.settle()
	if n := events.calls.Load(); n != 1 {
		t.Fatalf("two mints on a server without events sent %d events, want 1 (then none)", n)
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
	env.settle() // events follow the answer
	probe.mu.Lock()
	defer probe.mu.Unlock()
	if probe.events < 2 || probe.held != 0 {
		t.Fatalf("%d of %d events were sent while the name's lock was held", probe.held, probe.events)
	}
}

// heldEvents holds every event until released, as a slow events system
// would, and says whether one got through.
type heldEvents struct {
	release chan struct{}
	through atomic.Bool
}

func (h *heldEvents) SendEvent(ctx context.Context, _ logical.EventType, _ *logical.EventData) error {
	defer h.through.Store(true)
	select {
	case <-h.release:
	case <-ctx.Done():
	}
	return nil
}

// TestReadersDoNotWaitForTheEventsSystem: the readers that shared a mint
// have their tokens while its token-minted event is still held up.
func TestReadersDoNotWaitForTheEventsSystem(t *testing.T) {
	env := newTestEnv(t)
	events := &heldEvents{release: make(chan struct{})}
	env.events = events
	env.b = env.newBackend()
	env.writeConfig("p", nil)
	arrived, release := env.partner.hold()
	const readers = 3
	answered := make(chan struct{}, readers)
	for range readers {
		go func() {
			if _, err := env.request(logical.ReadOperation, "token/p", nil); err != nil {
				t.Error(err)
			}
			answered <- struct{}{}
		}()
	}
	<-arrived
	release()
	for range readers {
		within(t, "a read of a token whose event is held up", answered)
	}
	if events.through.Load() {
		t.Fatal("the readers were answered only once the event was sent")
	}
	close(events.release)
}
