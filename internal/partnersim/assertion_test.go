package partnersim

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
)

// Assertions are built here with go-jose directly, not with the engine's
// signing package, so that every claim can be wrong in every way.

type testSigner struct {
	alg jose.SignatureAlgorithm
	key any
	kid string
}

func newSigner(t *testing.T, alg jose.SignatureAlgorithm, kid string) testSigner {
	t.Helper()
	var key crypto.Signer
	var err error
	switch alg {
	case jose.RS256, jose.PS256:
		key, err = rsa.GenerateKey(rand.Reader, 2048)
	case jose.ES256:
		key, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	case jose.EdDSA:
		_, key, err = ed25519.GenerateKey(rand.Reader)
	}
	if err != nil {
		t.Fatal(err)
	}
	return testSigner{alg: alg, key: key, kid: kid}
}

// jwk is the signer's public key as a client registers it.
func (s testSigner) jwk() jose.JSONWebKey {
	return jose.JSONWebKey{Key: s.key.(crypto.Signer).Public(), KeyID: s.kid, Algorithm: string(s.alg), Use: "sig"}
}

// sign signs claims with extra header fields (typ) as given.
func (s testSigner) sign(t *testing.T, claims map[string]any, header map[string]any) string {
	t.Helper()
	opts := &jose.SignerOptions{}
	if s.kid != "" {
		opts = opts.WithHeader("kid", s.kid)
	}
	for k, v := range header {
		opts = opts.WithHeader(jose.HeaderKey(k), v)
	}
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: s.alg, Key: s.key}, opts)
	if err != nil {
		t.Fatal(err)
	}
	payload, _ := json.Marshal(claims)
	jws, err := signer.Sign(payload)
	if err != nil {
		t.Fatal(err)
	}
	out, err := jws.CompactSerialize()
	if err != nil {
		t.Fatal(err)
	}
	return out
}

var jtiCount int

// claimsFor are valid claims of a client assertion for tokenURL, edited.
func claimsFor(id, tokenURL string, edit func(map[string]any)) map[string]any {
	jtiCount++
	c := map[string]any{
		"iss": id, "sub": id, "aud": tokenURL,
		"iat": epoch.Unix(), "exp": epoch.Add(5 * time.Minute).Unix(),
		"jti": "jti-" + strings.Repeat("x", jtiCount%7) + time.Duration(jtiCount).String(),
	}
	if edit != nil {
		edit(c)
	}
	return c
}

func assertionForm(assertion string, extra url.Values) string {
	form := url.Values{
		"grant_type":            {"client_credentials"},
		"client_assertion_type": {"urn:ietf:params:oauth:client-assertion-type:jwt-bearer"},
		"client_assertion":      {assertion},
	}
	for k, v := range extra {
		form[k] = v
	}
	return form.Encode()
}

var formHeader = map[string]string{"Content-Type": formType}

