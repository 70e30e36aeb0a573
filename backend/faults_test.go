package backend

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/vault/sdk/logical"

	"github.com/partnertoken/vault-plugin-secrets-partnertoken/internal/partnersim"
)

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
			resp, err := env.request(logical.ReadOperation, "token/p", nil)
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

// TestResponseHeadersAreBounded: the partner transport reads at most a
// small header block, as it reads at most 1 MiB of body; a partner (or
// something in front of it) sending more gets its answer refused.
func TestResponseHeadersAreBounded(t *testing.T) {
	env := newTestEnv(t)
	sim := startSimulator(t, partnersim.Options{})
	if err := sim.Inject(partnersim.OAuth2, partnersim.Fault{OversizeHeader: true}); err != nil {
		t.Fatal(err)
	}
	client := partnersim.DefaultClients()[partnersim.OAuth2]
	req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, sim.TokenURL(partnersim.OAuth2), strings.NewReader("grant_type=client_credentials"))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(client.ID, client.Secret)
	resp, err := env.b.client.Do(req)
	if err == nil {
		resp.Body.Close()
		t.Fatalf("a 128 KiB header was read (status %d)", resp.StatusCode)
	}
	if !strings.Contains(err.Error(), "response headers exceeded 65536 bytes") {
		t.Fatalf("want the header bound named, got %v", err)
	}
}
