package provider

import (
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// Test credentials. The secret holds characters that form encoding changes
// (+ / = &), so a test can tell plain from form-encoded Basic credentials.
const (
	testClientID = "test-ck-6f6e9f3d"
	testSecret   = "test-cs-008a+f6/3f=1&fd"
)

// testNow is the local clock of every mint, so expiries are exact.
var testNow = time.Date(2024, 1, 10, 12, 0, 0, 0, time.UTC)

// wantRequest is the one request a partner accepts, byte for byte.
type wantRequest struct {
	Path  string
	Query string
	// Header is every header the engine sets, with its exact value; any
	// other header (besides those the Go transport adds) fails the test.
	Header map[string]string
	Body   string
}

// transportHeaders are added by net/http itself, not by the provider.
var transportHeaders = map[string]bool{"Accept-Encoding": true, "Content-Length": true}

// engineHeaders are the headers post sets on every request, plus extra.
func engineHeaders(extra map[string]string) map[string]string {
	h := map[string]string{"User-Agent": userAgent, "Accept": "application/json"}
	for k, v := range extra {
		h[http.CanonicalHeaderKey(k)] = v
	}
	return h
}

// checkRequest fails the test unless r is exactly the wanted request. It is
// called from the partner's handler goroutine, so it only reports.
func checkRequest(t *testing.T, r *http.Request, want wantRequest) {
	t.Helper()
	if r.Method != http.MethodPost {
		t.Errorf("method = %s, want POST", r.Method)
	}
	if r.URL.Path != want.Path {
		t.Errorf("path = %q, want %q", r.URL.Path, want.Path)
	}
	if r.URL.RawQuery != want.Query {
		t.Errorf("query = %q, want %q", r.URL.RawQuery, want.Query)
	}
	for name, value := range want.Header {
		if got := r.Header.Values(name); len(got) != 1 || got[0] != value {
			t.Errorf("header %s = %q, want exactly %q", name, got, value)
		}
	}
	for name := range r.Header {
		if _, wanted := want.Header[name]; !wanted && !transportHeaders[name] {
			t.Errorf("unexpected header %s: %q", name, r.Header.Values(name))
		}
	}
	body, err := io.ReadAll(r.Body)
	if err != nil {
		t.Errorf("reading the request body: %v", err)
	}
	if string(body) != want.Body {
		t.Errorf("body = %q, want %q", body, want.Body)
	}
	if r.ContentLength != int64(len(want.Body)) {
		t.Errorf("Content-Length = %d, want %d", r.ContentLength, len(want.Body))
	}
}

// partnerAnswer is what the fake partner sends back.
type partnerAnswer struct {
	Status int
	Header map[string]string
	Body   string
	// NoDate suppresses the Date header net/http would add.
	NoDate bool
}

// fakePartner is a fake partner token endpoint.
type fakePartner struct {
	*httptest.Server
	mu    sync.Mutex
	calls []*http.Request
}

// Calls is how many requests reached the partner.
func (p *fakePartner) Calls() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.calls)
}

// Requests returns the requests that reached the partner (headers only).
func (p *fakePartner) Requests() []*http.Request {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]*http.Request(nil), p.calls...)
}

// newPartner starts a partner that checks every request with check and
// answers with ans. Its Date header says testNow unless ans sets another or
// none, so Date-based skew correction is neutral by default.
func newPartner(t *testing.T, check func(t *testing.T, r *http.Request), ans partnerAnswer) *fakePartner {
	t.Helper()
	p := &fakePartner{}
	p.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p.mu.Lock()
		p.calls = append(p.calls, r.Clone(r.Context()))
		p.mu.Unlock()
		check(t, r)
		w.Header().Set("Date", testNow.Format(http.TimeFormat))
		for k, v := range ans.Header {
			w.Header().Set(k, v)
		}
		if ans.NoDate {
			w.Header()["Date"] = nil
		}
		if w.Header().Get("Content-Type") == "" {
			w.Header().Set("Content-Type", "application/json")
		}
		status := ans.Status
		if status == 0 {
			status = http.StatusOK
		}
		w.WriteHeader(status)
		io.WriteString(w, ans.Body)
	}))
	t.Cleanup(p.Close)
	return p
}

// newRequest is a mint request against p's path with the test credentials
// and the fixed clock.
func newRequest(p *fakePartner, path string, opts Options) *Request {
	return &Request{
		TokenURL:     p.URL + path,
		ClientID:     testClientID,
		ClientSecret: testSecret,
		Options:      opts,
		Client:       p.Client(),
		Now:          func() time.Time { return testNow },
	}
}

// testJWT builds an unsigned-looking JWT with the given claims; providers
// read it without verifying, as they must.
func testJWT(claims map[string]any) string {
	enc := base64.RawURLEncoding
	payload, err := json.Marshal(claims)
	if err != nil {
		panic(err)
	}
	return enc.EncodeToString([]byte(`{"alg":"RS256","typ":"JWT"}`)) + "." + enc.EncodeToString(payload) + ".c2lnbmF0dXJl"
}

