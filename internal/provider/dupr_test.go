package provider

import (
	"encoding/base64"
	"net/http"
	"strings"
	"testing"
	"time"
)

const duprPath = "/api/auth/v1.0/token"

func TestDUPRSpec(t *testing.T) {
	checkSpec(t, dupr{}.Spec(), wantSpec{
		name: "dupr", displayName: "DUPR",
		docs:            "https://dupr.gitbook.io/dupr-raas/get-started/partner-access-token-generation",
		defaultLifetime: time.Hour, // documented
		environments: map[string]string{
			"sandbox":    "https://uat.mydupr.com/api/auth/v1.0/token",
			"uat":        "https://uat.mydupr.com/api/auth/v1.0/token",
			"production": "https://prod.mydupr.com/api/auth/v1.0/token",
		},
		environmentCount: 2, // uat is sandbox's alias
	})
}

func TestDUPRCredentialsMatchTheOfficialExample(t *testing.T) {
	// myDUPR/docs, source/index.html.md.
	got := duprCredentials("ck-6f6e9f3d-ca92-49a5-fced-1bcc36ec127be", "cs-008a8f63f1fd5433fb2ea1a25fdec9c8")
	want := "Y2stNmY2ZTlmM2QtY2E5Mi00OWE1LWZjZWQtMWJjYzM2ZWMxMjdiZTpjcy0wMDhhOGY2M2YxZmQ1NDMzZmIyZWExYTI1ZmRlYzljOA=="
	if got != want {
		t.Errorf("duprCredentials = %q, want %q", got, want)
	}
}

// duprRequest is the one request DUPR documents: x-authorization holding the
// bare base64 of key:secret, and no body.
func duprRequest(id, secret string) wantRequest {
	return wantRequest{
		Path:   duprPath,
		Header: engineHeaders(map[string]string{"X-Authorization": base64.StdEncoding.EncodeToString([]byte(id + ":" + secret))}),
		Body:   "",
	}
}

func TestDUPRMintSendsTheOfficialExampleCredentials(t *testing.T) {
	const (
		key    = "ck-6f6e9f3d-ca92-49a5-fced-1bcc36ec127be"
		secret = "cs-008a8f63f1fd5433fb2ea1a25fdec9c8"
	)
	p := newPartner(t, func(t *testing.T, r *http.Request) {
		checkRequest(t, r, wantRequest{
			Path: duprPath,
			Header: engineHeaders(map[string]string{
				"X-Authorization": "Y2stNmY2ZTlmM2QtY2E5Mi00OWE1LWZjZWQtMWJjYzM2ZWMxMjdiZTpjcy0wMDhhOGY2M2YxZmQ1NDMzZmIyZWExYTI1ZmRlYzljOA==",
			}),
		})
	}, partnerAnswer{Body: `{"status":"SUCCESS","result":{"token":"eyJhbGciOiJSUzUxMiJ9.abc.def","expiry":"2024-01-10T13:00:00Z"}}`})
	req := newRequest(p, duprPath, nil)
	req.ClientID, req.ClientSecret = key, secret
	tok, err := Mint(t.Context(), dupr{}, req)
	checkToken(t, tok, err, "eyJhbGciOiJSUzUxMiJ9.abc.def", testNow.Add(time.Hour-dateResolution))
}

// dateResolution is what a whole-second Date header may have truncated:
// the engine counts it against the token.
const dateResolution = time.Second