func TestOAuth2ClientAssertionsAreCheckedLikeAStrictServer(t *testing.T) {
	s, _ := start(t, Options{})
	es := newSigner(t, jose.ES256, "es-1")
	rs := newSigner(t, jose.RS256, "rs-1")
	ed := newSigner(t, jose.EdDSA, "")
	stranger := newSigner(t, jose.ES256, "es-1") // same kid, another key
	c := demo(OAuth2)
	c.JWKS = &jose.JSONWebKeySet{Keys: []jose.JSONWebKey{es.jwk(), rs.jwk(), ed.jwk()}}
	c.Audience = "https://as.partner.example"
	if err := s.SetClient(OAuth2, c); err != nil {
		t.Fatal(err)
	}
	tokenURL := s.TokenURL(OAuth2)
	hs := testSigner{alg: jose.HS256, key: []byte(c.Secret)}
	wrongHS := testSigner{alg: jose.HS256, key: []byte(strings.Repeat("w", 40))}
	ok := func(edit func(map[string]any)) map[string]any { return claimsFor(c.ID, tokenURL, edit) }

	for _, tc := range []struct {
		name   string
		jws    string
		extra  url.Values
		status int
		want   string
	}{
		{"ES256 with a registered kid", es.sign(t, ok(nil), map[string]any{"typ": "JWT"}), nil, 200, ""},
		{"RS256 with the client_id in the form", rs.sign(t, ok(nil), nil), url.Values{"client_id": {c.ID}}, 200, ""},
		{"EdDSA without a kid: every registered key is tried", ed.sign(t, ok(nil), nil), nil, 200, ""},
		{"HS256 with the client secret (client_secret_jwt)", hs.sign(t, ok(nil), nil), nil, 200, ""},
		{"the partner's own audience", es.sign(t, ok(func(m map[string]any) { m["aud"] = []string{"https://as.partner.example"} }), nil), nil, 200, ""},
		{"HS256 with another secret", wrongHS.sign(t, ok(nil), nil), nil, 401, "HS256 signature does not verify"},
		{"a registered kid on another key", stranger.sign(t, ok(nil), nil), nil, 401, "does not verify under the client's registered keys"},
		{"an unknown kid", newSigner(t, jose.ES256, "es-9").sign(t, ok(nil), nil), nil, 401, `no key registered for the client has kid "es-9"`},
		{"another issuer", es.sign(t, ok(func(m map[string]any) { m["iss"] = "someone" }), nil), nil, 401, `iss "someone" is not the client`},
		{"a subject that is not the client", es.sign(t, ok(func(m map[string]any) { m["sub"] = "someone" }), nil), nil, 401, "sub must be the client id"},
		{"no subject", es.sign(t, ok(func(m map[string]any) { delete(m, "sub") }), nil), nil, 401, "has no sub"},
		{"another audience", es.sign(t, ok(func(m map[string]any) { m["aud"] = "https://elsewhere.example/token" }), nil), nil, 401, "names neither this token endpoint"},
		{"no jti", es.sign(t, ok(func(m map[string]any) { delete(m, "jti") }), nil), nil, 401, "has no jti"},
		{"no exp", es.sign(t, ok(func(m map[string]any) { delete(m, "exp") }), nil), nil, 401, "has no exp"},
		{"an expired assertion", es.sign(t, ok(func(m map[string]any) { m["exp"] = epoch.Add(-time.Minute).Unix() }), nil), nil, 401, "has expired"},
		{"an exp ten minutes away", es.sign(t, ok(func(m map[string]any) { m["exp"] = epoch.Add(10 * time.Minute).Unix() }), nil), nil, 401, "exp is more than 5m0s away"},
		{"an iat in the future", es.sign(t, ok(func(m map[string]any) { m["iat"] = epoch.Add(time.Minute).Unix() }), nil), nil, 401, "issued in the future"},
		{"an nbf in the future", es.sign(t, ok(func(m map[string]any) { m["nbf"] = epoch.Add(time.Minute).Unix() }), nil), nil, 401, "not valid yet"},
		{"exp minus iat over five minutes", es.sign(t, ok(func(m map[string]any) { m["iat"] = epoch.Add(-2 * time.Minute).Unix() }), nil), nil, 401, "lives longer than 5m0s"},
		{"a typ other than JWT", es.sign(t, ok(nil), map[string]any{"typ": "at+jwt"}), nil, 401, `typ is "at+jwt"`},
		{"an unsigned assertion", "eyJhbGciOiJub25lIn0." + strings.Split(es.sign(t, ok(nil), nil), ".")[1] + ".", nil, 401, "not a JWS signed with one of"},
		{"a JSON-serialised JWS", `{"payload":"e30","signatures":[]}`, nil, 401, "not a compact JWS"},
		{"another assertion type", es.sign(t, ok(nil), nil), url.Values{"client_assertion_type": {"urn:ietf:params:oauth:client-assertion-type:saml2-bearer"}}, 401, "client_assertion_type must be"},
		{"a client_id of another client", es.sign(t, ok(nil), nil), url.Values{"client_id": {"someone"}}, 401, "client_id is not the assertion's client"},
		{"a client secret besides the assertion", es.sign(t, ok(nil), nil), url.Values{"client_id": {c.ID}, "client_secret": {c.Secret}}, 400, "use one authentication method"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res := post(t, tokenURL, formHeader, assertionForm(tc.jws, tc.extra))
			if tc.status == 200 {
				res.expect(t, 200, map[string]any{"token_type": "Bearer"})
				return
			}
			m := res.expect(t, tc.status, nil)
			if d, _ := m["error_description"].(string); !strings.Contains(d, tc.want) {
				t.Errorf("error_description = %q, want %q", d, tc.want)
			}
		})
	}

	// A replayed assertion is refused, however valid it was the first time.
	jws := es.sign(t, ok(nil), nil)
	post(t, tokenURL, formHeader, assertionForm(jws, nil)).expect(t, 200, nil)
	m := post(t, tokenURL, formHeader, assertionForm(jws, nil)).expect(t, 401, map[string]any{"error": "invalid_client"})
	if d, _ := m["error_description"].(string); !strings.Contains(d, "jti was used before") {
		t.Errorf("a replay: %q", d)
	}
	// Basic and an assertion at once: one method per request.
	post(t, tokenURL, map[string]string{"Content-Type": formType, "Authorization": basic(c.ID, c.Secret)}, assertionForm(es.sign(t, ok(nil), nil), nil)).
		expect(t, 400, map[string]any{"error": "invalid_request"})

	var kids []string
	for _, p := range s.Presented(OAuth2) {
		if p.Method == "private_key_jwt" && p.KeyID != "" {
			kids = append(kids, p.KeyID)
		}
	}
	if len(kids) == 0 || kids[0] != "es-1" {
		t.Errorf("presented kids = %v, want the assertions' kids recorded", kids)
	}
}

