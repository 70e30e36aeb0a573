package provider

import (
	"net/http"
	"net/url"
	"strconv"
	"testing"
	"time"
)

const diniePath = "/api/v3/auth/token"

func TestDinieSpec(t *testing.T) {
	spec := dinie{}.Spec()
	checkSpec(t, spec, wantSpec{
		name: "dinie", displayName: "Dinie",
		docs:            "https://dinie.nexaedge.dev/apis/openapi/authentication/createtoken",
		defaultLifetime: time.Hour, // documented
		environments: map[string]string{
			"sandbox":    "https://sandbox.api.dinie.com.br/api/v3/auth/token",
			"production": "https://api.dinie.com.br/api/v3/auth/token",
		},
		environmentCount: 2,
	})
	// The developer portal's servers list gives the base without /api.
	for name, want := range map[string]string{
		"sandbox":    "https://sandbox.api.dinie.com.br/v3/auth/token",
		"production": "https://api.dinie.com.br/v3/auth/token",
	} {
		if env, _ := spec.Environment(name); env.OtherDocumentedURL != want {
			t.Errorf("environment %q OtherDocumentedURL = %q, want %q", name, env.OtherDocumentedURL, want)
		}
	}
}

// TestADinie404NamesTheOtherDocumentedURL has Dinie answer a built-in
// token URL with 404, as it would if it serves the developer portal's /v3
// base and not the SDKs' /api/v3: the error names the portal's URL for the
// same environment and says to set token_url to it. Any other 404, or
// another status, is left as the partner said it.
func TestADinie404NamesTheOtherDocumentedURL(t *testing.T) {
	const notFound = `{"type":"https://api.dinie.com.br/errors/not_found","title":"Not Found","status":404,` +
		`"detail":"The requested resource does not exist.","code":"not_found"}`
	const said = `title="Not Found" detail="The requested resource does not exist." code="not_found" type="https://api.dinie.com.br/errors/not_found"`
	tests := []struct {
		name     string
		tokenURL string // "" for the fake partner's own URL, as an operator's token_url
		status   int
		want     string
	}{
		{
			name:     "production's built-in URL names production's other URL",
			tokenURL: "https://api.dinie.com.br/api/v3/auth/token",
			status:   404,
			want: "Dinie token endpoint answered HTTP 404: " + said +
				"; Dinie documents this token URL two ways: set token_url to the other, https://api.dinie.com.br/v3/auth/token",
		},
		{
			name:     "sandbox's built-in URL names sandbox's other URL",
			tokenURL: "https://sandbox.api.dinie.com.br/api/v3/auth/token",
			status:   404,
			want: "Dinie token endpoint answered HTTP 404: " + said +
				"; Dinie documents this token URL two ways: set token_url to the other, https://sandbox.api.dinie.com.br/v3/auth/token",
		},
		{
			name:   "an operator's token_url is not second-guessed",
			status: 404,
			want:   "Dinie token endpoint answered HTTP 404: " + said,
		},
		{
			name:     "the portal's URL set as token_url does not point back",
			tokenURL: "https://api.dinie.com.br/v3/auth/token",
			status:   404,
			want:     "Dinie token endpoint answered HTTP 404: " + said,
		},
		{
			name:     "a refusal from a built-in URL is not a wrong path",
			tokenURL: "https://api.dinie.com.br/api/v3/auth/token",
			status:   401,
			want:     "Dinie token endpoint answered HTTP 401: " + said,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := newPartner(t, func(*testing.T, *http.Request) {},
				partnerAnswer{Status: tc.status, Header: map[string]string{"Content-Type": "application/problem+json"}, Body: notFound})
			req := newRequest(p, diniePath, nil)
			if tc.tokenURL != "" {
				req.TokenURL, req.Client = tc.tokenURL, routedTo(p)
			}
			tok, err := Mint(t.Context(), dinie{}, req)
			checkMintFailure(t, tok, err, "Dinie", tc.status, nil, tc.status == 401)
			if err != nil && err.Error() != tc.want {
				t.Errorf("error text\n got  %s\n want %s", err, tc.want)
			}
			if p.Calls() != 1 {
				t.Errorf("%d requests, want 1", p.Calls())
			}
		})
	}
}

