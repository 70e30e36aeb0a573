package partnersim

import (
	"context"
	"crypto/subtle"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/go-jose/go-jose/v4"
)

// Partner names, as used by TokenURL, the counters and the admin API.
const (
	DUPR   = "dupr"
	Setu   = "setu"
	Podero = "podero"
	DOKU   = "doku"
	Dinie  = "dinie"
	OAuth2 = "oauth2"
)

// Partners lists every simulated partner, in a stable order.
func Partners() []string { return []string{DUPR, Setu, Podero, DOKU, Dinie, OAuth2} }

// Client is one partner client: its id and the credentials it may
// authenticate with.
type Client struct {
	ID     string `json:"id"`
	Secret string `json:"secret,omitempty"`
	// PreviousSecrets are accepted besides Secret, to simulate the overlap
	// of a secret rotation (Dinie lets a partner hold several credentials at
	// once; see /auth/credentials in docs/partners.md#dinie).
	PreviousSecrets []string `json:"previous_secrets,omitempty"`
	// JWKS are the client's registered public keys (RFC 7591 §2 jwks):
	// oauth2 client assertions (private_key_jwt) and JWT bearer grant
	// assertions must verify under one of them. Several keys at once are
	// a key rotation's overlap.
	JWKS *jose.JSONWebKeySet `json:"jwks,omitempty"`
	// CertificateSubject binds a client certificate to the client (RFC 8705
	// §2.1.2, tls_client_auth_subject_dn): when set, each of the client's
	// token requests must come over the TLS listener with a certificate
	// from the test CA whose subject is exactly this, such as
	// "CN=oauth2-demo-client"; oauth2's tls_client_auth then takes the
	// certificate as the credential.
	CertificateSubject string `json:"tls_client_auth_subject_dn,omitempty"`
	// Audience is accepted as an assertion's aud besides the token URL
	// (a partner's issuer identifier, RFC 7523 §3 item 3).
	Audience string `json:"audience,omitempty"`
}

// DefaultClients returns the fixed demo credentials every partner accepts
// unless Options.Clients says otherwise. They are not secret: `make dev` and
// the tests configure the engine with them.
func DefaultClients() map[string]Client {
	return map[string]Client{
		DUPR:   {ID: "dupr-demo-client", Secret: "dupr-demo-secret-4f9c2a7e1b8d6035"},
		Setu:   {ID: "setu-demo-client", Secret: "setu-demo-secret-9a1e5c7b3d2f8064"},
		Podero: {ID: "podero-demo-client", Secret: "podero-demo-secret-2b7d9e4a6c1f3058"},
		DOKU:   {ID: "doku-demo-client", Secret: "doku-demo-secret-7e3a1c9b5d4f2086"},
		Dinie:  {ID: "dinie-demo-client", Secret: "dinie-demo-secret-5c8b2e6a9d1f4073"},
		OAuth2: {ID: "oauth2-demo-client", Secret: "oauth2-demo-secret-1d6f3b8e2a9c7045"},
	}
}

// DefaultLifetimes returns each partner's documented token lifetime. DOKU
// documents none for a token requested without valid_time, and its sample
// tokens differ: the Generate Token page's, requested with valid_time 360,
// lives 360 minutes (exp - iat), the Upload File page's 5; the simulator
// takes the shorter (docs/partners.md#doku).
func DefaultLifetimes() map[string]time.Duration {
	return map[string]time.Duration{
		DUPR:   time.Hour,
		Setu:   15 * time.Minute,
		Podero: 10 * time.Hour,
		DOKU:   5 * time.Minute,
		Dinie:  time.Hour,
		OAuth2: time.Hour,
	}
}

// DefaultDinieRateLimit is how many token requests Dinie accepts per
// one-minute window before answering 429 (Dinie documents the headers, not
// the number).
const DefaultDinieRateLimit = 100