func TestDUPRMint(t *testing.T) {
	opaque := "opaque-dupr-token"
	inForty := testJWT(map[string]any{"iat": 1_000_000_000, "exp": 1_000_000_000 + 2400})
	tests := []struct {
		name       string
		answer     partnerAnswer
		wantToken  string
		wantExpiry time.Time
		// wantSource is the expiry source reported; the partner's expiry
		// when not set.
		wantSource string
	}{
		{
			name:       "the documented answer expires at result.expiry, less the second Date may have lost, when the partner clock agrees with ours",
			answer:     partnerAnswer{Body: `{"status":"SUCCESS","result":{"token":"` + opaque + `","expiry":"2024-01-10T13:00:00Z"}}`},
			wantToken:  opaque,
			wantExpiry: testNow.Add(time.Hour - dateResolution),
		},
		{
			name: "a partner clock two hours ahead does not lengthen the token: expiry minus Date counts from the send time",
			answer: partnerAnswer{
				Header: map[string]string{"Date": testNow.Add(2 * time.Hour).Format(http.TimeFormat)},
				Body:   `{"status":"SUCCESS","result":{"token":"` + opaque + `","expiry":"2024-01-10T15:00:00Z"}}`,
			},
			wantToken:  opaque,
			wantExpiry: testNow.Add(time.Hour - dateResolution),
		},
		{
			name: "a partner clock thirty minutes behind does not shorten the token",
			answer: partnerAnswer{
				Header: map[string]string{"Date": testNow.Add(-30 * time.Minute).Format(http.TimeFormat)},
				Body:   `{"status":"SUCCESS","result":{"token":"` + opaque + `","expiry":"2024-01-10T12:30:00Z"}}`,
			},
			wantToken:  opaque,
			wantExpiry: testNow.Add(time.Hour - dateResolution),
		},
		{
			name:       "without a Date header result.expiry is taken as is",
			answer:     partnerAnswer{NoDate: true, Body: `{"status":"SUCCESS","result":{"token":"` + opaque + `","expiry":"2024-01-10T12:45:00Z"}}`},
			wantToken:  opaque,
			wantExpiry: testNow.Add(45 * time.Minute),
		},
		{
			name: "an unreadable Date header is ignored and result.expiry taken as is",
			answer: partnerAnswer{
				Header: map[string]string{"Date": "yesterday"},
				Body:   `{"status":"SUCCESS","result":{"token":"` + opaque + `","expiry":"2024-01-10T12:45:00Z"}}`,
			},
			wantToken:  opaque,
			wantExpiry: testNow.Add(45 * time.Minute),
		},
		{
			name:       "result.expiry with fractional seconds and an offset is understood",
			answer:     partnerAnswer{Body: `{"status":"SUCCESS","result":{"token":"` + opaque + `","expiry":"2024-01-10T14:00:00.000+01:00"}}`},
			wantToken:  opaque,
			wantExpiry: testNow.Add(time.Hour - dateResolution),
		},
		{
			name:       "result.expiry without a zone is read as UTC",
			answer:     partnerAnswer{Body: `{"status":"SUCCESS","result":{"token":"` + opaque + `","expiry":"2024-01-10T13:00:00"}}`},
			wantToken:  opaque,
			wantExpiry: testNow.Add(time.Hour - dateResolution),
		},
		{
			name:       "result.expiry with milliseconds and a +0000 offset (Jackson's java.util.Date) is understood",
			answer:     partnerAnswer{Body: `{"status":"SUCCESS","result":{"token":"` + opaque + `","expiry":"2024-01-10T13:00:00.000+0000"}}`},
			wantToken:  opaque,
			wantExpiry: testNow.Add(time.Hour - dateResolution),
		},
		{
			name:       "result.expiry with nanoseconds and Z (java.time.Instant) is understood",
			answer:     partnerAnswer{Body: `{"status":"SUCCESS","result":{"token":"` + opaque + `","expiry":"2024-01-10T13:00:00.123456789Z"}}`},
			wantToken:  opaque,
			wantExpiry: testNow.Add(time.Hour + 123456789*time.Nanosecond - dateResolution),
		},
		{
			name:       "result.expiry with an hour-only offset is understood",
			answer:     partnerAnswer{Body: `{"status":"SUCCESS","result":{"token":"` + opaque + `","expiry":"2024-01-10T15:00:00+02"}}`},
			wantToken:  opaque,
			wantExpiry: testNow.Add(time.Hour - dateResolution),
		},
		{
			name:       "result.expiry with a ZonedDateTime zone id is understood",
			answer:     partnerAnswer{Body: `{"status":"SUCCESS","result":{"token":"` + opaque + `","expiry":"2024-01-10T13:00:00Z[UTC]"}}`},
			wantToken:  opaque,
			wantExpiry: testNow.Add(time.Hour - dateResolution),
		},
		{
			name:       "result.expiry with a space for the T and a -0500 offset is understood",
			answer:     partnerAnswer{Body: `{"status":"SUCCESS","result":{"token":"` + opaque + `","expiry":"2024-01-10 08:00:00.5-0500"}}`},
			wantToken:  opaque,
			wantExpiry: testNow.Add(time.Hour + 500*time.Millisecond - dateResolution),
		},
		{
			name:       "an unreadable result.expiry falls back to the JWT's exp",
			answer:     partnerAnswer{Body: `{"status":"SUCCESS","result":{"token":"` + inForty + `","expiry":"in an hour"}}`},
			wantToken:  inForty,
			wantExpiry: testNow.Add(40 * time.Minute),
			wantSource: ExpiryJWT,
		},
		{
			name:       "a numeric result.expiry falls back to the JWT's exp",
			answer:     partnerAnswer{Body: `{"status":"SUCCESS","result":{"token":"` + inForty + `","expiry":1704891600}}`},
			wantToken:  inForty,
			wantExpiry: testNow.Add(40 * time.Minute),
			wantSource: ExpiryJWT,
		},
		{
			name:       "an unreadable result.expiry on an opaque token falls back to the documented hour",
			answer:     partnerAnswer{Body: `{"status":"SUCCESS","result":{"token":"` + opaque + `","expiry":"2024-13-45T99:00:00Z"}}`},
			wantToken:  opaque,
			wantExpiry: testNow.Add(time.Hour),
			wantSource: ExpiryDocumented,
		},
		{
			name: "without result.expiry the JWT's exp minus iat counts from the send time",
			answer: partnerAnswer{Body: `{"status":"SUCCESS","result":{"token":"` +
				testJWT(map[string]any{"iat": 1_000_000_000, "exp": 1_000_000_000 + 1800}) + `"}}`},
			wantToken:  testJWT(map[string]any{"iat": 1_000_000_000, "exp": 1_000_000_000 + 1800}),
			wantExpiry: testNow.Add(30 * time.Minute),
			wantSource: ExpiryJWT,
		},
		{
			name:       "without result.expiry a JWT without iat expires at its exp",
			answer:     partnerAnswer{Body: `{"status":"SUCCESS","result":{"token":"` + testJWT(map[string]any{"exp": testNow.Add(40 * time.Minute).Unix()}) + `"}}`},
			wantToken:  testJWT(map[string]any{"exp": testNow.Add(40 * time.Minute).Unix()}),
			wantExpiry: testNow.Add(40 * time.Minute),
			wantSource: ExpiryJWT,
		},
		{
			name:       "without result.expiry or a JWT the documented hour applies",
			answer:     partnerAnswer{Body: `{"status":"SUCCESS","message":"ok","result":{"token":"` + opaque + `"},"extra":[1,2]}`},
			wantToken:  opaque,
			wantExpiry: testNow.Add(time.Hour),
			wantSource: ExpiryDocumented,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := newPartner(t, func(t *testing.T, r *http.Request) {
				checkRequest(t, r, duprRequest(testClientID, testSecret))
			}, tc.answer)
			tok, err := Mint(t.Context(), dupr{}, newRequest(p, duprPath, nil))
			checkToken(t, tok, err, tc.wantToken, tc.wantExpiry)
			wantSource := tc.wantSource
			if wantSource == "" {
				wantSource = ExpiryPartnerTime
			}
			if tok != nil && tok.ExpirySource != wantSource {
				t.Errorf("ExpirySource = %q, want %q", tok.ExpirySource, wantSource)
			}
			if tok != nil && tok.Extra != nil {
				t.Errorf("Extra = %v, want nothing", tok.Extra)
			}
			if p.Calls() != 1 {
				t.Errorf("%d requests, want 1", p.Calls())
			}
		})
	}
}

