package provider

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"

	"github.com/partnertoken/vault-plugin-secrets-partnertoken/internal/signing"
)

// hmacSecret is a client secret long enough to sign HS256 (32 bytes).
const hmacSecret = "test-cs-hs256-0123456789abcdefghij"

var testKey = sync.OnceValue(func() *signing.Key {
	k, err := signing.GenerateKey(signing.ES256, "test-kid")
	if err != nil {
		panic(err)
	}
	return k
})

// assertionOf verifies a JWS from a request with key (or the HS256
// secret) and returns its header's kid and its claims.
func assertionOf(t *testing.T, jws string, alg string, key any) (kid string, claims map[string]any) {
	t.Helper()
	parsed, err := jose.ParseSigned(jws, []jose.SignatureAlgorithm{jose.SignatureAlgorithm(alg)})
	if err != nil {
		t.Fatalf("the assertion is not a %s JWS: %v", alg, err)
	}
	payload, err := parsed.Verify(key)
	if err != nil {
		t.Fatalf("the assertion does not verify: %v", err)
	}
	if err := json.Unmarshal(payload, &claims); err != nil {
		t.Fatal(err)
	}
	return parsed.Signatures[0].Protected.KeyID, claims
}

// formOf reads the request's form, reporting a repeated parameter.
func formOf(t *testing.T, r *http.Request) url.Values {
	t.Helper()
	if err := r.ParseForm(); err != nil {
		t.Errorf("the body is not a form: %v", err)
	}
	for k, v := range r.PostForm {
		if len(v) != 1 {
			t.Errorf("parameter %s sent %d times", k, len(v))
		}
	}
	return r.PostForm
}

func checkClaims(t *testing.T, claims map[string]any, want map[string]any) {
	t.Helper()
	for name, v := range want {
		if claims[name] != v {
			t.Errorf("claim %s = %v, want %v", name, claims[name], v)
		}
	}
	if jti, _ := claims["jti"].(string); jti == "" {
		t.Error("the assertion has no jti")
	}
	if claims["iat"] != float64(testNow.Unix()) {
		t.Errorf("iat = %v, want the request's clock %d", claims["iat"], testNow.Unix())
	}
}

// TestOAuth2ClientAssertions checks private_key_jwt and client_secret_jwt
// (RFC 7523 §2.2 and §3): the form carries client_id, the assertion type
// and an assertion whose iss and sub are the client id and whose aud is
// the token URL; no Authorization header and no client_secret travel.
func TestOAuth2ClientAssertions(t *testing.T) {
	for _, tc := range []struct {
		name    string
		options Options
		alg     string
		verify  any
		kid     string
		life    time.Duration
		aud     func(tokenURL string) string
	}{
		{"private_key_jwt signs with the config's key", Options{"auth_method": "private_key_jwt"},
			signing.ES256, testKey().Public(), "test-kid", 5 * time.Minute, func(u string) string { return u }},
		{"client_secret_jwt signs HS256 with the secret", Options{"auth_method": "client_secret_jwt"},
			signing.HS256, []byte(hmacSecret), "", 5 * time.Minute, func(u string) string { return u }},
		{"assertion_audience replaces the token URL", Options{"auth_method": "private_key_jwt", "assertion_audience": "https://as.partner.example"},
			signing.ES256, testKey().Public(), "test-kid", 5 * time.Minute, func(string) string { return "https://as.partner.example" }},
		{"a client assertion lives at most 5 minutes whatever assertion_lifetime says", Options{"auth_method": "private_key_jwt", "assertion_lifetime": "30m"},
			signing.ES256, testKey().Public(), "test-kid", 5 * time.Minute, func(u string) string { return u }},
		{"a shorter assertion_lifetime is kept", Options{"auth_method": "private_key_jwt", "assertion_lifetime": "90s"},
			signing.ES256, testKey().Public(), "test-kid", 90 * time.Second, func(u string) string { return u }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var tokenURL string
			p := newPartner(t, func(t *testing.T, r *http.Request) {
				if r.Header.Get("Authorization") != "" {
					t.Error("an Authorization header travels with a client assertion (RFC 6749 section 2.3: one method per request)")
				}
				form := formOf(t, r)
				if form.Get("grant_type") != "client_credentials" || form.Get("client_id") != testClientID ||
					form.Get("client_assertion_type") != "urn:ietf:params:oauth:client-assertion-type:jwt-bearer" || form.Has("client_secret") {
					t.Errorf("form = %v", form)
				}
				kid, claims := assertionOf(t, form.Get("client_assertion"), tc.alg, tc.verify)
				if kid != tc.kid {
					t.Errorf("kid = %q, want %q", kid, tc.kid)
				}
				checkClaims(t, claims, map[string]any{
					"iss": testClientID, "sub": testClientID, "aud": tc.aud(tokenURL),
					"exp": float64(testNow.Add(tc.life).Unix()),
				})
			}, partnerAnswer{Body: `{"access_token":"opaque","expires_in":3600}`})
			req := newRequest(p, "/token", tc.options)
			tokenURL = req.TokenURL
			req.ClientSecret, req.Key = hmacSecret, testKey()
			tok, err := Mint(t.Context(), oauth2{}, req)
			checkToken(t, tok, err, "opaque", testNow.Add(time.Hour))
		})
	}
}