// Options configures a Server. The zero value is ready to use.
type Options struct {
	// Addr is the listen address; default "127.0.0.1:0" (a free port).
	Addr string
	// Clients overrides DefaultClients per partner.
	Clients map[string]Client
	// Lifetimes overrides DefaultLifetimes per partner.
	Lifetimes map[string]time.Duration
	// Now is the simulator's clock (token iat/exp, DOKU's timestamp window,
	// Dinie's rate-limit window, the Date header); default time.Now.
	// Delays and trickling always use real time.
	Now func() time.Time
	// Logger receives one line per request; default discards.
	Logger *slog.Logger
	// DinieRateLimit is how many requests Dinie accepts per one-minute
	// window; 0 means DefaultDinieRateLimit.
	DinieRateLimit int
	// TLSAddr, when set, is where the simulator also serves over TLS with
	// a certificate from its own test CA (see IssueClientCertificate);
	// "127.0.0.1:0" picks a free port.
	TLSAddr string
	// DUPRExpiryLayout is the Go time layout of DUPR's result.expiry;
	// empty means the documented DUPRExpiryDocumented. DUPR's service is
	// Java (Spring), whose serialisers also write fractional seconds and
	// +0000 offsets; DUPRNoExpiry leaves the field out.
	DUPRExpiryLayout string
	// DinieBase is the one base path Dinie's token endpoint is served
	// under, as a deployment serves one: DinieBaseSDK (the default) or
	// DinieBasePortal. A client on the other gets Dinie's 404.
	DinieBase string
}

// Dinie's two documented base paths for Options.DinieBase
// (docs/partners.md#dinie): /auth/token is relative to either.
const (
	// DinieBaseSDK is the base of Dinie's current official SDKs, which the
	// engine's built-in URLs follow.
	DinieBaseSDK = "/api/v3"
	// DinieBasePortal is the base of the servers Dinie's developer portal
	// lists.
	DinieBasePortal = "/v3"
)

// DUPR's result.expiry shapes for Options.DUPRExpiryLayout.
const (
	// DUPRExpiryDocumented is the documented example's shape,
	// "2023-04-02T17:21:23Z".
	DUPRExpiryDocumented = "2006-01-02T15:04:05Z"
	// DUPRExpiryJackson is java.util.Date as older Jackson versions write it.
	DUPRExpiryJackson = "2006-01-02T15:04:05.000-0700"
	// DUPRNoExpiry leaves result.expiry out of the answer.
	DUPRNoExpiry = "-"
)

// Stats counts a partner's token requests.
type Stats struct {
	// Requests counts every request to the partner's prefix.
	Requests int `json:"requests"`
	// Mints counts tokens issued.
	Mints int `json:"mints"`
	// Rejections counts requests the partner's own rules refused.
	Rejections int `json:"rejections"`
	// Faults counts requests answered by an injected fault.
	Faults int `json:"faults"`
}

// Server is the simulator. It is an http.Handler, so it can also be mounted
// on an httptest.Server; Start serves it on its own listener.
type Server struct {
	now            func() time.Time
	log            *slog.Logger
	addr           string
	tlsAddr        string
	dinieRateLimit int
	duprExpiry     string
	dinieBase      string
	optErr         error

	ln       net.Listener
	srv      *http.Server
	ca       *testCA
	tlsLn    net.Listener
	tlsSrv   *http.Server
	done     chan struct{}
	closeOne sync.Once

	mu         sync.Mutex
	clients    map[string]Client
	lifetimes  map[string]time.Duration
	stats      map[string]*Stats
	faults     map[string][]*Fault
	tokens     map[string]map[string]time.Time
	pruneAt    map[string]int
	requestIDs map[string]time.Time // DOKU: client id + "\n" + Request-Id -> first seen
	// jtis are the assertion ids seen (partner, issuer and jti), with the
	// assertion's expiry, after which a replay fails on exp anyway.
	jtis       map[string]time.Time
	jtiPruneAt int
	dinieStart time.Time // start of Dinie's current rate-limit window
	dinieCount int

	// rec is what in-process tests ask about: presented credentials, issued
	// tokens, held answers.
	rec record
}