// routedTo is a client that sends every request to p, whatever host its
// URL names, as DNS pointing Dinie's hosts at p would; the path is kept.
func routedTo(p *fakePartner) *http.Client {
	target, err := url.Parse(p.URL)
	if err != nil {
		panic(err)
	}
	next := p.Client().Transport
	return &http.Client{Transport: roundTripFunc(func(r *http.Request) (*http.Response, error) {
		r = r.Clone(r.Context())
		r.URL.Scheme, r.URL.Host = target.Scheme, target.Host
		return next.RoundTrip(r)
	})}
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// dinieRequest is the documented request: Basic credentials of the plain
// id:secret (curl -u) and a form body with only grant_type.
func dinieRequest() wantRequest {
	return wantRequest{
		Path: diniePath,
		Header: engineHeaders(map[string]string{
			// base64("test-ck-6f6e9f3d:test-cs-008a+f6/3f=1&fd")
			"Authorization": "Basic dGVzdC1jay02ZjZlOWYzZDp0ZXN0LWNzLTAwOGErZjYvM2Y9MSZmZA==",
			"Content-Type":  "application/x-www-form-urlencoded",
		}),
		Body: "grant_type=client_credentials",
	}
}

func TestDinieMint(t *testing.T) {
	// The documented sample token: "dinie_at_" and a JWT with exp but no iat.
	sample := "dinie_at_eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJkaW5pZV9jaV81NTBlODQwMGUyOWI0MWQ0YTcxNjQ0NjY1NTQ0MDAwMCIsImV4cCI6MTcwOTU1NTYwMH0.abc123"
	inForty := "dinie_at_" + testJWT(map[string]any{"sub": "dinie_ci_1", "exp": testNow.Add(40 * time.Minute).Unix()})
	tests := []struct {
		name       string
		body       string
		wantToken  string
		wantExpiry time.Time
	}{
		{
			name:       "the documented answer lives its expires_in of an hour and its lowercase bearer becomes Bearer",
			body:       `{"access_token":"` + sample + `","token_type":"bearer","expires_in":3600}`,
			wantToken:  sample,
			wantExpiry: testNow.Add(time.Hour),
		},
		{
			name:       "expires_in given as a string is understood",
			body:       `{"access_token":"` + sample + `","token_type":"bearer","expires_in":"1800"}`,
			wantToken:  sample,
			wantExpiry: testNow.Add(30 * time.Minute),
		},
		{
			name:       "without expires_in the exp of the prefixed JWT is used",
			body:       `{"access_token":"` + inForty + `","token_type":"bearer"}`,
			wantToken:  inForty,
			wantExpiry: testNow.Add(40 * time.Minute),
		},
		{
			name:       "without expires_in or a JWT the documented hour applies",
			body:       `{"access_token":"dinie_at_opaque","token_type":"bearer"}`,
			wantToken:  "dinie_at_opaque",
			wantExpiry: testNow.Add(time.Hour),
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := newPartner(t, func(t *testing.T, r *http.Request) { checkRequest(t, r, dinieRequest()) }, partnerAnswer{Body: tc.body})
			tok, err := Mint(t.Context(), dinie{}, newRequest(p, diniePath, nil))
			checkToken(t, tok, err, tc.wantToken, tc.wantExpiry)
			if tok != nil && tok.Extra != nil {
				t.Errorf("Extra = %v, want nothing", tok.Extra)
			}
			if p.Calls() != 1 {
				t.Errorf("%d requests, want 1", p.Calls())
			}
		})
	}
}

