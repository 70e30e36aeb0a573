package provider

import (
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"
)

const setuPath = "/auth/token"

// The documented sample answer of Setu's partner token page: a Keycloak JWT
// (realm fd) with iat 1637242569 and exp 1637242869, i.e. 5 minutes.
const (
	setuSampleAccessToken  = "eyJhbGciOiJSUzI1NiIsInR5cCIgOiAiSldUIiwia2lkIiA6ICJQMmNLU05oQ1dIbHRyVjExRldMMHE0M3dzN1FJOWN2cExhdU1pQ3pOZ09vIn0.eyJleHAiOjE2MzcyNDI4NjksImlhdCI6MTYzNzI0MjU2OSwianRpIjoiN2I4Y2NlOGQtOWI4ZC00NWFjLWE1NWQtZDBhMWM2MmVkMTMxIiwiaXNzIjoiaHR0cHM6Ly9hdXRoLWRldi5zZXR1LmNvL2F1dGgvcmVhbG1zL2ZkIiwiYXVkIjoiYWNjb3VudCIsInN1YiI6IjVlMGVlZGIwLWQyZDktNDg4My04ZmI0LTIxY2RjZjZiNzFmMCIsInR5cCI6IkJlYXJlciIsImF6cCI6InRlc3QiLCJzZXNzaW9uX3N0YXRlIjoiMDAwMjM0ODItNTBjOC00YzdjLWJkODgtNzllZTE5NzVhOTFhIiwiYWNyIjoiMSIsInJlYWxtX2FjY2VzcyI6eyJyb2xlcyI6WyJvZmZsaW5lX2FjY2VzcyIsInVtYV9hdXRob3JpemF0aW9uIl19LCJyZXNvdXJjZV9hY2Nlc3MiOnsiYWNjb3VudCI6eyJyb2xlcyI6WyJtYW5hZ2UtYWNjb3VudCIsIm1hbmFnZS1hY2NvdW50LWxpbmtzIiwidmlldy1wcm9maWxlIl19fSwic2NvcGUiOiJwcm9maWxlIGVtYWlsIiwiZW1haWxfdmVyaWZpZWQiOmZhbHNlLCJjbGllbnRIb3N0IjoiMzUuMjQ0LjQ4LjcxIiwiY2xpZW50SWQiOiJ0ZXN0IiwiZ3JvdXBzIjpbIm9mZmxpbmVfYWNjZXNzIiwidW1hX2F1dGhvcml6YXRpb24iXSwicHJlZmVycmVkX3VzZXJuYW1lIjoic2VydmljZS1hY2NvdW50LXRlc3QiLCJjbGllbnRBZGRyZXNzIjoiMzUuMjQ0LjQ4LjcxIn0.RkbgE1K8JgoUewkbOTK19TKPma2hiTv-qcg2SW7CZEaeiroKljDByVeeWVNVmThPmm4ExnZvj6L8k4pRSUsbBqeYBaji6qhx6w0S5z7hDq-A6P4wBXTVf_k5m_yv3zARNdcASxNJMwjK0QuJG6T5-L44HCfxrQuvsOGp9sNCXs_VS1lemUesgdoz_8WIGkOSdfE1y_gD3GsDe8pxNpJhpJ_T9tjhMSVV_NeM72Q7mrmVyaC99wIHUuPRf36A5_x9Rwwg36Hhmwn9hsk2AyMn2eVK7jbWBBsfzMdDMm6DtvMxoNz_tOoYOdgmK8U4uVrnA9WajL4tvWQfwgghPvOLhg"
	setuSampleRefreshToken = "eyJhbGciOiJIUzI1NiIsInR5cCIgOiAiSldUIiwia2lkIiA6ICIzNzA4NDk4Yy00ZmQxLTQyOWYtYmIwZC1kYTFmNDc2Y2RiYWIifQ.eyJleHAiOjE2MzcyNDQzNjksImlhdCI6MTYzNzI0MjU2OSwianRpIjoiNTAwYzMwYzQtNTQ1Zi00ZTIxLTk5ZmEtM2YxMzRjNTE2NTdhIiwiaXNzIjoiaHR0cHM6Ly9hdXRoLWRldi5zZXR1LmNvL2F1dGgvcmVhbG1zL2ZkIiwiYXVkIjoiaHR0cHM6Ly9hdXRoLWRldi5zZXR1LmNvL2F1dGgvcmVhbG1zL2ZkIiwic3ViIjoiNWUwZWVkYjAtZDJkOS00ODgzLThmYjQtMjFjZGNmNmI3MWYwIiwidHlwIjoiUmVmcmVzaCIsImF6cCI6InRlc3QiLCJzZXNzaW9uX3N0YXRlIjoiMDAwMjM0ODItNTBjOC00YzdjLWJkODgtNzllZTE5NzVhOTFhIiwic2NvcGUiOiJwcm9maWxlIGVtYWlsIn0.83IROYZes_jWs0ina7PexZ9xmYeh_FDRtBeGLqHPGU0"
)

