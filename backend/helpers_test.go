package backend

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/vault/sdk/logical"
	"github.com/jonboulle/clockwork"

	"github.com/partnertoken/vault-plugin-secrets-partnertoken/partnersim"
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

// testEnv is a backend on in-memory storage with a fake clock and a strict
// OAuth2 partner.
type testEnv struct {
	t       testing.TB
	b       *backend
	storage logical.Storage
	clock   *clockwork.FakeClock
	partner *testPartner
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
	partner := newTestPartner(t, clock)
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
	b := newBackend(Options{Clock: env.clock, Retry: &retryPolicy{initial: time.Millisecond, max: 10 * time.Millisecond}, Jitter: noJitter})
	conf := logical.TestBackendConfig()
	conf.StorageView = env.storage
	conf.System = env.system
	conf.Logger = hclog.New(&hclog.LoggerOptions{Output: env.logs, Level: hclog.Trace})
	conf.EventsSender = env.events
	if err := b.setup(context.Background(), conf); err != nil {
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

// testPartner is an OAuth2 token endpoint that checks every request as a
// strict partner would and counts the tokens it issues.
type testPartner struct {
	t      testing.TB
	server *httptest.Server
	clock  clockwork.Clock

	mints atomic.Int64
	// minted receives the number of each mint, for tests that wait for a
	// background refresh without sleeping.
	minted chan int64

	mu        sync.Mutex
	lifetime  time.Duration
	gate      chan struct{} // when set, answers wait until it is closed
	arrived   chan struct{} // signalled when a request reaches the gate
	faults    []fault       // answered in order, one request each, before any token
	clientIDs []string
	presented []string        // every client secret presented, in order
	arrivals  []time.Time     // real time of each request, for rate checks
	secrets   map[string]bool // accepted client secrets
}

// fault is one answer that carries no token.
type fault struct {
	status     int
	retryAfter string
}

func newTestPartner(t testing.TB, clock clockwork.Clock) *testPartner {
	p := &testPartner{t: t, clock: clock, lifetime: time.Hour, minted: make(chan int64, 1000),
		secrets: map[string]bool{testClientSecret: true}}
	p.server = httptest.NewServer(http.HandlerFunc(p.serve))
	t.Cleanup(p.server.Close)
	return p
}

func (p *testPartner) URL() string { return p.server.URL + "/oauth/token" }

func (p *testPartner) setLifetime(d time.Duration) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.lifetime = d
}

func (p *testPartner) failNext(status int) { p.inject(fault{status: status}) }

func (p *testPartner) inject(faults ...fault) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.faults = append(p.faults, faults...)
}

// acceptSecrets replaces the client secrets the partner accepts, as a
// rotation at the partner does.
func (p *testPartner) acceptSecrets(secrets ...string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.secrets = map[string]bool{}
	for _, s := range secrets {
		p.secrets[s] = true
	}
}

func (p *testPartner) requests() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.clientIDs)
}

// hold makes answers wait until the returned release func is called;
// arrived is signalled for each request that starts waiting.
func (p *testPartner) hold() (arrived <-chan struct{}, release func()) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.gate = make(chan struct{})
	p.arrived = make(chan struct{}, 1000)
	gate := p.gate
	return p.arrived, func() { close(gate) }
}

// presentedSecrets are the client secrets requests carried, in order.
func (p *testPartner) presentedSecrets() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]string(nil), p.presented...)
}

func (p *testPartner) seenClientIDs() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]string(nil), p.clientIDs...)
}

// waitRefresh waits for background refresh number n to be minted and
// committed.
func (env *testEnv) waitRefresh(n int64) {
	env.t.Helper()
	env.partner.waitMint(n)
	env.b.cache.background.Wait()
}

// waitMint waits for mint number n, failing the test after a generous
// real-time bound (a deadlock guard, not a timing assertion).
func (p *testPartner) waitMint(n int64) {
	p.t.Helper()
	deadline := time.After(10 * time.Second)
	for p.mints.Load() < n {
		select {
		case <-p.minted:
		case <-deadline:
			p.t.Fatalf("waited for mint %d; partner has minted %d", n, p.mints.Load())
		}
	}
}

func (p *testPartner) serve(w http.ResponseWriter, r *http.Request) {
	fail := func(status int, code, desc string) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		json.NewEncoder(w).Encode(map[string]string{"error": code, "error_description": desc})
	}
	if r.Method != http.MethodPost || r.URL.Path != "/oauth/token" {
		fail(http.StatusNotFound, "not_found", "no such endpoint")
		return
	}
	if ct := r.Header.Get("Content-Type"); ct != "application/x-www-form-urlencoded" {
		fail(http.StatusBadRequest, "invalid_request", "content type "+ct)
		return
	}
	if err := r.ParseForm(); err != nil || r.PostForm.Get("grant_type") != "client_credentials" {
		fail(http.StatusBadRequest, "unsupported_grant_type", "grant_type must be client_credentials")
		return
	}
	id, secret, ok := basicCredentials(r.Header.Get("Authorization"))
	if !ok {
		fail(http.StatusUnauthorized, "invalid_client", "client authentication failed")
		return
	}

	p.mu.Lock()
	p.clientIDs = append(p.clientIDs, id)
	p.presented = append(p.presented, secret)
	p.arrivals = append(p.arrivals, time.Now())
	gate, arrived, lifetime, accepted := p.gate, p.arrived, p.lifetime, p.secrets[secret]
	var next *fault
	if len(p.faults) > 0 {
		next = &p.faults[0]
		p.faults = p.faults[1:]
	}
	p.mu.Unlock()

	if gate != nil {
		arrived <- struct{}{}
		<-gate
	}
	if next != nil {
		if next.retryAfter != "" {
			w.Header().Set("Retry-After", next.retryAfter)
		}
		fail(next.status, "invalid_client", "client is disabled")
		return
	}
	if !accepted {
		fail(http.StatusUnauthorized, "invalid_client", "client authentication failed")
		return
	}
	n := p.mints.Add(1)
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(map[string]any{
		"access_token": fmt.Sprintf("token-%d", n),
		"token_type":   "bearer",
		"expires_in":   int(lifetime / time.Second),
		"scope":        r.PostForm.Get("scope"),
	})
	select {
	case p.minted <- n:
	default: // waitMint reads the count; the signal only wakes it
	}
}

// basicCredentials decodes client_secret_basic credentials (RFC 6749 §2.3.1).
func basicCredentials(header string) (id, secret string, ok bool) {
	raw, found := strings.CutPrefix(header, "Basic ")
	if !found {
		return "", "", false
	}
	decoded, err := base64.StdEncoding.DecodeString(raw)
	if err != nil {
		return "", "", false
	}
	encID, encSecret, found := strings.Cut(string(decoded), ":")
	if !found {
		return "", "", false
	}
	id, err1 := url.QueryUnescape(encID)
	secret, err2 := url.QueryUnescape(encSecret)
	return id, secret, err1 == nil && err2 == nil
}

// noJitter draws no jitter, so tests can expect exact lease TTLs.
func noJitter() float64 { return 0 }