func TestDUPRMintFailures(t *testing.T) {
	credentials := base64.StdEncoding.EncodeToString([]byte(testClientID + ":" + testSecret))
	tests := []struct {
		name       string
		answer     partnerAnswer
		wantStatus int
		want       []string
		refused    bool
		retryAfter time.Duration
	}{
		{
			name:       "wrong credentials are refused with DUPR's own message",
			answer:     partnerAnswer{Status: 401, Body: `{"status":"FAILURE","message":"Your API credentials are wrong or expired"}`},
			wantStatus: 401,
			want:       []string{`status="FAILURE"`, `message="Your API credentials are wrong or expired"`},
			refused:    true,
		},
		{
			name:       "a gateway 403 names the partner, the status and the message",
			answer:     partnerAnswer{Status: 403, Body: `{"message":"Authentication error. Please provide a valid API key."}`},
			wantStatus: 403,
			want:       []string{`message="Authentication error. Please provide a valid API key."`},
			refused:    true,
		},
		{
			name:       "a 400 that echoes the x-authorization value and the secret is redacted",
			answer:     partnerAnswer{Status: 400, Body: `{"status":"FAILURE","message":"bad header ` + credentials + ` for secret ` + testSecret + `"}`},
			wantStatus: 400,
			want:       []string{"[redacted]", "bad header"},
			refused:    true,
		},
		{
			name:       "a plain-text refusal is shown as text",
			answer:     partnerAnswer{Status: 403, Header: map[string]string{"Content-Type": "text/plain"}, Body: "Forbidden\n"},
			wantStatus: 403,
			want:       []string{"Forbidden"},
			refused:    true,
		},
		{
			name:       "rate limiting keeps the partner's Retry-After",
			answer:     partnerAnswer{Status: 429, Header: map[string]string{"Retry-After": "30"}, Body: `{"status":"FAILURE","message":"Too Many Requests"}`},
			wantStatus: 429,
			want:       []string{"Too Many Requests"},
			retryAfter: 30 * time.Second,
		},
		{
			name:       "a 200 whose status is not SUCCESS is an error with DUPR's message",
			answer:     partnerAnswer{Body: `{"status":"FAILURE","message":"client disabled"}`},
			wantStatus: 200,
			want:       []string{`status="FAILURE"`, `message="client disabled"`},
		},
		{
			name:       "a 200 with a token but no status is not trusted and does not quote the token",
			answer:     partnerAnswer{Body: `{"result":{"token":"leaky-token","expiry":"2024-01-10T13:00:00Z"}}`},
			wantStatus: 200,
			want:       []string{"no status"},
		},
		{
			name:       "a 200 SUCCESS without result is an error, never an empty token",
			answer:     partnerAnswer{Body: `{"status":"SUCCESS"}`},
			wantStatus: 200,
			want:       []string{"no result"},
		},
		{
			name:       "a 200 SUCCESS with an empty token is an error",
			answer:     partnerAnswer{Body: `{"status":"SUCCESS","result":{"token":"","expiry":"2024-01-10T13:00:00Z"}}`},
			wantStatus: 200,
			want:       []string{"no token"},
		},
		{
			name:       "a result that is a string is refused as the wrong type",
			answer:     partnerAnswer{Body: `{"status":"SUCCESS","result":"eyJhbGciOiJSUzUxMiJ9.abc.def"}`},
			wantStatus: 200,
			want:       []string{`field "result" has the wrong type`},
		},
		{
			name:       "a token that is a number is refused as the wrong type",
			answer:     partnerAnswer{Body: `{"status":"SUCCESS","result":{"token":12345}}`},
			wantStatus: 200,
			want:       []string{"wrong type"},
		},
		{
			name:       "a 200 that is not JSON is malformed",
			answer:     partnerAnswer{Header: map[string]string{"Content-Type": "text/html"}, Body: "<html>maintenance</html>"},
			wantStatus: 200,
			want:       []string{"not the expected JSON"},
		},
		{
			name:       "an expiry before the partner's own Date is already expired",
			answer:     partnerAnswer{Body: `{"status":"SUCCESS","result":{"token":"t0k3n","expiry":"2024-01-10T11:00:00Z"}}`},
			wantStatus: 200,
			want:       []string{"already expired"},
		},
		{
			name:       "an expiry equal to the partner's Date is already expired",
			answer:     partnerAnswer{Body: `{"status":"SUCCESS","result":{"token":"t0k3n","expiry":"2024-01-10T12:00:00Z"}}`},
			wantStatus: 200,
			want:       []string{"already expired"},
		},
		{
			name:       "an expiry in the past without a Date header is already expired",
			answer:     partnerAnswer{NoDate: true, Body: `{"status":"SUCCESS","result":{"token":"t0k3n","expiry":"2023-04-02T17:21:23Z"}}`},
			wantStatus: 200,
			want:       []string{"already expired"},
		},
		{
			name:       "an expiry centuries away is implausible",
			answer:     partnerAnswer{Body: `{"status":"SUCCESS","result":{"token":"t0k3n","expiry":"2999-01-01T00:00:00Z"}}`},
			wantStatus: 200,
			want:       []string{"implausibly long"},
		},
		{
			name:       "a JWT whose exp is before its iat is already expired",
			answer:     partnerAnswer{Body: `{"status":"SUCCESS","result":{"token":"` + testJWT(map[string]any{"iat": 1_000_000_000, "exp": 999_999_000}) + `"}}`},
			wantStatus: 200,
			want:       []string{"already expired"},
		},
		{
			name:       "a token with spaces cannot be a bearer token",
			answer:     partnerAnswer{Body: `{"status":"SUCCESS","result":{"token":"Bearer abc","expiry":"2024-01-10T13:00:00Z"}}`},
			wantStatus: 200,
			want:       []string{"not allowed in a bearer token"},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := newPartner(t, func(t *testing.T, r *http.Request) {
				checkRequest(t, r, duprRequest(testClientID, testSecret))
			}, tc.answer)
			tok, err := Mint(t.Context(), dupr{}, newRequest(p, duprPath, nil))
			perr := checkMintFailure(t, tok, err, "DUPR", tc.wantStatus, tc.want, tc.refused)
			if perr.RetryAfter != tc.retryAfter {
				t.Errorf("RetryAfter = %s, want %s", perr.RetryAfter, tc.retryAfter)
			}
			for _, leak := range []string{"leaky-token", "t0k3n"} {
				if strings.Contains(err.Error(), leak) {
					t.Errorf("error %q quotes the token", err)
				}
			}
		})
	}
}
