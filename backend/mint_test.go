package backend

import (
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/partnertoken/vault-plugin-secrets-partnertoken/internal/partnersim"

	"github.com/hashicorp/vault/sdk/logical"
)

func TestTemporaryFailuresAreRetried(t *testing.T) {
	for _, status := range []int{http.StatusRequestTimeout, http.StatusInternalServerError, http.StatusBadGateway, http.StatusServiceUnavailable} {
		t.Run(http.StatusText(status), func(t *testing.T) {
			env := newTestEnv(t)
			env.writeConfig("p", nil)
			env.partner.inject(partnersim.Fault{Status: status}, partnersim.Fault{Status: status})
			if got := env.readToken("p").Data["access_token"]; got != env.partner.token(1) {
				t.Fatalf("got %v", got)
			}
			if n := env.partner.requests(); n != 3 {
				t.Fatalf("partner saw %d requests, want 2 failures and 1 success", n)
			}
		})
	}
}

func TestRefusalsAreNeverRetried(t *testing.T) {
	for _, status := range []int{http.StatusBadRequest, http.StatusUnauthorized, http.StatusForbidden} {
		t.Run(http.StatusText(status), func(t *testing.T) {
			env := newTestEnv(t)
			env.writeConfig("p", nil)
			env.partner.failNext(status)
			if _, err := env.request(logical.ReadOperation, "token/p", nil); err == nil {
				t.Fatal("read succeeded")
			}
			if n := env.partner.requests(); n != 1 {
				t.Fatalf("partner saw %d requests, want 1", n)
			}
		})
	}
}

func TestRetryAfterIsHonouredWithinTheBudget(t *testing.T) {
	env := newTestEnv(t)
	env.writeConfig("p", nil)
	env.partner.inject(partnersim.Fault{Status: http.StatusTooManyRequests, RetryAfter: "1"})
	done := make(chan struct{})
	var resp *logical.Response
	var err error
	go func() {
		defer close(done)
		resp, err = env.request(logical.ReadOperation, "token/p", nil)
	}()
	// The mint waits on the engine's clock for the second the partner asked.
	if err := env.clock.BlockUntilContext(t.Context(), 1); err != nil {
		t.Fatal(err)
	}
	env.clock.Advance(time.Second - time.Millisecond)
	if n := env.partner.requests(); n != 1 {
		t.Fatalf("the partner saw %d requests before its Retry-After of 1s had passed, want 1", n)
	}
	env.clock.Advance(time.Millisecond)
	within(t, "the read after the partner's wait", done)
	if err != nil || resp.Data["access_token"] != env.partner.token(1) {
		t.Fatalf("got %v %v", resp, err)
	}
}

func TestRetryAfterBeyondTheBudgetSaysSo(t *testing.T) {
	env := newTestEnv(t)
	env.writeConfig("p", map[string]any{"timeout": "2s"})
	env.partner.inject(partnersim.Fault{Status: http.StatusTooManyRequests, RetryAfter: "30"})
	_, err := env.request(logical.ReadOperation, "token/p", nil)
	if err == nil || !strings.Contains(err.Error(), "HTTP 429") || !strings.Contains(err.Error(), "asked to wait 30s before trying again, beyond the 2s timeout") {
		t.Fatalf("got %v", err)
	}
	if n := env.partner.requests(); n != 1 {
		t.Fatalf("partner saw %d requests, want 1", n)
	}
}

func TestUnreachablePartnerExhaustsTheBudgetClearly(t *testing.T) {
	env := newTestEnv(t)
	env.b = env.newBackendWith(options{retry: &retryPolicy{initial: 10 * time.Millisecond, max: 100 * time.Millisecond}})
	// A port nothing listens on: connections are refused at once.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	env.writeConfig("p", map[string]any{"token_url": "http://" + addr + "/token", "timeout": "1s"})
	// The back-off between attempts passes on the engine's clock, which
	// spends the budget.
	_, err = env.requestWaiting(100*time.Millisecond, logical.ReadOperation, "token/p")
	if err == nil || !strings.Contains(err.Error(), "gave up after") || !strings.Contains(err.Error(), "within the 1s timeout") {
		t.Fatalf("got %v", err)
	}
}

func TestRotationFallsBackToTheNextSecretAndPromotesIt(t *testing.T) {
	const nextSecret = "the-next-secret-42"
	env := newTestEnv(t)
	env.writeConfig("p", map[string]any{"next_client_secret": nextSecret})
	if got := env.readToken("p").Data["access_token"]; got != env.partner.token(1) {
		t.Fatalf("got %v", got)
	}
	// The partner retires the current secret.
	env.partner.acceptSecrets(nextSecret)
	env.clock.Advance(time.Minute)
	env.mustOK(logical.UpdateOperation, "refresh/p", nil)
	cfg := env.storedConfig("p")
	if cfg.ClientSecret != nextSecret || cfg.NextClientSecret != "" {
		t.Fatal("the next secret was not promoted")
	}
	if got := env.readToken("p").Data["access_token"]; got != env.partner.token(2) {
		t.Fatalf("after the rotation got %v", got)
	}
	data := env.mustOK(logical.ReadOperation, "config/p", nil).Data
	if data["next_client_secret_set"] != false || data["client_secret_set"] != true {
		t.Fatalf("config read after promotion: %v", data)
	}
}

