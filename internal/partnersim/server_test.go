package partnersim

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestTokenURLs(t *testing.T) {
	s, _ := start(t, Options{})
	want := map[string]string{
		DUPR:   "/dupr/api/auth/v1.0/token",
		Setu:   "/setu/auth/token",
		Podero: "/podero/oauth2/token/",
		DOKU:   "/doku/adv-core-api/partner/v1.0/token",
		Dinie:  "/dinie/api/v3/auth/token",
		OAuth2: "/oauth2/token",
	}
	for _, p := range Partners() {
		if got := s.TokenURL(p); got != s.URL()+want[p] {
			t.Errorf("TokenURL(%s) = %s, want %s", p, got, s.URL()+want[p])
		}
	}
	if !strings.HasPrefix(s.URL(), "http://127.0.0.1:") {
		t.Errorf("URL %s is not on loopback", s.URL())
	}
	if s.TokenURL("acme") != "" {
		t.Error("an unknown partner has a token URL")
	}
	if res := post(t, s.URL()+"/acme/token", nil, ""); res.status != http.StatusNotFound {
		t.Errorf("an unknown prefix: %d", res.status)
	}
}

func TestStartRefusesInvalidOptions(t *testing.T) {
	for name, opts := range map[string]Options{
		"an unknown partner's lifetime": {Lifetimes: map[string]time.Duration{"acme": time.Hour}},
		"a zero lifetime":               {Lifetimes: map[string]time.Duration{DUPR: 0}},
		"an unknown partner's client":   {Clients: map[string]Client{"acme": {ID: "a", Secret: "b"}}},
		"a client without a secret":     {Clients: map[string]Client{DUPR: {ID: "a"}}},
		"an address that is not one":    {Addr: "not-an-address"},
	} {
		s := New(opts)
		if err := s.Start(); err == nil {
			s.Close()
			t.Errorf("%s: started", name)
		}
	}
}

func TestOptionsOverrideDefaults(t *testing.T) {
	s, _ := start(t, Options{
		Clients:   map[string]Client{Dinie: {ID: "dinie_ci_x", Secret: "dinie_cs_test_y"}},
		Lifetimes: map[string]time.Duration{Dinie: 90 * time.Second},
	})
	post(t, s.TokenURL(Dinie), dinieHeaders(basic("dinie_ci_x", "dinie_cs_test_y")), "grant_type=client_credentials").
		expect(t, http.StatusOK, map[string]any{"expires_in": 90})
	// Other partners keep their demo credentials.
	mintOAuth2Token(t, s).expect(t, http.StatusOK, map[string]any{"expires_in": 3600})
}

func TestPreviousSecretsOverlapARotation(t *testing.T) {
	s, _ := start(t, Options{})
	c := demo(DUPR)
	if err := s.SetClient(DUPR, Client{ID: c.ID, Secret: "new", PreviousSecrets: []string{c.Secret}}); err != nil {
		t.Fatal(err)
	}
	for _, secret := range []string{"new", c.Secret} {
		post(t, s.TokenURL(DUPR), map[string]string{"x-authorization": duprAuth(c.ID, secret)}, "").expect(t, http.StatusOK, nil)
	}
	_ = s.SetClient(DUPR, Client{ID: c.ID, Secret: "new"})
	post(t, s.TokenURL(DUPR), map[string]string{"x-authorization": duprAuth(c.ID, c.Secret)}, "").expect(t, http.StatusUnauthorized, nil)
}

func TestIntrospectFollowsTheClock(t *testing.T) {
	s, clk := start(t, Options{})
	if err := s.SetLifetime(DUPR, 2*time.Second); err != nil {
		t.Fatal(err)
	}
	c := demo(DUPR)
	m := post(t, s.TokenURL(DUPR), map[string]string{"x-authorization": duprAuth(c.ID, c.Secret)}, "").expect(t, http.StatusOK, nil)
	token := m["result"].(map[string]any)["token"].(string)
	clk.Advance(time.Second)
	if active, exp := s.Introspect(DUPR, token); !active || !exp.Equal(epoch.Add(2*time.Second)) {
		t.Errorf("after 1s: %v %v", active, exp)
	}
	clk.Advance(time.Second)
	if active, _ := s.Introspect(DUPR, token); active {
		t.Error("active at its expiry")
	}
	if active, exp := s.Introspect(DUPR, "never-issued"); active || !exp.IsZero() {
		t.Errorf("an unknown token: %v %v", active, exp)
	}
	if active, _ := s.Introspect(Setu, token); active {
		t.Error("a DUPR token is active at Setu")
	}
}