// New builds a Server from opts. Invalid options are reported by Start.
func New(opts Options) *Server {
	s := &Server{
		now:            opts.Now,
		log:            opts.Logger,
		addr:           opts.Addr,
		tlsAddr:        opts.TLSAddr,
		dinieRateLimit: opts.DinieRateLimit,
		duprExpiry:     opts.DUPRExpiryLayout,
		dinieBase:      opts.DinieBase,
		done:           make(chan struct{}),
		clients:        DefaultClients(),
		lifetimes:      DefaultLifetimes(),
		stats:          map[string]*Stats{},
		faults:         map[string][]*Fault{},
		tokens:         map[string]map[string]time.Time{},
		pruneAt:        map[string]int{},
		requestIDs:     map[string]time.Time{},
		jtis:           map[string]time.Time{},
	}
	if s.now == nil {
		s.now = time.Now
	}
	if s.log == nil {
		s.log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if s.addr == "" {
		s.addr = "127.0.0.1:0"
	}
	if s.duprExpiry == "" {
		s.duprExpiry = DUPRExpiryDocumented
	}
	if s.dinieRateLimit <= 0 {
		s.dinieRateLimit = DefaultDinieRateLimit
	}
	switch s.dinieBase {
	case "":
		s.dinieBase = DinieBaseSDK
	case DinieBaseSDK, DinieBasePortal:
	default:
		s.optErr = errors.Join(s.optErr, fmt.Errorf("Dinie's base path %q is neither %s nor %s", s.dinieBase, DinieBaseSDK, DinieBasePortal))
	}
	for _, p := range Partners() {
		s.stats[p] = &Stats{}
		s.tokens[p] = map[string]time.Time{}
	}
	for p, c := range opts.Clients {
		s.optErr = errors.Join(s.optErr, s.SetClient(p, c))
	}
	for p, d := range opts.Lifetimes {
		s.optErr = errors.Join(s.optErr, s.SetLifetime(p, d))
	}
	return s
}

// Start listens on Options.Addr and serves in the background.
func (s *Server) Start() error {
	if s.optErr != nil {
		return fmt.Errorf("partnersim: %w", s.optErr)
	}
	if s.ln != nil {
		return errors.New("partnersim: already started")
	}
	ln, err := net.Listen("tcp", s.addr)
	if err != nil {
		return fmt.Errorf("partnersim: %w", err)
	}
	s.ln = ln
	s.srv = &http.Server{
		Handler:           s,
		ReadHeaderTimeout: 10 * time.Second,
		ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelWarn),
	}
	go func() {
		if err := s.srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			s.log.Error("serve", "error", err)
		}
	}()
	if s.tlsAddr != "" {
		if err := s.startTLS(); err != nil {
			_ = s.srv.Close()
			return fmt.Errorf("partnersim: TLS: %w", err)
		}
	}
	s.log.Info("partner simulator listening", "url", s.URL(), "tls_url", s.TLSURL())
	return nil
}

// startTLS makes the test CA and serves the same handler over TLS.
func (s *Server) startTLS() error {
	ca, err := newTestCA(s.now())
	if err != nil {
		return err
	}
	cert, err := ca.serverCertificate(s.now())
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", s.tlsAddr)
	if err != nil {
		return err
	}
	s.ca, s.tlsLn = ca, ln
	s.tlsSrv = &http.Server{
		Handler:           s,
		ReadHeaderTimeout: 10 * time.Second,
		ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelWarn),
	}
	go func() {
		if err := s.tlsSrv.Serve(tls.NewListener(ln, ca.tlsConfig(cert, s.now))); err != nil && !errors.Is(err, http.ErrServerClosed) {
			s.log.Error("serve TLS", "error", err)
		}
	}()
	return nil
}

// URL is the base URL, e.g. http://127.0.0.1:41234; empty before Start.
func (s *Server) URL() string {
	if s.ln == nil {
		return ""
	}
	return "http://" + s.ln.Addr().String()
}

// TokenURL is a partner's token endpoint; empty before Start or for an
// unknown partner.
func (s *Server) TokenURL(partner string) string {
	p := partners[partner]
	if p == nil || s.ln == nil {
		return ""
	}
	return s.URL() + "/" + p.name + s.paths(p)[0]
}

// paths are the token paths s serves for p below "/<name>": the partner's,
// or for Dinie the one under the base s was given.
func (s *Server) paths(p *partner) []string {
	if p.name == Dinie {
		return []string{s.dinieBase + "/auth/token"}
	}
	return p.paths
}

