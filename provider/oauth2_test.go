package provider

import (
	"net/http"
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
			tok, err := OAuth2{}.Mint(t.Context(), newRequest(p, "/token", tc.options))
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
	tok, err := Dinie{}.Mint(t.Context(), newRequest(p, diniePath, nil))
	checkToken(t, tok, err, token, testNow.Add(50*time.Minute))
	if tok != nil && tok.ExpirySource != ExpiryJWT {
		t.Errorf("ExpirySource = %q, want %q", tok.ExpirySource, ExpiryJWT)
	}
}
