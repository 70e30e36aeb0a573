package backend

import (
	"encoding/json"
	"fmt"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/vault/sdk/logical"

	"github.com/partnertoken/vault-plugin-secrets-partnertoken/internal/partnersim"
	"github.com/partnertoken/vault-plugin-secrets-partnertoken/provider"
)

// TestPoderoSecretWithFormCharactersMintsThroughTheEngine configures a
// Podero secret holding + / % : and reads its token against the simulator,
// which decodes the Basic pair as django-oauth-toolkit does.
func TestPoderoSecretWithFormCharactersMintsThroughTheEngine(t *testing.T) {
	env := newTestEnv(t)
	sim := startSimulator(t, partnersim.Options{Now: env.clock.Now})
	client := partnersim.Client{ID: "podero-client", Secret: "s3+cr/et%20:with-colon"}
	if err := sim.SetClient(partnersim.Podero, client); err != nil {
		t.Fatal(err)
	}
	env.mustOK(logical.CreateOperation, "config/podero", map[string]any{
		"provider": "podero", "token_url": sim.TokenURL(partnersim.Podero), "client_id": client.ID, "client_secret": client.Secret,
	})
	tok := env.readToken("podero")
	if active, _ := sim.Introspect(partnersim.Podero, tok.Data["access_token"].(string)); !active {
		t.Fatal("the partner does not know the token")
	}
}

// TestDUPRExpirySourcesThroughTheEngine has the simulated DUPR answer with
// a Java serialiser's expiry and with none, and checks the expiry the
// engine derives and the source its mint log names.
func TestDUPRExpirySourcesThroughTheEngine(t *testing.T) {
	for _, tc := range []struct {
		layout, source string
	}{
		{partnersim.DUPRExpiryDocumented, "expiry"},
		{partnersim.DUPRExpiryJackson, "expiry"},
		{partnersim.DUPRNoExpiry, "jwt_exp"},
	} {
		t.Run(tc.layout, func(t *testing.T) {
			env := newTestEnv(t)
			sim := startSimulator(t, partnersim.Options{Now: env.clock.Now, DUPRExpiryLayout: tc.layout})
			const lifetime = 40 * time.Minute
			if err := sim.SetLifetime(partnersim.DUPR, lifetime); err != nil {
				t.Fatal(err)
			}
			env.mustOK(logical.CreateOperation, "config/dupr", simConfig(sim, partnersim.DUPR, ""))
			tok := env.readToken("dupr")
			// An expiry counted against Date loses the second Date may
			// have truncated (provider.serverExpiry).
			var dateLoss time.Duration
			if tc.source == "expiry" {
				dateLoss = time.Second
			}
			if want := env.clock.Now().Add(lifetime - dateLoss).UTC().Format(time.RFC3339); tok.Data["expires_at"] != want {
				t.Errorf("expires_at = %v, want %s", tok.Data["expires_at"], want)
			}
			if want := "expiry_source=" + tc.source; !strings.Contains(env.logs.String(), want) {
				t.Errorf("the mint log does not say %s:\n%s", want, env.logs.String())
			}
		})
	}
}

// TestPartnersOwnWordsReachTheReader checks that what a partner says in
// its answer reaches the reader, whatever the HTTP status.
func TestPartnersOwnWordsReachTheReader(t *testing.T) {
	for _, tc := range []struct {
		name, partner, secret string
		fault                 *partnersim.Fault
		want                  []string
	}{
		{
			name: "DOKU's failure sent with a 200", partner: partnersim.DOKU,
			fault: &partnersim.Fault{Status: 200, ContentType: "application/json",
				Body: `{"status":"FAILED","response_code":"INVALID_SIGNATURE","message":"Invalid Header Signature"}`},
			want: []string{"HTTP 200", "no token", `status="FAILED"`, `message="Invalid Header Signature"`, `response_code="INVALID_SIGNATURE"`},
		},
		{
			name: "DUPR's envelope without a token sent with a 200", partner: partnersim.DUPR,
			fault: &partnersim.Fault{Status: 200, ContentType: "application/json", Body: `{"status":"SUCCESS","message":"Key has no partner authority"}`},
			want:  []string{"HTTP 200", "no result", `message="Key has no partner authority"`},
		},
		{
			name: "Dinie's problem for wrong credentials", partner: partnersim.Dinie, secret: "definitely-the-wrong-secret",
			want: []string{"HTTP 401", `title="Unauthorized"`, `detail="Invalid client credentials."`, `code="invalid_client"`, `type="https://api.dinie.com.br/errors/invalid_client"`},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			env := newTestEnvAt(t, time.Now())
			sim := startSimulator(t, partnersim.Options{})
			env.mustOK(logical.CreateOperation, "config/p", simConfig(sim, tc.partner, tc.secret))
			if tc.fault != nil {
				if err := sim.Inject(tc.partner, *tc.fault); err != nil {
					t.Fatal(err)
				}
			}
			_, err := env.request(logical.ReadOperation, "token/p", nil)
			if err == nil {
				t.Fatal("got a token")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not say %s", err, w)
				}
			}
		})
	}
}