// Close stops serving and aborts delayed and trickling answers. It is safe
// to call more than once, and before Start.
func (s *Server) Close() {
	s.closeOne.Do(func() {
		close(s.done)
		if s.srv != nil {
			_ = s.srv.Close()
		}
		if s.tlsSrv != nil {
			_ = s.tlsSrv.Close()
		}
	})
}

// Mints is how many tokens the partner issued.
func (s *Server) Mints(partner string) int { return s.stat(partner).Mints }

// Requests is how many requests reached the partner's prefix.
func (s *Server) Requests(partner string) int { return s.stat(partner).Requests }

// Rejections is how many requests the partner's rules refused.
func (s *Server) Rejections(partner string) int { return s.stat(partner).Rejections }

// Faults is how many requests an injected fault answered.
func (s *Server) Faults(partner string) int { return s.stat(partner).Faults }

func (s *Server) stat(partner string) Stats {
	s.mu.Lock()
	defer s.mu.Unlock()
	if st := s.stats[partner]; st != nil {
		return *st
	}
	return Stats{}
}

// Stats returns every partner's counters.
func (s *Server) Stats() map[string]Stats {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make(map[string]Stats, len(s.stats))
	for p, st := range s.stats {
		out[p] = *st
	}
	return out
}

// SetLifetime changes the lifetime of the partner's future tokens. DOKU
// clients may still ask for their own with valid_time.
func (s *Server) SetLifetime(partner string, d time.Duration) error {
	if partners[partner] == nil {
		return unknownPartner(partner)
	}
	// Lifetimes are whole seconds on the wire (expires_in, JWT exp).
	if d < time.Second {
		return fmt.Errorf("%s lifetime %v: must be at least 1s", partner, d)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.lifetimes[partner] = d
	return nil
}

// SetClient replaces the credentials the partner accepts (tokens already
// issued stay valid, as they do at the real partners).
func (s *Server) SetClient(partner string, c Client) error {
	if partners[partner] == nil {
		return unknownPartner(partner)
	}
	if err := c.check(partner); err != nil {
		return err
	}
	c.PreviousSecrets = append([]string(nil), c.PreviousSecrets...)
	s.mu.Lock()
	defer s.mu.Unlock()
	s.clients[partner] = c
	return nil
}

// Reset zeroes the counters, drops queued faults and forgets the presented
// credentials. Clients, lifetimes,
// issued tokens and the DOKU Request-Ids already seen are kept, as the real
// partners would keep them.
func (s *Server) Reset() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, p := range Partners() {
		s.stats[p] = &Stats{}
	}
	s.faults = map[string][]*Fault{}
	s.dinieStart, s.dinieCount = time.Time{}, 0
	s.rec.mu.Lock()
	s.rec.presented = nil
	s.rec.mu.Unlock()
}

// Introspect reports whether the simulator issued token for partner and
// it has not expired, with its expiry (zero if it was never issued).
func (s *Server) Introspect(partner, token string) (active bool, expiresAt time.Time) {
	s.mu.Lock()
	exp, ok := s.tokens[partner][token]
	s.mu.Unlock()
	if !ok {
		return false, time.Time{}
	}
	return s.now().Before(exp), exp
}

func unknownPartner(p string) error {
	return fmt.Errorf("unknown partner %q (want one of %s)", p, strings.Join(Partners(), ", "))
}

// client returns the partner's credentials.
func (s *Server) client(partner string) Client {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.clients[partner]
}

func (s *Server) lifetime(partner string) time.Duration {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.lifetimes[partner]
}

// authenticate checks a client id and secret in constant time.
func (s *Server) authenticate(partner, id, secret string) bool {
	s.rec.present(partner, Presented{ClientID: id, Secret: secret})
	c := s.client(partner)
	ok := subtle.ConstantTimeCompare([]byte(id), []byte(c.ID))
	match := 0
	for _, sec := range c.secrets() {
		match |= subtle.ConstantTimeCompare([]byte(secret), []byte(sec))
	}
	return ok&match == 1
}

func (c Client) secrets() []string { return append([]string{c.Secret}, c.PreviousSecrets...) }