// TestOAuth2TLSClientAuthSendsTheClientID: with tls_client_auth the
// certificate is the credential (the client's transport presents it) and
// the form names the client (RFC 8705 §2); no secret of any kind travels.
func TestOAuth2TLSClientAuthSendsTheClientID(t *testing.T) {
	want := wantRequest{Path: "/token", Header: engineHeaders(map[string]string{"Content-Type": "application/x-www-form-urlencoded"}),
		Body: "client_id=test-ck-6f6e9f3d&grant_type=client_credentials"}
	p := newPartner(t, func(t *testing.T, r *http.Request) { checkRequest(t, r, want) }, partnerAnswer{Body: `{"access_token":"opaque","expires_in":60}`})
	req := newRequest(p, "/token", Options{"auth_method": "tls_client_auth"})
	req.ClientSecret, req.Key = "", testKey()
	tok, err := Mint(t.Context(), oauth2{}, req)
	checkToken(t, tok, err, "opaque", testNow.Add(time.Minute))
}

// TestOAuth2JWTBearerGrant checks the grant of RFC 7523 §2.1: grant_type
// and assertion, iss from assertion_issuer (default the client id), sub
// only when set, aud the token URL, exp from assertion_lifetime up to an
// hour, the further claims; the client authenticates only if it has a
// secret.
func TestOAuth2JWTBearerGrant(t *testing.T) {
	for _, tc := range []struct {
		name       string
		options    Options
		secret     string
		wantClaims map[string]any
		wantForm   map[string]string
		wantBasic  bool
	}{
		{
			name:       "Google's shape: the issuer, scope as a claim, an hour, no client authentication",
			options:    Options{"grant_type": "jwt_bearer", "assertion_lifetime": "1h", "assertion_claims": map[string]string{"scope": "https://www.googleapis.com/auth/cloud-platform"}},
			wantClaims: map[string]any{"iss": testClientID, "scope": "https://www.googleapis.com/auth/cloud-platform", "exp": float64(testNow.Add(time.Hour).Unix())},
		},
		{
			name:       "Salesforce's shape: issuer, subject and audience given, three minutes",
			options:    Options{"grant_type": "jwt_bearer", "assertion_issuer": "3MVG9-consumer-key", "assertion_subject": "integration@partner.example", "assertion_audience": "https://login.salesforce.com", "assertion_lifetime": "3m"},
			wantClaims: map[string]any{"iss": "3MVG9-consumer-key", "sub": "integration@partner.example", "aud": "https://login.salesforce.com", "exp": float64(testNow.Add(3 * time.Minute).Unix())},
		},
		{
			name:       "Box's shape: the client secret in the form besides the assertion",
			options:    Options{"grant_type": "jwt_bearer", "auth_method": "client_secret_post", "assertion_subject": "enterprise-42"},
			secret:     testSecret,
			wantClaims: map[string]any{"iss": testClientID, "sub": "enterprise-42", "exp": float64(testNow.Add(5 * time.Minute).Unix())},
			wantForm:   map[string]string{"client_id": testClientID, "client_secret": testSecret},
		},
		{
			name:       "a client secret with the default method goes in the Authorization header",
			options:    Options{"grant_type": "jwt_bearer", "scopes": []string{"read"}},
			secret:     testSecret,
			wantClaims: map[string]any{"iss": testClientID},
			wantForm:   map[string]string{"scope": "read"},
			wantBasic:  true,
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var tokenURL string
			p := newPartner(t, func(t *testing.T, r *http.Request) {
				if got := r.Header.Get("Authorization") != ""; got != tc.wantBasic {
					t.Errorf("Authorization header sent: %v, want %v", got, tc.wantBasic)
				}
				form := formOf(t, r)
				if form.Get("grant_type") != "urn:ietf:params:oauth:grant-type:jwt-bearer" {
					t.Errorf("grant_type = %q", form.Get("grant_type"))
				}
				for k, v := range tc.wantForm {
					if form.Get(k) != v {
						t.Errorf("form %s = %q, want %q", k, form.Get(k), v)
					}
				}
				if tc.wantForm["client_id"] == "" && form.Has("client_id") || form.Has("client_assertion") {
					t.Errorf("form = %v: the client is authenticated twice or without need", form)
				}
				kid, claims := assertionOf(t, form.Get("assertion"), signing.ES256, testKey().Public())
				if kid != "test-kid" {
					t.Errorf("kid = %q", kid)
				}
				want := map[string]any{"aud": tokenURL}
				for k, v := range tc.wantClaims {
					want[k] = v
				}
				checkClaims(t, claims, want)
				if _, set := tc.wantClaims["sub"]; !set && claims["sub"] != nil {
					t.Errorf("sub = %v, want none", claims["sub"])
				}
			}, partnerAnswer{Body: `{"access_token":"ya29.opaque","expires_in":3599,"token_type":"Bearer"}`})
			req := newRequest(p, "/token", tc.options)
			tokenURL = req.TokenURL
			req.ClientSecret, req.Key = tc.secret, testKey()
			tok, err := Mint(t.Context(), oauth2{}, req)
			checkToken(t, tok, err, "ya29.opaque", testNow.Add(3599*time.Second))
		})
	}
}

