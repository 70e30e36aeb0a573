package provider

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"
)

// TestOAuth2ExpirySources checks where a standard token answer's expiry
// comes from: expires_in or the JWT's exp, whichever ends first, then the
// operator's token_lifetime.
func TestOAuth2ExpirySources(t *testing.T) {
	jwtIn := func(d time.Duration) string {
		return testJWT(map[string]any{"iat": testNow.Unix(), "exp": testNow.Add(d).Unix()})
	}
	tests := []struct {
		name       string
		body       string
		options    Options
		wantExpiry time.Time
		wantSource string
	}{
		{
			name:       "expires_in alone decides",
			body:       `{"access_token":"opaque","expires_in":600}`,
			wantExpiry: testNow.Add(10 * time.Minute),
			wantSource: ExpiryExpiresIn,
		},
		{
			name:       "a JWT exp earlier than expires_in wins",
			body:       `{"access_token":"` + jwtIn(5*time.Minute) + `","expires_in":3600}`,
			wantExpiry: testNow.Add(5 * time.Minute),
			wantSource: ExpiryJWT,
		},
		{
			name:       "an expires_in earlier than the JWT exp wins",
			body:       `{"access_token":"` + jwtIn(2*time.Hour) + `","expires_in":1800}`,
			wantExpiry: testNow.Add(30 * time.Minute),
			wantSource: ExpiryExpiresIn,
		},
		{
			name:       "without expires_in the JWT exp decides",
			body:       `{"access_token":"` + jwtIn(20*time.Minute) + `"}`,
			wantExpiry: testNow.Add(20 * time.Minute),
			wantSource: ExpiryJWT,
		},
		{
			name:       "with neither, the operator's token_lifetime applies",
			body:       `{"access_token":"opaque"}`,
			options:    Options{"token_lifetime": "45m"},
			wantExpiry: testNow.Add(45 * time.Minute),
			wantSource: ExpiryConfigured,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := newPartner(t, func(*testing.T, *http.Request) {}, partnerAnswer{Body: tc.body})
			tok, err := Mint(t.Context(), oauth2{}, newRequest(p, "/token", tc.options))
			if err != nil {
				t.Fatalf("Mint: %v", err)
			}
			if !tok.ExpiresAt.Equal(tc.wantExpiry) || tok.ExpirySource != tc.wantSource {
				t.Errorf("expires %s from %q, want %s from %q", tok.ExpiresAt, tok.ExpirySource, tc.wantExpiry, tc.wantSource)
			}
		})
	}
}

// TestDinieTakesTheEarlierOfExpiresInAndTheJWTExp checks the same rule
// through Dinie, whose tokens are prefixed JWTs with an exp and whose
// answers carry expires_in.
func TestDinieTakesTheEarlierOfExpiresInAndTheJWTExp(t *testing.T) {
	token := "dinie_at_" + testJWT(map[string]any{"sub": "dinie_ci_1", "exp": testNow.Add(50 * time.Minute).Unix()})
	p := newPartner(t, func(*testing.T, *http.Request) {}, partnerAnswer{Body: `{"access_token":"` + token + `","token_type":"bearer","expires_in":3600}`})
	tok, err := Mint(t.Context(), dinie{}, newRequest(p, diniePath, nil))
	checkToken(t, tok, err, token, testNow.Add(50*time.Minute))
	if tok != nil && tok.ExpirySource != ExpiryJWT {
		t.Errorf("ExpirySource = %q, want %q", tok.ExpirySource, ExpiryJWT)
	}
}

// TestOAuth2Request checks the token request byte for byte for each client
// authentication method (RFC 6749 §2.3.1) with the scopes and token_params
// a config may add.
func TestOAuth2Request(t *testing.T) {
	const (
		form = "application/x-www-form-urlencoded"
		// The id and secret form-encoded, then joined and base64-encoded.
		basic = "Basic dGVzdC1jay02ZjZlOWYzZDp0ZXN0LWNzLTAwOGElMkJmNiUyRjNmJTNEMSUyNmZk"
	)
	tests := []struct {
		name    string
		options Options
		want    wantRequest
	}{
		{
			name: "client_secret_basic by default: the credentials in the Authorization header only",
			want: wantRequest{Path: "/token", Header: engineHeaders(map[string]string{"Content-Type": form, "Authorization": basic}),
				Body: "grant_type=client_credentials"},
		},
		{
			name:    "client_secret_post: the credentials in the form body, no Authorization header",
			options: Options{"auth_method": "client_secret_post"},
			want: wantRequest{Path: "/token", Header: engineHeaders(map[string]string{"Content-Type": form}),
				Body: "client_id=test-ck-6f6e9f3d&client_secret=test-cs-008a%2Bf6%2F3f%3D1%26fd&grant_type=client_credentials"},
		},
		{
			name:    "scopes are sent space-separated in scope",
			options: Options{"scopes": []string{"payments:read", "payments:write"}},
			want: wantRequest{Path: "/token", Header: engineHeaders(map[string]string{"Content-Type": form, "Authorization": basic}),
				Body: "grant_type=client_credentials&scope=payments%3Aread+payments%3Awrite"},
		},
		{
			name:    "token_params are added to the form",
			options: Options{"token_params": map[string]string{"audience": "https://api.partner.example", "resource": "ledger"}},
			want: wantRequest{Path: "/token", Header: engineHeaders(map[string]string{"Content-Type": form, "Authorization": basic}),
				Body: "audience=https%3A%2F%2Fapi.partner.example&grant_type=client_credentials&resource=ledger"},
		},
		{
			name: "client_secret_post with scopes and token_params",
			options: Options{"auth_method": "client_secret_post", "scopes": []string{"read"},
				"token_params": map[string]string{"audience": "ledger"}},
			want: wantRequest{Path: "/token", Header: engineHeaders(map[string]string{"Content-Type": form}),
				Body: "audience=ledger&client_id=test-ck-6f6e9f3d&client_secret=test-cs-008a%2Bf6%2F3f%3D1%26fd&grant_type=client_credentials&scope=read"},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := newPartner(t, func(t *testing.T, r *http.Request) { checkRequest(t, r, tc.want) },
				partnerAnswer{Body: `{"access_token":"opaque","token_type":"Bearer","expires_in":3600,"scope":"read"}`})
			tok, err := Mint(t.Context(), oauth2{}, newRequest(p, "/token", tc.options))
			checkToken(t, tok, err, "opaque", testNow.Add(time.Hour))
			if tok != nil && tok.Extra["scope"] != "read" {
				t.Errorf("Extra = %v, want the partner's scope", tok.Extra)
			}
			if p.Calls() != 1 {
				t.Errorf("%d requests, want 1", p.Calls())
			}
		})
	}
}

