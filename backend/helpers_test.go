package backend

import (
	"bytes"
	"context"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/vault/sdk/logical"
	"github.com/jonboulle/clockwork"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/partnertoken/vault-plugin-secrets-partnertoken/internal/partnersim"
)

// testAllowedHosts is the test mounts' allowed_token_url_hosts: the test
// partners and the simulator listen on loopback, which a mount refuses
// unless its settings allow it; the public names are the partners'
// documented endpoints and the example hosts of validation tests.
const testAllowedHosts = "127.0.0.1,*.example,*.com,*.br"

const (
	testClientID     = "test-client"
	testClientSecret = "test-secret-0123456789"
)

// testEnv is a backend on in-memory storage with a fake clock and the
// partner simulator's strict OAuth2 partner.
type testEnv struct {
	t       testing.TB
	b       *backend
	storage logical.Storage
	clock   *clockwork.FakeClock
	partner *simPartner
	system  *logical.StaticSystemView
	// logs captures everything the backend logs, for tests that check
	// nothing secret is ever written there.
	logs *syncBuffer
	// events, when set, receives the events of backends started afterwards.
	events logical.EventSender
}

type syncBuffer struct {
	mu      sync.Mutex
	buf     bytes.Buffer
	discard bool // benchmarks measure the engine, not the captured logs
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.discard {
		return len(p), nil
	}
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func newTestEnv(t testing.TB) *testEnv {
	t.Helper()
	return newTestEnvAt(t, time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC))
}

// newTestEnvAt starts the fake clock at start; time.Now() for tests whose
// partner checks timestamps against the real clock.
func newTestEnvAt(t testing.TB, start time.Time) *testEnv {
	t.Helper()
	clock := clockwork.NewFakeClockAt(start)
	partner := newSimPartner(t, clock)
	env := &testEnv{t: t, storage: &logical.InmemStorage{}, clock: clock, partner: partner, logs: &syncBuffer{}}
	env.system = &logical.StaticSystemView{
		DefaultLeaseTTLVal: 768 * time.Hour,
		MaxLeaseTTLVal:     768 * time.Hour,
		PluginEnvironment:  &logical.PluginEnvironment{VaultVersion: "1.21.0"},
	}
	env.b = env.newBackend()
	env.mustOK(logical.UpdateOperation, "settings", map[string]any{"allowed_token_url_hosts": testAllowedHosts})
	return env
}

// newBackend starts another backend on the same storage, as a plugin
// reload or a Vault restart does.
func (env *testEnv) newBackend() *backend {
	env.t.Helper()
	return env.newBackendWith(options{})
}

// newBackendWith starts another backend on the same storage with opts;
// what they leave unset is the test clock, retries at once and no jitter.
func (env *testEnv) newBackendWith(opts options) *backend {
	env.t.Helper()
	if opts.clock == nil {
		opts.clock = env.clock
	}
	if opts.retry == nil {
		opts.retry = &atOnce
	}
	if opts.jitter == nil {
		opts.jitter = noJitter
	}
	b := newBackend(opts)
	conf := logical.TestBackendConfig()
	conf.StorageView = env.storage
	conf.System = env.system
	conf.Logger = hclog.New(&hclog.LoggerOptions{Output: env.logs, Level: hclog.Trace})
	conf.EventsSender = env.events
	if err := b.attach(context.Background(), conf); err != nil {
		env.t.Fatal(err)
	}
	env.t.Cleanup(func() { b.Cleanup(context.Background()) })
	return b
}

func (env *testEnv) request(op logical.Operation, path string, data map[string]any) (*logical.Response, error) {
	return env.requestTo(env.b, op, path, data)
}

func (env *testEnv) requestTo(b *backend, op logical.Operation, path string, data map[string]any) (*logical.Response, error) {
	return b.HandleRequest(context.Background(), &logical.Request{
		Operation:  op,
		Path:       path,
		Data:       data,
		Storage:    env.storage,
		MountPoint: "partner/",
	})
}

// mustOK fails the test unless the request succeeded without an error response.
func (env *testEnv) mustOK(op logical.Operation, path string, data map[string]any) *logical.Response {
	env.t.Helper()
	resp, err := env.request(op, path, data)
	if err != nil {
		env.t.Fatalf("%s %s: %v", op, path, err)
	}
	if resp != nil && resp.IsError() {
		env.t.Fatalf("%s %s: %v", op, path, resp.Error())
	}
	return resp
}

// writeConfig stores an oauth2 config pointing at the test partner.
func (env *testEnv) writeConfig(name string, extra map[string]any) {
	env.t.Helper()
	data := map[string]any{
		"provider":      "oauth2",
		"token_url":     env.partner.URL(),
		"client_id":     testClientID,
		"client_secret": testClientSecret,
	}
	for k, v := range extra {
		data[k] = v
	}
	env.mustOK(logical.CreateOperation, "config/"+name, data)
}

// storedConfig is config name as the backend stored it.
func (env *testEnv) storedConfig(name string) *Config {
	env.t.Helper()
	cfg, err := readConfig(env.t.Context(), env.storage, name)
	if err != nil {
		env.t.Fatal(err)
	}
	return cfg
}

// startSimulator serves the strict partner simulator for the test.
func startSimulator(t testing.TB, opts partnersim.Options) *partnersim.Server {
	t.Helper()
	sim := partnersim.New(opts)
	if err := sim.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(sim.Close)
	return sim
}

// simConfig is the config of partner at sim, with the partner's demo client;
// a non-empty secret replaces the demo secret.
func simConfig(sim *partnersim.Server, partner, secret string) map[string]any {
	client := partnersim.DefaultClients()[partner]
	if secret == "" {
		secret = client.Secret
	}
	return map[string]any{
		"provider":      partner,
		"token_url":     sim.TokenURL(partner),
		"client_id":     client.ID,
		"client_secret": secret,
	}
}

func (env *testEnv) readToken(name string) *logical.Response {
	env.t.Helper()
	return env.mustOK(logical.ReadOperation, "token/"+name, nil)
}

// waitRefresh waits for background refresh number n to be minted and
// committed.
func (env *testEnv) waitRefresh(n int) {
	env.t.Helper()
	env.partner.waitMint(n)
	env.settle()
}

// settle waits for the mount's background work to end: shared mints and
// the events sent after them, background refreshes.
func (env *testEnv) settle() {
	env.b.cache.work.Wait()
}

// requestWaiting sends a request whose waits on the engine's clock (a
// partner's Retry-After, the back-off between attempts) pass at once: the
// fake clock moves on by step whenever something waits on it, until the
// request is answered.
func (env *testEnv) requestWaiting(step time.Duration, op logical.Operation, path string) (*logical.Response, error) {
	var resp *logical.Response
	var err error
	ctx, answered := context.WithCancel(context.Background())
	go func() {
		defer answered()
		resp, err = env.request(op, path, nil)
	}()
	for env.clock.BlockUntilContext(ctx, 1) == nil && ctx.Err() == nil {
		env.clock.Advance(step)
	}
	<-ctx.Done()
	return resp, err
}

// atOnce retries a failed attempt at once: the test partners answer on
// loopback, and only a wait the partner asks for is spent on the fake clock.
var atOnce = retryPolicy{}

// noJitter draws no jitter, so tests can expect exact lease TTLs.
func noJitter() float64 { return 0 }

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

func counterValue(t *testing.T, c prometheus.Counter) float64 {
	t.Helper()
	var out dto.Metric
	if err := c.Write(&out); err != nil {
		t.Fatal(err)
	}
	return out.GetCounter().GetValue()
}