// secretForms are every shape in which the test secret could leak.
func secretForms(id, secret string) []string {
	forms := []string{secret, url.QueryEscape(secret)}
	for _, raw := range []string{secret, id + ":" + secret, url.QueryEscape(id) + ":" + url.QueryEscape(secret)} {
		for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
			forms = append(forms, enc.EncodeToString([]byte(raw)))
		}
	}
	return forms
}

// checkError asserts err is a *Error from partnerName with the given HTTP
// status whose text holds every wanted fragment and no form of the secret.
func checkError(t *testing.T, err error, partnerName string, status int, want []string) *Error {
	t.Helper()
	if err == nil {
		t.Fatal("Mint succeeded, want an error")
	}
	perr, ok := AsError(err)
	if !ok {
		t.Fatalf("error %T %q is not a *provider.Error", err, err)
	}
	if perr.Partner != partnerName {
		t.Errorf("Partner = %q, want %q", perr.Partner, partnerName)
	}
	if perr.Status != status {
		t.Errorf("Status = %d, want %d", perr.Status, status)
	}
	text := err.Error()
	if !strings.Contains(text, partnerName) {
		t.Errorf("error %q does not name the partner %q", text, partnerName)
	}
	if status != 0 && !strings.Contains(text, "HTTP "+strconv.Itoa(status)) {
		t.Errorf("error %q does not give the HTTP status %d", text, status)
	}
	for _, w := range want {
		if !strings.Contains(text, w) {
			t.Errorf("error %q does not contain %q", text, w)
		}
	}
	for _, form := range secretForms(testClientID, testSecret) {
		if strings.Contains(text, form) {
			t.Errorf("error %q leaks the client secret (as %q)", text, form)
		}
	}
	return perr
}

// wantSpec is what a provider's Spec documents: its names, documentation,
// fallback lifetime, the token URL of each environment name (aliases
// included), how many environments it lists and how many config fields of
// its own it has.
type wantSpec struct {
	name, displayName, docs string
	defaultLifetime         time.Duration
	environments            map[string]string
	environmentCount        int
	fieldCount              int
}

// checkSpec asserts spec documents what want says, and has a description.
func checkSpec(t *testing.T, spec Spec, want wantSpec) {
	t.Helper()
	if spec.Name != want.name || spec.DisplayName != want.displayName || spec.Description == "" {
		t.Errorf("spec names = %q, %q, %q", spec.Name, spec.DisplayName, spec.Description)
	}
	if spec.Docs != want.docs {
		t.Errorf("Docs = %q, want %q", spec.Docs, want.docs)
	}
	if spec.DefaultLifetime != want.defaultLifetime {
		t.Errorf("DefaultLifetime = %s, want %s", spec.DefaultLifetime, want.defaultLifetime)
	}
	for name, url := range want.environments {
		env, ok := spec.Environment(name)
		if !ok || env.TokenURL != url {
			t.Errorf("environment %q = %q (found %v), want %q", name, env.TokenURL, ok, url)
		}
	}
	if len(spec.Environments) != want.environmentCount {
		t.Errorf("%d environments (%v), want %d", len(spec.Environments), spec.Environments, want.environmentCount)
	}
	if len(spec.Fields) != want.fieldCount {
		t.Fatalf("Fields = %v, want %d", spec.Fields, want.fieldCount)
	}
}

// checkMintFailure asserts Mint returned no token with its error, the
// error as checkError wants it, and whether the partner refused the
// credentials.
func checkMintFailure(t *testing.T, tok *Token, err error, partnerName string, status int, want []string, refused bool) *Error {
	t.Helper()
	if tok != nil {
		t.Errorf("Mint returned a token %+v with its error", tok)
	}
	perr := checkError(t, err, partnerName, status, want)
	if perr.Refused() != refused {
		t.Errorf("Refused() = %v, want %v", perr.Refused(), refused)
	}
	return perr
}

// checkToken asserts a minted token is the wanted bearer token, issued at
// the send time and expiring exactly at wantExpiry.
func checkToken(t *testing.T, tok *Token, err error, wantToken string, wantExpiry time.Time) {
	t.Helper()
	if err != nil {
		t.Fatalf("Mint: %v", err)
	}
	if tok.AccessToken != wantToken {
		t.Errorf("AccessToken = %q, want %q", tok.AccessToken, wantToken)
	}
	if tok.TokenType != "Bearer" {
		t.Errorf("TokenType = %q, want Bearer", tok.TokenType)
	}
	if !tok.IssuedAt.Equal(testNow) {
		t.Errorf("IssuedAt = %s, want the send time %s", tok.IssuedAt, testNow)
	}
	if !tok.ExpiresAt.Equal(wantExpiry) {
		t.Errorf("ExpiresAt = %s, want %s (lifetime %s, want %s)", tok.ExpiresAt, wantExpiry, tok.Lifetime(), wantExpiry.Sub(testNow))
	}
}