func TestSetuSpec(t *testing.T) {
	checkSpec(t, setu{}.Spec(), wantSpec{
		name: "setu", displayName: "Setu",
		docs:            "https://docs.setu.co/investments/deposits/sdk-integration/generate-partner-token",
		defaultLifetime: 15 * time.Minute, // documented
		// None: Setu documents no host, so token_url is required.
		environmentCount: 0,
	})
}

// setuRequest is the documented request: the three form parameters in the
// documented order, each URL-encoded, and no Authorization header.
func setuRequest() wantRequest {
	return wantRequest{
		Path:   setuPath,
		Header: engineHeaders(map[string]string{"Content-Type": "application/x-www-form-urlencoded"}),
		Body:   "grant_type=client_credentials&client_id=test-ck-6f6e9f3d&client_secret=test-cs-008a%2Bf6%2F3f%3D1%26fd",
	}
}

func TestSetuMint(t *testing.T) {
	opaque := "opaque-setu-token"
	skewed := testJWT(map[string]any{"iat": testNow.Add(-2 * time.Hour).Unix(), "exp": testNow.Add(-2*time.Hour + 300*time.Second).Unix()})
	noIat := testJWT(map[string]any{"exp": testNow.Add(10 * time.Minute).Unix()})
	tests := []struct {
		name       string
		body       string
		wantToken  string
		wantExpiry time.Time
	}{
		{
			name:       "the documented sample lives its JWT's 5 minutes (exp minus iat), not the 15 the prose promises",
			body:       `{"accessToken":"` + setuSampleAccessToken + `","refreshToken":"` + setuSampleRefreshToken + `"}`,
			wantToken:  setuSampleAccessToken,
			wantExpiry: testNow.Add(5 * time.Minute),
		},
		{
			name:       "a partner clock two hours behind does not matter when the JWT has iat",
			body:       `{"accessToken":"` + skewed + `"}`,
			wantToken:  skewed,
			wantExpiry: testNow.Add(5 * time.Minute),
		},
		{
			name:       "a JWT without iat expires at its exp",
			body:       `{"accessToken":"` + noIat + `","refreshToken":"r"}`,
			wantToken:  noIat,
			wantExpiry: testNow.Add(10 * time.Minute),
		},
		{
			name:       "a token that is not a JWT lives the documented 15 minutes",
			body:       `{"accessToken":"` + opaque + `","refreshToken":"r"}`,
			wantToken:  opaque,
			wantExpiry: testNow.Add(15 * time.Minute),
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := newPartner(t, func(t *testing.T, r *http.Request) { checkRequest(t, r, setuRequest()) }, partnerAnswer{Body: tc.body})
			tok, err := Mint(t.Context(), setu{}, newRequest(p, setuPath, nil))
			checkToken(t, tok, err, tc.wantToken, tc.wantExpiry)
			if tok != nil && tok.Extra != nil {
				t.Errorf("Extra = %v, want nothing (and never the refresh token)", tok.Extra)
			}
			if p.Calls() != 1 {
				t.Errorf("%d requests, want 1", p.Calls())
			}
		})
	}
}

func TestSetuMintNeverKeepsTheRefreshToken(t *testing.T) {
	p := newPartner(t, func(t *testing.T, r *http.Request) { checkRequest(t, r, setuRequest()) },
		partnerAnswer{Body: `{"accessToken":"` + setuSampleAccessToken + `","refreshToken":"` + setuSampleRefreshToken + `"}`})
	tok, err := Mint(t.Context(), setu{}, newRequest(p, setuPath, nil))
	if err != nil {
		t.Fatal(err)
	}
	if dump := fmt.Sprintf("%#v", *tok); strings.Contains(dump, setuSampleRefreshToken) {
		t.Errorf("the minted token holds the refresh token: %s", dump)
	}
}

