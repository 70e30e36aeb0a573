package partnersim

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"
)

// epoch is the fixed clock of the tests: whole seconds, so iat and exp are
// exact.
var epoch = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

// clock is a settable clock for Options.Now.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *clock { return &clock{t: epoch} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// start runs a simulator on a free loopback port with the fixed clock.
func start(t *testing.T, opts Options) (*Server, *clock) {
	t.Helper()
	c := newClock()
	if opts.Now == nil {
		opts.Now = c.Now
	}
	s := New(opts)
	if err := s.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	return s, c
}

// result is a response with its body read.
type result struct {
	status int
	header http.Header
	body   []byte
}

// send builds and sends a request by hand; header values are set verbatim.
func send(t *testing.T, method, url string, header map[string]string, body string) result {
	t.Helper()
	res, err := trySend(method, url, header, body)
	if err != nil {
		t.Fatal(err)
	}
	return res
}

// trySend is send for goroutines, which must not call t.Fatal.
func trySend(method, url string, header map[string]string, body string) (result, error) {
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		return result{}, err
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return result{}, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return result{resp.StatusCode, resp.Header, b}, err
}

func post(t *testing.T, url string, header map[string]string, body string) result {
	t.Helper()
	return send(t, http.MethodPost, url, header, body)
}

// object decodes a JSON object body.
func (r result) object(t *testing.T) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(r.body, &m); err != nil {
		t.Fatalf("body %q is not a JSON object: %v", r.body, err)
	}
	return m
}

// expect checks status and that the body holds the given fields.
func (r result) expect(t *testing.T, status int, fields map[string]any) map[string]any {
	t.Helper()
	if r.status != status {
		t.Fatalf("status %d, want %d; body %s", r.status, status, r.body)
	}
	m := r.object(t)
	for k, want := range fields {
		got, ok := m[k]
		if !ok {
			t.Errorf("body %s: no %q", r.body, k)
			continue
		}
		if f, isNum := want.(int); isNum {
			want = float64(f)
		}
		if got != want {
			t.Errorf("body %s: %s = %v, want %v", r.body, k, got, want)
		}
	}
	return m
}

func basic(id, secret string) string {
	return "Basic " + base64.StdEncoding.EncodeToString([]byte(id+":"+secret))
}

// decodeJWT splits a compact JWT and decodes its header and claims.
func decodeJWT(t *testing.T, token string) (header, claims map[string]any) {
	t.Helper()
	parts := strings.Split(token, ".")
	if len(parts) != 3 || parts[2] == "" {
		t.Fatalf("token %q is not a three-part JWT", token)
	}
	for i, dst := range []*map[string]any{&header, &claims} {
		raw, err := base64.RawURLEncoding.DecodeString(parts[i])
		if err != nil {
			t.Fatalf("JWT segment %d is not base64url: %v", i, err)
		}
		dec := json.NewDecoder(bytes.NewReader(raw))
		dec.UseNumber()
		if err := dec.Decode(dst); err != nil {
			t.Fatalf("JWT segment %d is not JSON: %v", i, err)
		}
	}
	return header, claims
}

// claimInt reads a numeric claim.
func claimInt(t *testing.T, claims map[string]any, name string) int64 {
	t.Helper()
	n, ok := claims[name].(json.Number)
	if !ok {
		t.Fatalf("claim %s = %v, want a number", name, claims[name])
	}
	v, err := n.Int64()
	if err != nil {
		t.Fatalf("claim %s = %v: %v", name, n, err)
	}
	return v
}

// counters checks a partner's statistics.
func counters(t *testing.T, s *Server, partner string, want Stats) {
	t.Helper()
	if got := s.Stats()[partner]; got != want {
		t.Errorf("%s stats = %+v, want %+v", partner, got, want)
	}
}

func demo(partner string) Client { return DefaultClients()[partner] }