func TestOAuth2JWTBearerGrant(t *testing.T) {
	s, _ := start(t, Options{})
	sa := newSigner(t, jose.RS256, "sa-key")
	c := Client{ID: "broker@partner-project.iam.gserviceaccount.com", JWKS: &jose.JSONWebKeySet{Keys: []jose.JSONWebKey{sa.jwk()}}}
	if err := s.SetClient(OAuth2, c); err != nil {
		t.Fatal(err)
	}
	tokenURL := s.TokenURL(OAuth2)
	grant := func(claims map[string]any, extra url.Values) string {
		form := url.Values{"grant_type": {"urn:ietf:params:oauth:grant-type:jwt-bearer"}, "assertion": {sa.sign(t, claims, nil)}}
		for k, v := range extra {
			form[k] = v
		}
		return form.Encode()
	}
	valid := func(edit func(map[string]any)) map[string]any {
		return claimsFor(c.ID, tokenURL, func(m map[string]any) {
			m["sub"], m["exp"], m["scope"] = "user@partner.example", epoch.Add(time.Hour).Unix(), "https://www.googleapis.com/auth/cloud-platform"
			if edit != nil {
				edit(m)
			}
		})
	}
	post(t, tokenURL, formHeader, grant(valid(nil), nil)).expect(t, 200, map[string]any{"token_type": "Bearer"})
	post(t, tokenURL, formHeader, grant(valid(nil), url.Values{"client_id": {c.ID}})).expect(t, 200, nil)

	for _, tc := range []struct {
		name   string
		body   string
		status int
		error  string
		want   string
	}{
		{"no sub", grant(valid(func(m map[string]any) { delete(m, "sub") }), nil), 400, "invalid_grant", "has no sub"},
		{"two hours", grant(valid(func(m map[string]any) { m["exp"] = epoch.Add(2 * time.Hour).Unix() }), nil), 400, "invalid_grant", "more than 1h0m0s away"},
		{"another issuer", grant(valid(func(m map[string]any) { m["iss"] = "other@p.iam.gserviceaccount.com" }), nil), 400, "invalid_grant", "is not the client"},
		{"no assertion", "grant_type=" + url.QueryEscape("urn:ietf:params:oauth:grant-type:jwt-bearer"), 400, "invalid_request", "missing assertion"},
		{"an HS256 assertion", url.Values{"grant_type": {"urn:ietf:params:oauth:grant-type:jwt-bearer"},
			"assertion": {testSigner{alg: jose.HS256, key: []byte(strings.Repeat("k", 32))}.sign(t, valid(nil), nil)}}.Encode(), 400, "invalid_grant", "not a JWS signed with one of RS256, PS256, ES256, EdDSA"},
		{"a client_id of nobody", grant(valid(nil), url.Values{"client_id": {"nobody"}}), 401, "invalid_client", "not registered for tls_client_auth"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := post(t, tokenURL, formHeader, tc.body).expect(t, tc.status, map[string]any{"error": tc.error})
			if d, _ := m["error_description"].(string); !strings.Contains(d, tc.want) {
				t.Errorf("error_description = %q, want %q", d, tc.want)
			}
		})
	}

	// Box's shape: the client secret in the form besides the assertion.
	c.Secret = "box-client-secret-0123456789"
	if err := s.SetClient(OAuth2, c); err != nil {
		t.Fatal(err)
	}
	post(t, tokenURL, formHeader, grant(valid(nil), url.Values{"client_id": {c.ID}, "client_secret": {c.Secret}})).expect(t, 200, nil)
	post(t, tokenURL, formHeader, grant(valid(nil), url.Values{"client_id": {c.ID}, "client_secret": {"wrong-secret"}})).
		expect(t, 401, map[string]any{"error": "invalid_client"})
}