// TestOAuth2WithoutTokenLifetimeRefusesAnAnswerWithoutExpiry: with no
// expires_in, no JWT exp and no token_lifetime the expiry is unknown, and
// the token is refused rather than guessed at.
func TestOAuth2WithoutTokenLifetimeRefusesAnAnswerWithoutExpiry(t *testing.T) {
	p := newPartner(t, func(*testing.T, *http.Request) {}, partnerAnswer{Body: `{"access_token":"opaque","token_type":"Bearer"}`})
	tok, err := Mint(t.Context(), oauth2{}, newRequest(p, "/token", Options{}))
	checkMintFailure(t, tok, err, "OAuth2", http.StatusOK, []string{"answer says nothing about when the token expires"}, false)
}

// TestOAuth2ErrorShowsErrorURI checks that the error_uri of an OAuth2 error
// (RFC 6749 §5.2) is shown beside error and error_description, and that a
// secret echoed in it is redacted like in every other field.
func TestOAuth2ErrorShowsErrorURI(t *testing.T) {
	// A description that fits the message limit, then a URI that does not.
	long := strings.TrimSpace(strings.Repeat("The client is not allowed to request this scope. ", 4))
	longURI := "https://idp.example/docs/oauth2/errors/invalid_scope/explained-at-length-for-operators-and-developers"
	tests := []struct {
		name   string
		status int
		body   string
		// want is the whole error text.
		want string
	}{
		{
			name:   "error_uri follows error and error_description",
			status: http.StatusBadRequest,
			body:   `{"error":"invalid_scope","error_description":"Scope ledger is unknown","error_uri":"https://idp.example/errors/invalid_scope"}`,
			want:   `OAuth2 token endpoint answered HTTP 400: error="invalid_scope" error_description="Scope ledger is unknown" error_uri="https://idp.example/errors/invalid_scope"`,
		},
		{
			name:   "error_uri is shown without error_description",
			status: http.StatusUnauthorized,
			body:   `{"error":"invalid_client","error_uri":"https://idp.example/errors/invalid_client"}`,
			want:   `OAuth2 token endpoint answered HTTP 401: error="invalid_client" error_uri="https://idp.example/errors/invalid_client"`,
		},
		{
			name:   "a secret the partner echoes form-encoded in error_uri is redacted",
			status: http.StatusUnauthorized,
			body:   `{"error":"invalid_client","error_uri":"https://idp.example/errors?client_secret=` + url.QueryEscape(testSecret) + `"}`,
			want:   `OAuth2 token endpoint answered HTTP 401: error="invalid_client" error_uri="https://idp.example/errors?client_secret=[redacted]"`,
		},
		{
			name:   "a secret the partner echoes JSON-escaped in error_uri is redacted",
			status: http.StatusUnauthorized,
			body:   `{"error":"invalid_client","error_uri":"https:\/\/idp.example\/errors\/` + strings.ReplaceAll(testSecret, "/", `\/`) + `"}`,
			want:   `OAuth2 token endpoint answered HTTP 401: error="invalid_client" error_uri="https://idp.example/errors/[redacted]"`,
		},
		{
			name:   "the length limit cuts a long error_uri, not the description before it",
			status: http.StatusBadRequest,
			body:   `{"error":"invalid_scope","error_description":"` + long + `","error_uri":"` + longURI + `"}`,
			want: `OAuth2 token endpoint answered HTTP 400: ` +
				string([]rune(`error="invalid_scope" error_description="` + long + `" error_uri="` + longURI + `"`)[:maxMessageLength]) + "…",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := newPartner(t, func(*testing.T, *http.Request) {}, partnerAnswer{Status: tc.status, Body: tc.body})
			tok, err := Mint(t.Context(), oauth2{}, newRequest(p, "/token", Options{}))
			checkMintFailure(t, tok, err, "OAuth2", tc.status, nil, true)
			if err != nil && err.Error() != tc.want {
				t.Errorf("error text\n got  %s\n want %s", err, tc.want)
			}
		})
	}
}