// remember records an issued token, reporting false if the same string was
// issued before (callers draw again, so every token is unique).
func (s *Server) remember(partner, token string, exp time.Time) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	tokens := s.tokens[partner]
	if _, dup := tokens[token]; dup {
		return false
	}
	// A long-running dev simulator forgets tokens an hour after they
	// expired; pruning runs when the map has doubled since the last pass.
	if len(tokens) >= max(s.pruneAt[partner], 10000) {
		now := s.now()
		for t, e := range tokens {
			if now.Sub(e) > time.Hour {
				delete(tokens, t)
			}
		}
		s.pruneAt[partner] = 2 * len(tokens)
	}
	tokens[token] = exp
	s.rec.issue(partner, token)
	return true
}

// ServeHTTP routes admin calls and token requests.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path == "/_sim" || strings.HasPrefix(r.URL.Path, "/_sim/") {
		s.admin(w, r)
		return
	}
	first, _, _ := strings.Cut(strings.TrimPrefix(r.URL.Path, "/"), "/")
	p := partners[first]
	if p == nil {
		http.Error(w, "partnersim: no partner at "+r.URL.Path+"; partners are /"+strings.Join(Partners(), "/, /")+"/", http.StatusNotFound)
		return
	}
	s.serveToken(p, w, r)
}

// maxRequestBody bounds what the simulator reads; real token requests are
// a few hundred bytes.
const maxRequestBody = 1 << 20

// serveToken answers one request under a partner's prefix: an injected
// fault if one is queued, else the partner's own rules.
func (s *Server) serveToken(p *partner, w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	s.mu.Lock()
	s.stats[p.name].Requests++
	f := s.nextFault(p.name)
	s.mu.Unlock()
	var limit rateLimit
	if p.name == Dinie {
		limit = s.takeDinieQuota()
	}

	// Read the body first: net/http only notices a client hanging up (and
	// cancels the request context) once the body has been consumed, and a
	// Delay must end when the client gives up.
	body, bodyErr := io.ReadAll(http.MaxBytesReader(nil, r.Body, maxRequestBody))

	var rep *reply
	if f != nil && f.Delay > 0 && !s.wait(r.Context(), f.Delay) {
		rep = &reply{fault: true}
		s.count(p, rep)
		s.log.Info("token request", "partner", p.name, "method", r.Method, "path", r.URL.Path,
			"outcome", "fault", "note", "delay aborted: the client went away")
		return
	}
	switch {
	case f != nil && f.answers():
		rep = f.reply(p)
	case limit.exceeded:
		// https://dinie.nexaedge.dev/errors/rate-limit-exceeded
		rep = p.fail(http.StatusTooManyRequests, "rate_limit_exceeded",
			fmt.Sprintf("Rate limit exceeded. Try again in %d seconds.", limit.retryIn(s.now())))
	default:
		rep = s.handle(p, r, body, bodyErr)
	}
	// Counted before writing: a token is issued even if the client never
	// reads it (a trickled answer), as at a real partner.
	s.count(p, rep)
	s.rec.wait(p.name, s.done)
	if rep.header == nil {
		rep.header = http.Header{}
	}
	if p.name == Dinie {
		limit.setHeaders(rep.header, f)
	}
	if f != nil && f.RetryAfter != "" {
		rep.header.Set("Retry-After", f.RetryAfter)
	}
	if f != nil && f.OversizeHeader {
		rep.header.Set("X-Partnersim-Padding", strings.Repeat("x", oversizeHeader))
	}
	interval := time.Duration(0)
	if f != nil && f.Trickle {
		interval = f.TrickleInterval
		if interval <= 0 {
			interval = DefaultTrickleInterval
		}
	}
	note := s.write(w, r, rep, interval)
	s.logRequest(p, r, rep, start, note)
}