// TestAnEchoedSecretReachesNeitherReaderStatusNorLog has the partner quote
// a secret with quotes, backslashes, runs of spaces and a no-break space,
// JSON-escaped, at the 300-character cut, and checks the reader's error,
// status/<name> and the log.
func TestAnEchoedSecretReachesNeitherReaderStatusNorLog(t *testing.T) {
	const secret = "se\"cr\\et  with   runs and\u00a0nbsp"
	env := newTestEnvAt(t, time.Now())
	sim := startSimulator(t, partnersim.Options{})
	client := partnersim.DefaultClients()[partnersim.OAuth2]
	client.Secret = secret
	if err := sim.SetClient(partnersim.OAuth2, client); err != nil {
		t.Fatal(err)
	}
	env.mustOK(logical.CreateOperation, "config/p", simConfig(sim, partnersim.OAuth2, secret))
	for _, description := range []string{
		"client secret " + secret + " is wrong",
		strings.Repeat("x", 240) + " " + secret,
	} {
		body, _ := json.Marshal(map[string]string{"error": "invalid_client", "error_description": description})
		if err := sim.Inject(partnersim.OAuth2, partnersim.Fault{Status: 401, ContentType: "application/json", Body: string(body)}); err != nil {
			t.Fatal(err)
		}
		_, err := env.request(logical.ReadOperation, "token/p", nil)
		if err == nil {
			t.Fatal("got a token")
		}
		if !strings.Contains(err.Error(), "invalid_client") {
			t.Errorf("error %q is not the partner's refusal", err)
		}
		status := env.mustOK(logical.ReadOperation, "status/p", nil).Data
		for where, text := range map[string]string{"error": err.Error(), "status": fmt.Sprint(status["last_error"]), "log": env.logs.String()} {
			if w, leaks := holdsPartOfSecret(text, secret); leaks {
				t.Errorf("the %s holds %q of the secret: %s", where, w, text)
			}
		}
		// A config write clears the remembered refusal for the next round.
		env.mustOK(logical.UpdateOperation, "config/p", map[string]any{"client_secret": secret})
	}
}

// holdsPartOfSecret reports whether text holds 8 consecutive characters of
// secret, as is or with its white space collapsed.
func holdsPartOfSecret(text, secret string) (string, bool) {
	for _, shape := range []string{secret, strings.Join(strings.Fields(secret), " ")} {
		runes := []rune(shape)
		for i := 0; i+8 <= len(runes); i++ {
			if w := string(runes[i : i+8]); strings.Contains(text, w) {
				return w, true
			}
		}
	}
	return "", false
}

// TestDUPRRefusalsAreRememberedAsRefusals has the simulated DUPR refuse a
// wrong secret (401, as DUPR's errors page says) and a wrong path (403, as
// its gateway was seen to answer): both are refusals, tried once and
// remembered, never retried.
func TestDUPRRefusalsAreRememberedAsRefusals(t *testing.T) {
	for _, tc := range []struct {
		name, secret, path string
		status             int
		want               string
	}{
		{"a wrong secret", "definitely-the-wrong-secret", "", 401, `message="Your API credentials are wrong or expired."`},
		{"a wrong path", "", "/dupr/token", 403, `message="Authentication error. Please provide a valid API key."`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			env := newTestEnv(t)
			sim := startSimulator(t, partnersim.Options{Now: env.clock.Now})
			cfg := simConfig(sim, partnersim.DUPR, tc.secret)
			if tc.path != "" {
				cfg["token_url"] = sim.URL() + tc.path
			}
			env.mustOK(logical.CreateOperation, "config/dupr", cfg)
			_, err := env.request(logical.ReadOperation, "token/dupr", nil)
			if err == nil || !strings.Contains(err.Error(), fmt.Sprintf("HTTP %d", tc.status)) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("read: %v, want HTTP %d with %s", err, tc.status, tc.want)
			}
			if n := sim.Requests(partnersim.DUPR); n != 1 {
				t.Errorf("DUPR saw %d requests, want 1: a refusal is never retried", n)
			}
			status := env.mustOK(logical.ReadOperation, "status/dupr", nil).Data
			if status["backoff"] != "credentials refused" || status["last_error_status"] != tc.status {
				t.Errorf("status backoff = %v, last_error_status = %v; want credentials refused, %d", status["backoff"], status["last_error_status"], tc.status)
			}
		})
	}
}