func TestDinieMintFailures(t *testing.T) {
	problem := map[string]string{"Content-Type": "application/problem+json"}
	tests := []struct {
		name       string
		answer     partnerAnswer
		wantStatus int
		// wantError is the whole error text, to check it reads well.
		wantError string
		want      []string
		refused   bool
	}{
		{
			name: "wrong credentials are refused with the problem's title, detail, code, type and instance",
			answer: partnerAnswer{Status: 401, Header: problem, Body: `{"type":"https://api.dinie.com.br/errors/authentication-failed","title":"Authentication Failed",` +
				`"status":401,"detail":"Client credentials are invalid.","code":"invalid_client","instance":"/api/v3/auth/token"}`},
			wantStatus: 401,
			wantError: `Dinie token endpoint answered HTTP 401: title="Authentication Failed" detail="Client credentials are invalid." code="invalid_client" ` +
				`type="https://api.dinie.com.br/errors/authentication-failed" instance="/api/v3/auth/token"`,
			refused: true,
		},
		{
			name: "a validation problem also names the parameter and the field errors",
			answer: partnerAnswer{Status: 400, Header: problem, Body: `{"type":"https://api.dinie.com.br/errors/validation","title":"Bad Request","status":400,` +
				`"detail":"The request is invalid.","code":"invalid_request","param":"grant_type","errors":[{"param":"grant_type","detail":"must be client_credentials","code":"invalid_value"}]}`},
			wantStatus: 400,
			wantError: `Dinie token endpoint answered HTTP 400: title="Bad Request" detail="The request is invalid." code="invalid_request" ` +
				`param="grant_type" errors="grant_type: must be client_credentials (invalid_value)" type="https://api.dinie.com.br/errors/validation"`,
			refused: true,
		},
		{
			name:       "a 403 problem echoing the Basic credentials does not leak them",
			answer:     partnerAnswer{Status: 403, Header: problem, Body: `{"title":"Forbidden","status":403,"detail":"credentials ` + dinieRequest().Header["Authorization"] + ` are revoked"}`},
			wantStatus: 403,
			want:       []string{`detail="credentials Basic [redacted] are revoked"`},
			refused:    true,
		},
		{
			name:       "a server error that is not a problem document is shown as text",
			answer:     partnerAnswer{Status: 500, Header: map[string]string{"Content-Type": "text/plain"}, Body: "upstream failure"},
			wantStatus: 500,
			want:       []string{"upstream failure"},
		},
		{
			name:       "a 200 without access_token is an error, never an empty token",
			answer:     partnerAnswer{Body: `{"token_type":"bearer","expires_in":3600}`},
			wantStatus: 200,
			want:       []string{"no token"},
		},
		{
			name:       "a token_type other than bearer is refused",
			answer:     partnerAnswer{Body: `{"access_token":"dinie_at_x","token_type":"DPoP","expires_in":3600}`},
			wantStatus: 200,
			want:       []string{`token_type "DPoP" is not supported`},
		},
		{
			name:       "a negative expires_in is already expired",
			answer:     partnerAnswer{Body: `{"access_token":"dinie_at_x","token_type":"bearer","expires_in":-1}`},
			wantStatus: 200,
			want:       []string{"already expired"},
		},
		{
			name:       "expires_in in milliseconds by mistake is implausibly long",
			answer:     partnerAnswer{Body: `{"access_token":"dinie_at_x","token_type":"bearer","expires_in":3600000000000}`},
			wantStatus: 200,
			want:       []string{"implausibly long"},
		},
		{
			name:       "an expires_in that is a boolean is malformed",
			answer:     partnerAnswer{Body: `{"access_token":"dinie_at_x","token_type":"bearer","expires_in":true}`},
			wantStatus: 200,
			want:       []string{"not the expected JSON"},
		},
		{
			name:       "a token_type that is a number is the wrong type",
			answer:     partnerAnswer{Body: `{"access_token":"dinie_at_x","token_type":1,"expires_in":3600}`},
			wantStatus: 200,
			want:       []string{`field "token_type" has the wrong type`},
		},
		{
			name:       "a 200 that is not JSON is malformed",
			answer:     partnerAnswer{Header: map[string]string{"Content-Type": "text/html"}, Body: "<html>Dinie</html>"},
			wantStatus: 200,
			want:       []string{"not the expected JSON"},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := newPartner(t, func(t *testing.T, r *http.Request) { checkRequest(t, r, dinieRequest()) }, tc.answer)
			tok, err := Mint(t.Context(), dinie{}, newRequest(p, diniePath, nil))
			checkMintFailure(t, tok, err, "Dinie", tc.wantStatus, tc.want, tc.refused)
			if tc.wantError != "" && err.Error() != tc.wantError {
				t.Errorf("error text\n got  %s\n want %s", err, tc.wantError)
			}
		})
	}
}

