package provider

import (
	"encoding/base64"
	"maps"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"
)

const poderoPath = "/oauth2/token/"

func TestPoderoSpec(t *testing.T) {
	checkSpec(t, podero{}.Spec(), wantSpec{
		name: "podero", displayName: "Podero",
		docs:            "https://developers.podero.com/partner-api/getting-started/get-access-token",
		defaultLifetime: 0, // none: every answer carries expires_in
		environments: map[string]string{
			"production": "https://app.podero.com/oauth2/token/",
			"sandbox":    "https://sandbox-app.podero.com/oauth2/token/",
		},
		environmentCount: 2,
	})
}

// poderoRequest is the documented request: Basic credentials of the
// id:secret pair form-encoded first (RFC 6749 §2.3.1, as
// django-oauth-toolkit decodes them), JSON body, Cache-Control: no-cache.
func poderoRequest() wantRequest {
	return wantRequest{
		Path: poderoPath,
		Header: engineHeaders(map[string]string{
			// base64("test-ck-6f6e9f3d:test-cs-008a%2Bf6%2F3f%3D1%26fd"), not of the raw pair.
			"Authorization": "Basic dGVzdC1jay02ZjZlOWYzZDp0ZXN0LWNzLTAwOGElMkJmNiUyRjNmJTNEMSUyNmZk",
			"Content-Type":  "application/json",
			"Cache-Control": "no-cache",
		}),
		Body: `{"grant_type":"client_credentials"}`,
	}
}

func TestPoderoRequestFormEncodesTheCredentials(t *testing.T) {
	plain := "Basic " + base64.StdEncoding.EncodeToString([]byte(testClientID+":"+testSecret))
	formEncoded := "Basic " + base64.StdEncoding.EncodeToString([]byte(url.QueryEscape(testClientID)+":"+url.QueryEscape(testSecret)))
	if got := poderoRequest().Header["Authorization"]; got != formEncoded || got == plain {
		t.Errorf("expected Authorization %q is not the form-encoded id:secret %q", got, formEncoded)
	}
}

// TestPoderoBasicPairDecodesAsDjangoOAuthToolkitDoes checks, for ids and
// secrets with every character form encoding touches, that the pair sent
// splits at its first colon and unquote_plus'es back to what was
// configured, as oauth2_validators._authenticate_basic_auth does.
func TestPoderoBasicPairDecodesAsDjangoOAuthToolkitDoes(t *testing.T) {
	for _, c := range []struct{ id, secret string }{
		{"podero-client", "plain-secret-123"},
		{"podero-client", "s3cr+t/with%25:colon and space"},
		{"id:with:colons", "a+b/c%d:e"},
		{"ünïcode", "sécret€ ~-._"},
	} {
		header := basicAuth(url.QueryEscape(c.id), url.QueryEscape(c.secret))
		raw, err := base64.StdEncoding.DecodeString(header[len("Basic "):])
		if err != nil {
			t.Fatal(err)
		}
		rawID, rawSecret, _ := strings.Cut(string(raw), ":")
		id, err1 := url.QueryUnescape(rawID)
		secret, err2 := url.QueryUnescape(rawSecret)
		if err1 != nil || err2 != nil || id != c.id || secret != c.secret {
			t.Errorf("%q:%q decodes to %q:%q (%v, %v)", c.id, c.secret, id, secret, err1, err2)
		}
	}
}

func TestPoderoMint(t *testing.T) {
	tests := []struct {
		name       string
		body       string
		wantToken  string
		wantExpiry time.Time
		wantExtra  map[string]string
	}{
		{
			name:       "the documented answer lives its expires_in of 10 hours and keeps the scope",
			body:       `{"access_token":"PaZDOD5UwzbGOFsQr34LQ7JUYOj3yK","expires_in":36000,"token_type":"Bearer","scope":"read write"}`,
			wantToken:  "PaZDOD5UwzbGOFsQr34LQ7JUYOj3yK",
			wantExpiry: testNow.Add(10 * time.Hour),
			wantExtra:  map[string]string{"scope": "read write"},
		},
		{
			name:       "expires_in given as a string is understood",
			body:       `{"access_token":"PaZDOD5UwzbGOFsQr34LQ7JUYOj3yK","expires_in":"3600","token_type":"Bearer"}`,
			wantToken:  "PaZDOD5UwzbGOFsQr34LQ7JUYOj3yK",
			wantExpiry: testNow.Add(time.Hour),
		},
		{
			name:       "a lowercase bearer token_type is normalised to Bearer",
			body:       `{"access_token":"PaZDOD5UwzbGOFsQr34LQ7JUYOj3yK","expires_in":36000,"token_type":"bearer","scope":""}`,
			wantToken:  "PaZDOD5UwzbGOFsQr34LQ7JUYOj3yK",
			wantExpiry: testNow.Add(10 * time.Hour),
		},
		{
			name:       "a missing token_type is taken as Bearer",
			body:       `{"access_token":"PaZDOD5UwzbGOFsQr34LQ7JUYOj3yK","expires_in":36000}`,
			wantToken:  "PaZDOD5UwzbGOFsQr34LQ7JUYOj3yK",
			wantExpiry: testNow.Add(10 * time.Hour),
		},
		{
			name:       "a refresh token in the answer is never kept",
			body:       `{"access_token":"PaZDOD5UwzbGOFsQr34LQ7JUYOj3yK","expires_in":36000,"token_type":"Bearer","refresh_token":"r3fr3sh"}`,
			wantToken:  "PaZDOD5UwzbGOFsQr34LQ7JUYOj3yK",
			wantExpiry: testNow.Add(10 * time.Hour),
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := newPartner(t, func(t *testing.T, r *http.Request) { checkRequest(t, r, poderoRequest()) }, partnerAnswer{Body: tc.body})
			tok, err := Mint(t.Context(), podero{}, newRequest(p, poderoPath, nil))
			checkToken(t, tok, err, tc.wantToken, tc.wantExpiry)
			if tok != nil && !maps.Equal(tok.Extra, tc.wantExtra) {
				t.Errorf("Extra = %v, want %v", tok.Extra, tc.wantExtra)
			}
			if p.Calls() != 1 {
				t.Errorf("%d requests, want 1", p.Calls())
			}
		})
	}
}