// Every partner, hammered concurrently, issues distinct tokens and counts
// every request (run with -race).
func TestConcurrentMintsAreUniqueAndCounted(t *testing.T) {
	s, _ := start(t, Options{DinieRateLimit: 1000})
	const n = 20
	type request struct {
		header map[string]string
		body   string
		token  func(map[string]any) any // where the answer holds the token
	}
	field := func(name string) func(map[string]any) any {
		return func(m map[string]any) any { return m[name] }
	}
	requests := map[string]func() request{
		DUPR: func() request {
			c := demo(DUPR)
			return request{map[string]string{"x-authorization": duprAuth(c.ID, c.Secret)}, "", func(m map[string]any) any {
				r, _ := m["result"].(map[string]any)
				return r["token"]
			}}
		},
		Setu: func() request {
			c := demo(Setu)
			return request{map[string]string{"Content-Type": formType}, setuForm(c.ID, c.Secret), field("accessToken")}
		},
		Podero: func() request {
			c := demo(Podero)
			return request{poderoHeaders(basic(c.ID, c.Secret)), poderoBody, field("access_token")}
		},
		DOKU: func() request {
			d := newDOKURequestID(s)
			return request{d.headers(), d.body, field("token")}
		},
		Dinie: func() request {
			c := demo(Dinie)
			return request{dinieHeaders(basic(c.ID, c.Secret)), "grant_type=client_credentials", field("access_token")}
		},
		OAuth2: func() request {
			c := demo(OAuth2)
			return request{map[string]string{"Content-Type": formType, "Authorization": basic(c.ID, c.Secret)}, "grant_type=client_credentials", field("access_token")}
		},
	}
	var mu sync.Mutex
	seen := map[string]bool{}
	var wg sync.WaitGroup
	for p, build := range requests {
		for range n {
			wg.Go(func() {
				req := build()
				res, err := trySend(http.MethodPost, s.TokenURL(p), req.header, req.body)
				var m map[string]any
				if err == nil {
					err = json.Unmarshal(res.body, &m)
				}
				tok, _ := req.token(m).(string)
				if err != nil || res.status != http.StatusOK || tok == "" {
					t.Errorf("%s: %v %d %s", p, err, res.status, res.body)
					return
				}
				mu.Lock()
				defer mu.Unlock()
				if seen[tok] {
					t.Errorf("%s issued %s twice", p, tok)
				}
				seen[tok] = true
			})
		}
	}
	wg.Wait()
	for _, p := range Partners() {
		counters(t, s, p, Stats{Requests: n, Mints: n})
	}
}

var dokuMu sync.Mutex

// newDOKURequestID is newDOKURequest safe for concurrent use.
func newDOKURequestID(s *Server) dokuRequest {
	dokuMu.Lock()
	defer dokuMu.Unlock()
	return newDOKURequest(s)
}

func TestLogsNeverCarrySecretsOrTokens(t *testing.T) {
	var buf bytes.Buffer
	var mu sync.Mutex
	logger := slog.New(slog.NewTextHandler(&lockedWriter{w: &buf, mu: &mu}, &slog.HandlerOptions{Level: slog.LevelDebug}))
	s, _ := start(t, Options{Logger: logger})
	var tokens []string
	for _, p := range Partners() {
		c := demo(p)
		wrong := Client{ID: c.ID, Secret: c.Secret + "x"}
		for _, cl := range []Client{c, wrong} {
			switch p {
			case DUPR:
				res := post(t, s.TokenURL(p), map[string]string{"x-authorization": duprAuth(cl.ID, cl.Secret)}, "")
				tokens = append(tokens, string(res.body))
			case Setu:
				res := post(t, s.TokenURL(p), map[string]string{"Content-Type": formType}, setuForm(cl.ID, cl.Secret))
				tokens = append(tokens, string(res.body))
			case DOKU:
				d := newDOKURequest(s)
				d.secret = cl.Secret
				res := post(t, s.TokenURL(p), d.headers(), d.body)
				tokens = append(tokens, string(res.body))
			case Podero:
				res := post(t, s.TokenURL(p), poderoHeaders(basic(cl.ID, cl.Secret)), poderoBody)
				tokens = append(tokens, string(res.body))
			default:
				res := post(t, s.TokenURL(p), map[string]string{"Content-Type": formType, "Authorization": basic(cl.ID, cl.Secret)}, "grant_type=client_credentials")
				tokens = append(tokens, string(res.body))
			}
		}
	}
	s.Close()
	mu.Lock()
	logs := buf.String()
	mu.Unlock()
	if !strings.Contains(logs, "outcome=minted") || !strings.Contains(logs, "outcome=rejected") {
		t.Fatalf("the requests were not logged:\n%s", logs)
	}
	for _, p := range Partners() {
		c := demo(p)
		for _, secret := range []string{c.Secret, c.Secret + "x", base64.StdEncoding.EncodeToString([]byte(c.ID + ":" + c.Secret)), url.QueryEscape(c.Secret)} {
			if strings.Contains(logs, secret) {
				t.Errorf("the log carries a %s secret", p)
			}
		}
	}
	for _, body := range tokens {
		for _, field := range strings.FieldsFunc(body, func(r rune) bool { return r == '"' }) {
			if len(field) >= 30 && !strings.Contains(field, " ") && strings.Contains(logs, field) {
				t.Errorf("the log carries an answer's value %q", field)
			}
		}
	}
}

type lockedWriter struct {
	w  *bytes.Buffer
	mu *sync.Mutex
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

func TestServerIsAnHTTPHandler(t *testing.T) {
	s := New(Options{Now: newClock().Now})
	ts := httptest.NewServer(s)
	defer ts.Close()
	c := demo(OAuth2)
	res := post(t, ts.URL+"/oauth2/token", map[string]string{"Content-Type": formType, "Authorization": basic(c.ID, c.Secret)}, "grant_type=client_credentials")
	res.expect(t, http.StatusOK, nil)
	if s.URL() != "" || s.TokenURL(OAuth2) != "" {
		t.Error("URL before Start")
	}
	s.Close()
	s.Close()
}

func TestStartTwiceFails(t *testing.T) {
	s, _ := start(t, Options{})
	if err := s.Start(); err == nil {
		t.Error("a second Start succeeded")
	}
}

func TestLargeRequestBodiesAreRefused(t *testing.T) {
	s, _ := start(t, Options{})
	res := post(t, s.TokenURL(OAuth2), map[string]string{"Content-Type": formType}, "grant_type=client_credentials&pad="+strings.Repeat("x", maxRequestBody))
	res.expect(t, http.StatusRequestEntityTooLarge, map[string]any{"error": "invalid_request"})
}