// TestPartnerFaults drives every kind of partner misbehaviour through the
// engine against the simulator: each ends in a clear error or a token,
// never a panic, an empty token or a cached failure.
func TestPartnerFaults(t *testing.T) {
	tests := []struct {
		name    string
		partner string
		faults  []partnersim.Fault
		timeout string
		want    string // substring of the error; "" when the read must succeed
	}{
		{"malformed JSON with 200 is refused", partnersim.Podero, []partnersim.Fault{{Malformed: true}}, "", "answer is not the expected JSON"},
		{"a body over 1 MiB is refused", partnersim.Dinie, []partnersim.Fault{{Oversize: true}}, "", "larger than 1048576 bytes"},
		{"a 200 without a token is refused", partnersim.OAuth2, []partnersim.Fault{{Status: 200, Body: `{"token_type":"bearer","expires_in":3600}`, ContentType: "application/json"}}, "", "answer has no token"},
		{"a negative lifetime is refused", partnersim.OAuth2, []partnersim.Fault{{Status: 200, Body: `{"access_token":"abc","expires_in":-5}`, ContentType: "application/json"}}, "", "already expired"},
		{"an absurd lifetime is refused", partnersim.Podero, []partnersim.Fault{{Status: 200, Body: `{"access_token":"abc","expires_in":99999999999,"token_type":"Bearer"}`, ContentType: "application/json"}}, "", "implausibly long"},
		{"a lifetime of the wrong type is refused", partnersim.Dinie, []partnersim.Fault{{Status: 200, Body: `{"access_token":"abc","expires_in":{"s":1},"token_type":"bearer"}`, ContentType: "application/json"}}, "", "not the expected JSON"},
		{"a body that trickles past the budget times out clearly", partnersim.DUPR, []partnersim.Fault{{Trickle: true, TrickleInterval: 300 * time.Millisecond, Times: 10}}, "1s", "no complete answer before the deadline (within the 1s timeout)"},
		{"a slow answer past the budget times out clearly", partnersim.Setu, []partnersim.Fault{{Delay: 5 * time.Second, Times: 10}}, "1s", "within the 1s timeout"},
		{"503 then a token is retried to success", partnersim.DOKU, []partnersim.Fault{{Status: 503}, {Status: 502}}, "", ""},
		{"429 with Retry-After then a token succeeds", partnersim.Dinie, []partnersim.Fault{{Status: 429, RetryAfter: "1"}}, "", ""},
		{"429 with X-RateLimit-Reset is honoured", partnersim.Dinie, []partnersim.Fault{{Status: 429, RateLimitReset: time.Now().Add(time.Second)}}, "", ""},
		{"a refusal with the partner's body names it", partnersim.DUPR, []partnersim.Fault{{Status: 403}}, "", "HTTP 403"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			// Real time for the simulator: these faults play out on the
			// wire. The engine's clock starts at the same time, for DOKU's
			// timestamp window.
			env := newTestEnvAt(t, time.Now())
			sim := startSimulator(t, partnersim.Options{})
			data := simConfig(sim, tt.partner, "")
			if tt.timeout != "" {
				data["timeout"] = tt.timeout
			}
			env.mustOK(logical.CreateOperation, "config/p", data)
			for _, f := range tt.faults {
				if err := sim.Inject(tt.partner, f); err != nil {
					t.Fatal(err)
				}
			}
			// A partner's Retry-After passes on the engine's clock.
			resp, err := env.requestWaiting(time.Second, logical.ReadOperation, "token/p")
			if tt.want == "" {
				if err != nil || resp.Data["access_token"] == "" {
					t.Fatalf("got %v %v, want a token", resp, err)
				}
				return
			}
			if err == nil {
				t.Fatalf("got a token %v, want an error about %q", resp.Data["access_token"], tt.want)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error %q does not say %q", err, tt.want)
			}
			if strings.Contains(err.Error(), data["client_secret"].(string)) {
				t.Fatalf("error echoes the secret: %v", err)
			}
			if tok, _ := readToken(t.Context(), env.storage, "p"); tok != nil {
				t.Fatal("a failed mint left a token in storage")
			}
		})
	}
}

func TestRedirectsAreNotFollowed(t *testing.T) {
	env := newTestEnv(t)
	// Not a partner: a server that only redirects.
	redirect := httptest.NewServer(http.RedirectHandler("https://attacker.example/token", http.StatusTemporaryRedirect))
	t.Cleanup(redirect.Close)
	env.writeConfig("p", map[string]any{"token_url": redirect.URL + "/token", "client_secret": testClientSecret})
	_, err := env.request(logical.ReadOperation, "token/p", nil)
	if err == nil || !strings.Contains(err.Error(), "HTTP 307") {
		t.Fatalf("got %v, want the redirect refused", err)
	}
}