func TestPoderoMintFailures(t *testing.T) {
	tests := []struct {
		name       string
		answer     partnerAnswer
		wantStatus int
		want       []string
		refused    bool
	}{
		{
			name:       "unknown client credentials are refused with django-oauth-toolkit's error",
			answer:     partnerAnswer{Status: 401, Body: `{"error":"invalid_client"}`},
			wantStatus: 401,
			want:       []string{`error="invalid_client"`},
			refused:    true,
		},
		{
			name:       "a grant the application does not allow is refused with the error description",
			answer:     partnerAnswer{Status: 400, Body: `{"error":"unauthorized_client","error_description":"Client is not authorized for client_credentials"}`},
			wantStatus: 400,
			want:       []string{`error="unauthorized_client"`, `error_description="Client is not authorized for client_credentials"`},
			refused:    true,
		},
		{
			name:       "a 403 echoing the Authorization header does not leak the credentials",
			answer:     partnerAnswer{Status: 403, Body: `{"detail":"bad credentials ` + poderoRequest().Header["Authorization"] + `"}`},
			wantStatus: 403,
			want:       []string{"bad credentials Basic [redacted]"},
			refused:    true,
		},
		{
			name:       "a 200 without access_token is an error, never an empty token",
			answer:     partnerAnswer{Body: `{"expires_in":36000,"token_type":"Bearer"}`},
			wantStatus: 200,
			want:       []string{"no token"},
		},
		{
			name:       "a token_type other than bearer is refused",
			answer:     partnerAnswer{Body: `{"access_token":"abc","expires_in":36000,"token_type":"mac"}`},
			wantStatus: 200,
			want:       []string{`token_type "mac" is not supported`},
		},
		{
			name:       "an opaque token without expires_in has no known expiry",
			answer:     partnerAnswer{Body: `{"access_token":"abc","token_type":"Bearer"}`},
			wantStatus: 200,
			want:       []string{"nothing about when the token expires"},
		},
		{
			name:       "expires_in of zero is already expired",
			answer:     partnerAnswer{Body: `{"access_token":"abc","expires_in":0}`},
			wantStatus: 200,
			want:       []string{"already expired"},
		},
		{
			name:       "a negative expires_in is already expired",
			answer:     partnerAnswer{Body: `{"access_token":"abc","expires_in":-36000}`},
			wantStatus: 200,
			want:       []string{"already expired"},
		},
		{
			name:       "expires_in in milliseconds by mistake is implausibly long",
			answer:     partnerAnswer{Body: `{"access_token":"abc","expires_in":36000000000}`},
			wantStatus: 200,
			want:       []string{"implausibly long"},
		},
		{
			name:       "expires_in that is not a number is malformed",
			answer:     partnerAnswer{Body: `{"access_token":"abc","expires_in":"ten hours"}`},
			wantStatus: 200,
			want:       []string{"not the expected JSON"},
		},
		{
			name:       "an access_token that is a number is the wrong type",
			answer:     partnerAnswer{Body: `{"access_token":12345,"expires_in":36000}`},
			wantStatus: 200,
			want:       []string{`field "access_token" has the wrong type`},
		},
		{
			name:       "a 200 that is not JSON is malformed",
			answer:     partnerAnswer{Header: map[string]string{"Content-Type": "text/html"}, Body: "<html>Podero</html>"},
			wantStatus: 200,
			want:       []string{"not the expected JSON"},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := newPartner(t, func(t *testing.T, r *http.Request) { checkRequest(t, r, poderoRequest()) }, tc.answer)
			tok, err := Mint(t.Context(), podero{}, newRequest(p, poderoPath, nil))
			checkMintFailure(t, tok, err, "Podero", tc.wantStatus, tc.want, tc.refused)
		})
	}
}