func TestDinieMintRateLimitWait(t *testing.T) {
	const tooMany = `{"type":"https://api.dinie.com.br/errors/rate_limit_exceeded","title":"Too Many Requests","status":429,` +
		`"detail":"Rate limit exceeded. Try again in 30 seconds.","code":"rate_limit_exceeded"}`
	reset := func(d time.Duration) string { return strconv.FormatInt(testNow.Add(d).Unix(), 10) }
	tests := []struct {
		name   string
		status int
		header map[string]string
		want   time.Duration
	}{
		{"Retry-After in seconds is honoured", 429, map[string]string{"Retry-After": "30"}, 30 * time.Second},
		{"Retry-After as an HTTP date is honoured", 429, map[string]string{"Retry-After": testNow.Add(20 * time.Second).Format(http.TimeFormat)}, 20 * time.Second},
		{"Retry-After wins over X-RateLimit-Reset", 429, map[string]string{"Retry-After": "30", "X-RateLimit-Reset": reset(50 * time.Second)}, 30 * time.Second},
		{"without Retry-After the wait lasts until X-RateLimit-Reset", 429, map[string]string{"X-RateLimit-Reset": reset(45 * time.Second)}, 45 * time.Second},
		{"a reset three hours away is capped at one hour", 429, map[string]string{"X-RateLimit-Reset": reset(3 * time.Hour)}, time.Hour},
		{"a reset in the past is ignored", 429, map[string]string{"X-RateLimit-Reset": reset(-10 * time.Second)}, 0},
		{"a reset at this very second is ignored", 429, map[string]string{"X-RateLimit-Reset": reset(0)}, 0},
		{"a reset in milliseconds is absurd and ignored", 429, map[string]string{"X-RateLimit-Reset": strconv.FormatInt(testNow.Add(45*time.Second).UnixMilli(), 10)}, 0},
		{"a reset that is not a number is ignored", 429, map[string]string{"X-RateLimit-Reset": "soon"}, 0},
		{"a negative reset is ignored", 429, map[string]string{"X-RateLimit-Reset": "-5"}, 0},
		{"without either header there is no wait", 429, nil, 0},
		{"X-RateLimit-Reset on a refusal is not a wait", 401, map[string]string{"X-RateLimit-Reset": reset(45 * time.Second)}, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			header := map[string]string{"Content-Type": "application/problem+json", "X-RateLimit-Limit": "60", "X-RateLimit-Remaining": "0"}
			for k, v := range tc.header {
				header[k] = v
			}
			p := newPartner(t, func(t *testing.T, r *http.Request) { checkRequest(t, r, dinieRequest()) },
				partnerAnswer{Status: tc.status, Header: header, Body: tooMany})
			_, err := Mint(t.Context(), dinie{}, newRequest(p, diniePath, nil))
			perr := checkError(t, err, "Dinie", tc.status, []string{`code="rate_limit_exceeded"`})
			if perr.RetryAfter != tc.want {
				t.Errorf("RetryAfter = %s, want %s", perr.RetryAfter, tc.want)
			}
			if tc.status == http.StatusTooManyRequests && !perr.Transient() {
				t.Errorf("a 429 is not Transient()")
			}
		})
	}
}
