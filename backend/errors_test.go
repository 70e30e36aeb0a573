package backend

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/vault/sdk/logical"

	"github.com/partnertoken/vault-plugin-secrets-partnertoken/internal/partnersim"
	"github.com/partnertoken/vault-plugin-secrets-partnertoken/internal/provider"
)

// TestPartnerRefusalsNameThePartner checks that each partner's own refusal
// reaches the reader with its status and message, without the secret.
func TestPartnerRefusalsNameThePartner(t *testing.T) {
	for _, partner := range partnersim.Partners() {
		t.Run(partner, func(t *testing.T) {
			env := newTestEnv(t)
			sim := startSimulator(t, partnersim.Options{Now: env.clock.Now})
			const wrongSecret = "definitely-the-wrong-secret"
			env.mustOK(logical.CreateOperation, "config/"+partner, simConfig(sim, partner, wrongSecret))
			_, err := env.request(logical.ReadOperation, "token/"+partner, nil)
			if err == nil {
				t.Fatal("a wrong secret minted a token")
			}
			spec := env.b.providers[partner].Spec()
			for _, want := range []string{spec.DisplayName, "answered HTTP 4"} {
				if !contains(err.Error(), want) {
					t.Errorf("error %q does not mention %q", err, want)
				}
			}
			if contains(err.Error(), wrongSecret) {
				t.Fatalf("error echoes the secret: %v", err)
			}
			if sim.Mints(partner) != 0 {
				t.Fatal("simulator minted for a wrong secret")
			}
		})
	}
}

var contains = strings.Contains

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

func TestPartnerRefusalIsAClearErrorWithoutTheSecret(t *testing.T) {
	env := newTestEnv(t)
	env.writeConfig("p", nil)
	env.partner.failNext(http.StatusUnauthorized)
	_, err := env.request(logical.ReadOperation, "token/p", nil)
	var coded logical.HTTPCodedError
	if !errors.As(err, &coded) || coded.Code() != http.StatusBadGateway {
		t.Fatalf("got %v, want a 502", err)
	}
	for _, want := range []string{`config "p"`, "OAuth2", "HTTP 401", "client is disabled"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not mention %q", err, want)
		}
	}
	if strings.Contains(err.Error(), testClientSecret) {
		t.Fatalf("error echoes the secret: %v", err)
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
	providers["dinie"] = dinieAt{Provider: providers["dinie"], sim: sim.URL()}
	env.b = env.newBackendWith(options{providers: providers})
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
	provider.Provider
	sim string
}

func (d dinieAt) Spec() provider.Spec {
	spec := d.Provider.Spec()
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