// TestOAuth2WithoutTheNeededCredentialAsksNoPartner: a config that lost
// its key or holds a short secret fails before any request, for good.
func TestOAuth2WithoutTheNeededCredentialAsksNoPartner(t *testing.T) {
	for _, tc := range []struct {
		name    string
		options Options
		secret  string
		want    string
	}{
		{"private_key_jwt without a key", Options{"auth_method": "private_key_jwt"}, testSecret, "auth_method=private_key_jwt needs a private key"},
		{"jwt_bearer without a key", Options{"grant_type": "jwt_bearer"}, "", "grant_type=jwt_bearer needs a private key"},
		{"client_secret_jwt with a short secret", Options{"auth_method": "client_secret_jwt"}, "short-secret", "client_secret is 12 bytes; HS256 needs a secret of at least 32 bytes"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := newPartner(t, func(*testing.T, *http.Request) {}, partnerAnswer{Body: `{}`})
			req := newRequest(p, "/token", tc.options)
			req.ClientSecret = tc.secret
			tok, err := Mint(t.Context(), oauth2{}, req)
			perr := checkMintFailure(t, tok, err, "OAuth2", 0, []string{tc.want}, false)
			if perr.Transient() || p.Calls() != 0 {
				t.Errorf("transient %v, %d requests: want a permanent failure that asks no one", perr.Transient(), p.Calls())
			}
		})
	}
}

// TestOAuth2RedactsAnEchoedAssertion: a partner that quotes the client
// assertion's signature back must not put a usable copy into the error
// (and so the log): the signature is redacted.
func TestOAuth2RedactsAnEchoedAssertion(t *testing.T) {
	var sent string
	p := newPartner(t, func(*testing.T, *http.Request) {}, partnerAnswer{})
	p.Config.Handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_ = r.ParseForm()
		sent = r.PostForm.Get("client_assertion")
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusUnauthorized)
		signature := sent[strings.LastIndexByte(sent, '.')+1:]
		_ = json.NewEncoder(w).Encode(map[string]string{"error": "invalid_client", "error_description": "signature " + signature + " does not verify"})
	})
	req := newRequest(p, "/token", Options{"auth_method": "private_key_jwt"})
	req.Key = testKey()
	_, err := Mint(t.Context(), oauth2{}, req)
	signature := sent[strings.LastIndexByte(sent, '.')+1:]
	if err == nil || strings.Contains(err.Error(), signature[:12]) || !strings.Contains(err.Error(), "does not verify") {
		t.Errorf("error = %v: want the partner's words without the assertion's signature", err)
	}
}

func TestOAuth2CredentialsAndCheck(t *testing.T) {
	spec := oauth2{}.Spec()
	if !spec.Signs {
		t.Error("oauth2 does not say it signs assertions")
	}
	for _, tc := range []struct {
		options Options
		want    Credentials
	}{
		{Options{}, Credentials{Secret: "auth_method=client_secret_basic"}},
		{Options{"auth_method": "client_secret_post"}, Credentials{Secret: "auth_method=client_secret_post"}},
		{Options{"auth_method": "client_secret_jwt"}, Credentials{Secret: "auth_method=client_secret_jwt", SecretSigns: true}},
		{Options{"auth_method": "private_key_jwt"}, Credentials{Key: "auth_method=private_key_jwt"}},
		{Options{"auth_method": "tls_client_auth"}, Credentials{Certificate: "auth_method=tls_client_auth"}},
		{Options{"grant_type": "jwt_bearer"}, Credentials{Key: "grant_type=jwt_bearer"}},
		{Options{"grant_type": "jwt_bearer", "auth_method": "tls_client_auth"}, Credentials{Key: "grant_type=jwt_bearer", Certificate: "auth_method=tls_client_auth"}},
	} {
		if got := spec.Credentials(tc.options); got != tc.want {
			t.Errorf("Credentials(%v) = %+v, want %+v", tc.options, got, tc.want)
		}
	}
	if err := spec.Check(Options{"assertion_subject": "someone"}); err == nil || !strings.Contains(err.Error(), "assertion_subject applies to grant_type=jwt_bearer only") {
		t.Errorf("assertion_subject with client_credentials: %v", err)
	}
	if err := spec.Check(Options{"grant_type": "jwt_bearer", "assertion_subject": "someone"}); err != nil {
		t.Errorf("assertion_subject with jwt_bearer: %v", err)
	}
	for name, value := range map[string]any{"assertion_lifetime": "2h", "assertion_claims": map[string]string{"iss": "x"}, "token_params": map[string]string{"client_assertion": "x"}} {
		f, _ := spec.Field(name)
		if err := f.Validate(value); err == nil {
			t.Errorf("%s = %v was accepted", name, value)
		}
	}
}