func TestSetClientRefusesWhatNoPartnerWouldRegister(t *testing.T) {
	s := New(Options{})
	key := newSigner(t, jose.ES256, "k")
	private := jose.JSONWebKey{Key: key.key, KeyID: "k"}
	for _, tc := range []struct {
		name string
		c    Client
		want string
	}{
		{"no id", Client{Secret: "s"}, "id is required"},
		{"no credential", Client{ID: "c"}, "give a secret, jwks or tls_client_auth_subject_dn"},
		{"an empty jwks", Client{ID: "c", JWKS: &jose.JSONWebKeySet{}}, "jwks holds no keys"},
		{"a private key in the jwks", Client{ID: "c", JWKS: &jose.JSONWebKeySet{Keys: []jose.JSONWebKey{private}}}, "jwks key 1 is not a valid public key"},
	} {
		if err := s.SetClient(OAuth2, tc.c); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want %q", tc.name, err, tc.want)
		}
	}
	if err := s.SetClient(OAuth2, Client{ID: "c", JWKS: &jose.JSONWebKeySet{Keys: []jose.JSONWebKey{key.jwk()}}}); err != nil {
		t.Errorf("a client with a public jwks only: %v", err)
	}
}

func TestAdminRegistersKeysAndIssuesCertificates(t *testing.T) {
	s, _ := start(t, Options{TLSAddr: "127.0.0.1:0"})
	key := newSigner(t, jose.EdDSA, "ed-1")
	jwks, _ := json.Marshal(jose.JSONWebKeySet{Keys: []jose.JSONWebKey{key.jwk()}})
	body := `{"id":"c-1","jwks":` + string(jwks) + `,"tls_client_auth_subject_dn":"CN=c-1","audience":"https://as.example"}`
	res := send(t, http.MethodPut, s.URL()+"/_sim/clients/oauth2", map[string]string{"Content-Type": "application/json"}, body)
	if res.status != http.StatusNoContent {
		t.Fatalf("registering keys: %d %s", res.status, res.body)
	}
	if got := s.client(OAuth2); got.JWKS == nil || len(got.JWKS.Keys) != 1 || got.CertificateSubject != "CN=c-1" || got.Audience != "https://as.example" {
		t.Errorf("client = %+v", got)
	}
	res = send(t, http.MethodPost, s.URL()+"/_sim/certificates", nil, `{"common_name":"c-1","lifetime":"240h"}`)
	m := res.expect(t, http.StatusOK, nil)
	if cert, _ := m["certificate"].(string); !strings.HasPrefix(cert, "-----BEGIN CERTIFICATE-----") {
		t.Errorf("certificate = %q", cert)
	}

	plain, _ := start(t, Options{})
	res = send(t, http.MethodPost, plain.URL()+"/_sim/certificates", nil, `{"common_name":"c-1","lifetime":"240h"}`)
	if m := res.expect(t, http.StatusBadRequest, nil); !strings.Contains(m["error"].(string), "serves no TLS") {
		t.Errorf("without TLS: %v", m)
	}
}