// handle applies the routing and HTTP rules every partner shares, then the
// partner's own.
func (s *Server) handle(p *partner, r *http.Request, body []byte, bodyErr error) *reply {
	path := strings.TrimPrefix(r.URL.Path, "/"+p.name)
	known := false
	for _, want := range s.paths(p) {
		known = known || path == want
	}
	if !known {
		return p.notFound()
	}
	if r.Method != http.MethodPost {
		rep := p.notAllowed(r.Method)
		if rep.header == nil {
			rep.header = http.Header{}
		}
		// RFC 9110 §15.5.6: a 405 carries Allow.
		rep.header.Set("Allow", http.MethodPost)
		return rep
	}
	if rep := s.checkCertificateBinding(p, r); rep != nil {
		return rep
	}
	if bodyErr != nil {
		var tooBig *http.MaxBytesError
		if errors.As(bodyErr, &tooBig) {
			return p.fail(http.StatusRequestEntityTooLarge, p.code(http.StatusRequestEntityTooLarge), "request body too large")
		}
		return p.fail(http.StatusBadRequest, p.code(http.StatusBadRequest), "unreadable request body")
	}
	return p.mint(s, r, body)
}

// count records a request's outcome.
func (s *Server) count(p *partner, rep *reply) {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := s.stats[p.name]
	switch {
	case rep.fault:
		st.Faults++
	case rep.minted:
		st.Mints++
		s.rec.mint()
	default:
		st.Rejections++
	}
}

// logRequest logs a request's outcome: never a header, a body or a token.
func (s *Server) logRequest(p *partner, r *http.Request, rep *reply, start time.Time, note string) {
	outcome := "rejected"
	switch {
	case rep.fault:
		outcome = "fault"
	case rep.minted:
		outcome = "minted"
	}
	attrs := []any{"partner", p.name, "method", r.Method, "path", r.URL.Path,
		"status", rep.status, "outcome", outcome, "elapsed", time.Since(start).Round(time.Millisecond)}
	if rep.reason != "" {
		attrs = append(attrs, "reason", rep.reason)
	}
	if note != "" {
		attrs = append(attrs, "note", note)
	}
	s.log.Info("token request", attrs...)
}

// wait sleeps d of real time unless the request is cancelled or the server
// closes first; it reports whether the full time passed.
func (s *Server) wait(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	case <-s.done:
		return false
	}
}

// reply is an answer built before it is written, so a fault can trickle it.
type reply struct {
	status int
	header http.Header
	body   []byte
	minted bool
	fault  bool
	// reason is a short, secret-free explanation for the log.
	reason string
}

// write sends rep, one byte per interval when interval > 0. It returns a
// note for the log when the answer could not be completed.
func (s *Server) write(w http.ResponseWriter, r *http.Request, rep *reply, interval time.Duration) string {
	h := w.Header()
	for k, v := range rep.header {
		h[k] = v
	}
	if h.Get("Date") == "" {
		// Clients compute clock skew from Date (DUPR's absolute expiry), so it
		// follows the simulator's clock, not the host's.
		h.Set("Date", s.now().UTC().Format(http.TimeFormat))
	}
	if rep.body != nil {
		h.Set("Content-Length", fmt.Sprint(len(rep.body)))
	}
	w.WriteHeader(rep.status)
	if interval <= 0 {
		_, _ = w.Write(rep.body)
		return ""
	}
	rc := http.NewResponseController(w)
	_ = rc.Flush()
	for i := range rep.body {
		if !s.wait(r.Context(), interval) {
			return fmt.Sprintf("trickle aborted after %d of %d bytes", i, len(rep.body))
		}
		if _, err := w.Write(rep.body[i : i+1]); err != nil {
			return "trickle aborted: " + err.Error()
		}
		if err := rc.Flush(); err != nil {
			return "trickle aborted: " + err.Error()
		}
	}
	return ""
}

// mediaType is the request's Content-Type without parameters, lowercased;
// empty when missing or unparsable.
func mediaType(r *http.Request) string {
	mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil {
		return ""
	}
	return mt
}

// repeated returns a form parameter sent more than once, if any. RFC 6749
// §3.2: "Request and response parameters MUST NOT be included more than once."
func repeated(form map[string][]string) string {
	keys := make([]string, 0, len(form))
	for k, v := range form {
		if len(v) > 1 {
			keys = append(keys, k)
		}
	}
	slices.Sort(keys)
	if len(keys) == 0 {
		return ""
	}
	return keys[0]
}