// TestDOKUsLongestValidTimeMintsThroughTheEngine asks the simulated DOKU
// for the longest valid_time the engine accepts: the simulator grants it
// (it refuses from the same line) and the engine believes the token.
func TestDOKUsLongestValidTimeMintsThroughTheEngine(t *testing.T) {
	env := newTestEnvAt(t, time.Now())
	sim := startSimulator(t, partnersim.Options{})
	cfg := simConfig(sim, partnersim.DOKU, "")
	cfg["valid_time"] = strconv.Itoa(provider.DOKUMaxValidTime)
	env.mustOK(logical.CreateOperation, "config/doku", cfg)
	env.readToken("doku")
	if want := "lifetime=" + provider.MaxLifetime.String(); !strings.Contains(env.logs.String(), want) {
		t.Errorf("the mint log does not say %s:\n%s", want, env.logs.String())
	}

	cfg["valid_time"] = strconv.Itoa(provider.DOKUMaxValidTime + 1)
	resp, err := env.request(logical.UpdateOperation, "config/doku", cfg)
	want := fmt.Sprintf("valid_time: must be at most %d minutes (366 days)", provider.DOKUMaxValidTime)
	if err != nil || resp == nil || !resp.IsError() || !strings.Contains(resp.Error().Error(), want) {
		t.Fatalf("a valid_time past the line: %v, %v; want a 400 saying %s", resp, err, want)
	}
}

// TestDinieOnItsOtherDocumentedBaseTellsTheOperatorWhatToSet has Dinie
// serve the developer portal's /v3 base, not the /api/v3 of its SDKs that
// the built-in URLs follow: the read's error and status/<name> name the
// portal's URL for the environment, and setting token_url to it mints.
func TestDinieOnItsOtherDocumentedBaseTellsTheOperatorWhatToSet(t *testing.T) {
	env := newTestEnv(t)
	sim := startSimulator(t, partnersim.Options{Now: env.clock.Now, DinieBase: partnersim.DinieBasePortal})
	providers := provider.Builtin()
	providers["dinie"] = dinieAt{sim: sim.URL()}
	env.b = env.newBackendWith(providers)
	client := partnersim.DefaultClients()[partnersim.Dinie]
	env.mustOK(logical.CreateOperation, "config/dinie", map[string]any{
		"provider": "dinie", "environment": "production", "client_id": client.ID, "client_secret": client.Secret,
	})

	other := sim.URL() + "/dinie/v3/auth/token"
	want := "; Dinie documents this token URL two ways: set token_url to the other, " + other
	_, err := env.request(logical.ReadOperation, "token/dinie", nil)
	if err == nil || !strings.Contains(err.Error(), "HTTP 404") || !strings.HasSuffix(err.Error(), want) {
		t.Fatalf("read: %v, want HTTP 404 ending %q", err, want)
	}
	status := env.mustOK(logical.ReadOperation, "status/dinie", nil).Data
	if msg, _ := status["last_error"].(string); !strings.HasSuffix(msg, want) || status["last_error_status"] != 404 {
		t.Errorf("status last_error = %v (%v), want HTTP 404 ending %q", status["last_error"], status["last_error_status"], want)
	}

	env.mustOK(logical.UpdateOperation, "config/dinie", map[string]any{"token_url": other, "client_secret": client.Secret})
	if tok := env.readToken("dinie").Data["access_token"].(string); !strings.HasPrefix(tok, "dinie_at_") {
		t.Errorf("token %q is not Dinie's", tok)
	}
}

// dinieAt is Dinie with its environments' hosts moved to the simulator at
// sim and their paths kept, as DNS pointing Dinie's hosts there would.
type dinieAt struct {
	provider.Dinie
	sim string
}

func (d dinieAt) Spec() provider.Spec {
	spec := d.Dinie.Spec()
	spec.Environments = slices.Clone(spec.Environments)
	move := func(raw string) string {
		u, err := url.Parse(raw)
		if err != nil {
			panic(err)
		}
		return d.sim + "/dinie" + u.Path
	}
	for i, env := range spec.Environments {
		spec.Environments[i].TokenURL, spec.Environments[i].OtherDocumentedURL = move(env.TokenURL), move(env.OtherDocumentedURL)
	}
	return spec
}