func TestSetuMintFailures(t *testing.T) {
	tests := []struct {
		name       string
		answer     partnerAnswer
		wantStatus int
		want       []string
		refused    bool
		transient  bool
	}{
		{
			name:       "wrong credentials are refused with Keycloak's OAuth2 error",
			answer:     partnerAnswer{Status: 401, Body: `{"error":"invalid_client","error_description":"Invalid client credentials"}`},
			wantStatus: 401,
			want:       []string{`error="invalid_client"`, `error_description="Invalid client credentials"`},
			refused:    true,
		},
		{
			name:       "a bad request is refused with the partner's message",
			answer:     partnerAnswer{Status: 400, Body: `{"status":400,"message":"grant_type is invalid"}`},
			wantStatus: 400,
			want:       []string{`message="grant_type is invalid"`},
			refused:    true,
		},
		{
			name:       "a 403 that echoes the form body does not leak the secret",
			answer:     partnerAnswer{Status: 403, Header: map[string]string{"Content-Type": "text/plain"}, Body: "forbidden: client_secret=" + url.QueryEscape(testSecret) + " raw=" + testSecret},
			wantStatus: 403,
			want:       []string{"forbidden", "[redacted]"},
			refused:    true,
		},
		{
			name:       "a server error is temporary and not a refusal",
			answer:     partnerAnswer{Status: 502, Header: map[string]string{"Content-Type": "text/html"}, Body: "<h1>Bad Gateway</h1>"},
			wantStatus: 502,
			want:       []string{"Bad Gateway"},
			transient:  true,
		},
		{
			name:       "a 200 with only a refresh token is an error that does not quote it",
			answer:     partnerAnswer{Body: `{"refreshToken":"` + setuSampleRefreshToken + `"}`},
			wantStatus: 200,
			want:       []string{"no token"},
		},
		{
			name:       "a 200 in OAuth2 snake case is not the documented answer",
			answer:     partnerAnswer{Body: `{"access_token":"abc","expires_in":300}`},
			wantStatus: 200,
			want:       []string{"no token"},
		},
		{
			name:       "an accessToken that is not a string is the wrong type",
			answer:     partnerAnswer{Body: `{"accessToken":{"value":"abc"}}`},
			wantStatus: 200,
			want:       []string{`field "accessToken" has the wrong type`},
		},
		{
			name:       "a 200 that is not JSON is malformed",
			answer:     partnerAnswer{Header: map[string]string{"Content-Type": "text/html"}, Body: "<html>login</html>"},
			wantStatus: 200,
			want:       []string{"not the expected JSON"},
		},
		{
			name:       "a JWT whose exp equals its iat is already expired",
			answer:     partnerAnswer{Body: `{"accessToken":"` + testJWT(map[string]any{"iat": 1_637_242_569, "exp": 1_637_242_569}) + `"}`},
			wantStatus: 200,
			want:       []string{"already expired"},
		},
		{
			name:       "a JWT without iat whose exp has passed is already expired",
			answer:     partnerAnswer{Body: `{"accessToken":"` + testJWT(map[string]any{"exp": 1_637_242_869}) + `"}`},
			wantStatus: 200,
			want:       []string{"already expired"},
		},
		{
			name:       "a JWT living ten years is implausible",
			answer:     partnerAnswer{Body: `{"accessToken":"` + testJWT(map[string]any{"iat": 1_637_242_569, "exp": 1_637_242_569 + 10*366*24*3600}) + `"}`},
			wantStatus: 200,
			want:       []string{"implausibly long"},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := newPartner(t, func(t *testing.T, r *http.Request) { checkRequest(t, r, setuRequest()) }, tc.answer)
			tok, err := Mint(t.Context(), setu{}, newRequest(p, setuPath, nil))
			perr := checkMintFailure(t, tok, err, "Setu", tc.wantStatus, tc.want, tc.refused)
			if perr.Transient() != tc.transient {
				t.Errorf("Transient() = %v, want %v", perr.Transient(), tc.transient)
			}
			if strings.Contains(err.Error(), setuSampleRefreshToken) {
				t.Errorf("error %q quotes the refresh token", err)
			}
		})
	}
}
