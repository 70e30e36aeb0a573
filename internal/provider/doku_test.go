package provider

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
)

const dokuPath = "/adv-core-api/partner/v1.0/token"

// dokuSampleToken is the documented answer's token: a JWT with
// iat 1704844591 and exp 1704866191, i.e. 360 minutes.
const dokuSampleToken = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJwYXlsb2FkIiwiZXhwIjoxNzA0ODY2MTkxLCJ1c2VyIjp7ImJ1c2luZXNzU2VydmljZUNsaWVudElkIjoiQlJOLTAyNDktMTY5NzUzNzM5Njc4MyJ9LCJpYXQiOjE3MDQ4NDQ1OTF9.F5HtcC4qmzTdvfSNow1mHneHKDQ4OYJl1bLghlKbEDJaIwFpIhKcbh93qEyGbTlAZsX2Akwz6idlpqd2acM4hq07jIbw5w_JbeGtB56P9bNIJJBAFEuf84ijGUOd3UPetwn0oXRnC1mvt3aCufcAqCnaR86gW8Mxs-GCA5XvkIfyc2OTnuuH5qI4ozhyYrInW3iJxs-s7CI81hPaAxfo6kC075Ub8eYcWxbtOygxthPcoSVI28OCiWGlBoBDq27DCYT3CbSlsljhEJIDMLBEkkaAMSt8RbxVi9RS2VvNwTxYLfcLiJG9UgCoKjtGCMg7M81mcD8VxkrHh5ftekbrKw"

// The DOKU docs' example string to sign (non-SNAP request header page) and
// its GET variant without Digest; vectors d1-d8 (docs/partners.md#doku) were computed
// from them with Python hmac/hashlib and openssl.
const (
	dokuDocStringToSign = "Client-Id:MCH-0001-10791114622547\n" +
		"Request-Id:cc682442-6c22-493e-8121-b9ef6b3fa728\n" +
		"Request-Timestamp:2020-08-11T08:45:42Z\n" +
		"Request-Target:/doku-virtual-account/v2/payment-code\n" +
		"Digest:5WIYK2TJg6iiZ0d5v4IXSR0EkYEkYOezJIma3Ufli5s="
	dokuGetStringToSign = "Client-Id:MCH-0001-10791114622547\n" +
		"Request-Id:d895fb53-479c-4f77-a76a-ab81b40d77cb\n" +
		"Request-Timestamp:2020-08-11T08:45:42Z\n" +
		"Request-Target:/orders/v1/status/INV-123123-12313"
)

func TestDOKUDigestVectors(t *testing.T) {
	tests := []struct {
		name string
		body string
		want string
	}{
		{"d3: the documented body with valid_time 360", `{"grant_type":"client_credentials","valid_time":"360"}`, "23kYsU7yk6vZ/exEcBe1UAFmjn17wuk165Oc+E3Cb8Y="},
		{"d5: the body without valid_time", `{"grant_type":"client_credentials"}`, "RjM9wA/SMBFp+cRqk76AHm1QEId4d7CiBwZZZYDfifk="},
		{"d7: an empty JSON object", `{}`, "RBNvo1WzZ4oRRq0W9+hknpT7T8If536DEMBg9hyq/4o="},
		{"d8: the empty string", ``, "47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU="},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := dokuDigest([]byte(tc.body)); got != tc.want {
				t.Errorf("dokuDigest(%q) = %q, want %q", tc.body, got, tc.want)
			}
		})
	}
}

func TestDOKUSignatureVectors(t *testing.T) {
	tokenRequest := dokuComponents{
		ClientID:  "BRN-0001-10791114622547",
		RequestID: "fdb69f47-96da-499d-acec-7cdc318ab2fe",
		Timestamp: "2020-08-11T08:45:42Z",
		Target:    "/adv-core-api/partner/v1.0/token",
	}
	withValidTime, withoutValidTime := tokenRequest, tokenRequest
	withValidTime.Digest = "23kYsU7yk6vZ/exEcBe1UAFmjn17wuk165Oc+E3Cb8Y="
	withoutValidTime.Digest = "RjM9wA/SMBFp+cRqk76AHm1QEId4d7CiBwZZZYDfifk="
	tests := []struct {
		name       string
		components dokuComponents
		wantString string
		want       string
	}{
		{
			name: "d1: the docs' example string signed with SK-test-secret",
			components: dokuComponents{
				ClientID:  "MCH-0001-10791114622547",
				RequestID: "cc682442-6c22-493e-8121-b9ef6b3fa728",
				Timestamp: "2020-08-11T08:45:42Z",
				Target:    "/doku-virtual-account/v2/payment-code",
				Digest:    "5WIYK2TJg6iiZ0d5v4IXSR0EkYEkYOezJIma3Ufli5s=",
			},
			wantString: dokuDocStringToSign,
			want:       "HMACSHA256=9oIvh8TAJ/V5GT1awNcj/+UlhhGweNFB5MgF8H/iA+w=",
		},
		{
			name: "d2: a request without a body has no Digest line",
			components: dokuComponents{
				ClientID:  "MCH-0001-10791114622547",
				RequestID: "d895fb53-479c-4f77-a76a-ab81b40d77cb",
				Timestamp: "2020-08-11T08:45:42Z",
				Target:    "/orders/v1/status/INV-123123-12313",
			},
			wantString: dokuGetStringToSign,
			want:       "HMACSHA256=xBNTViuWvtd8BEt6TQbXbdqoggfzgMI7FTY0dv7lJUw=",
		},
		{
			name:       "d4: the token request with valid_time 360",
			components: withValidTime,
			wantString: "Client-Id:BRN-0001-10791114622547\nRequest-Id:fdb69f47-96da-499d-acec-7cdc318ab2fe\nRequest-Timestamp:2020-08-11T08:45:42Z\nRequest-Target:/adv-core-api/partner/v1.0/token\nDigest:23kYsU7yk6vZ/exEcBe1UAFmjn17wuk165Oc+E3Cb8Y=",
			want:       "HMACSHA256=SOb5/zb9CZscC3RxVKgr6TZB6G+E8Ts6Gvn/n/M7cJI=",
		},
		{
			name:       "d6: the token request without valid_time",
			components: withoutValidTime,
			wantString: "Client-Id:BRN-0001-10791114622547\nRequest-Id:fdb69f47-96da-499d-acec-7cdc318ab2fe\nRequest-Timestamp:2020-08-11T08:45:42Z\nRequest-Target:/adv-core-api/partner/v1.0/token\nDigest:RjM9wA/SMBFp+cRqk76AHm1QEId4d7CiBwZZZYDfifk=",
			want:       "HMACSHA256=PKjYcqZct1NfpBNq+rRkEg29LQFmLCJR7GDWnPXvXcM=",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.components.stringToSign(); got != tc.wantString {
				t.Errorf("stringToSign() = %q, want %q", got, tc.wantString)
			}
			if got := dokuSignature("SK-test-secret", tc.components); got != tc.want {
				t.Errorf("dokuSignature = %q, want %q", got, tc.want)
			}
		})
	}
}

func TestDOKUSpec(t *testing.T) {
	spec := doku{}.Spec()
	checkSpec(t, spec, wantSpec{
		name: "doku", displayName: "DOKU",
		docs:            "https://developers.doku.com/partnership/partner-api/generate-token-api",
		defaultLifetime: 0, // DOKU documents none
		environments: map[string]string{
			"sandbox":    "https://api-uat.doku.com/adv-core-api/partner/v1.0/token",
			"production": "https://api.doku.com/adv-core-api/partner/v1.0/token",
		},
		environmentCount: 2,
		fieldCount:       1, // valid_time
	})
	if f := spec.Fields[0]; f.Name != "valid_time" || f.Type != String || f.Description == "" || f.Default != "" {
		t.Errorf("valid_time field = %+v", f)
	}
}

func TestDOKUValidTimeField(t *testing.T) {
	field, _ := doku{}.Spec().Field("valid_time")
	tests := []struct {
		name    string
		value   string
		wantErr string
	}{
		{"the documented 360 minutes is accepted", "360", ""},
		{"one minute is accepted", "1", ""},
		{"366 days in minutes is accepted", "527040", ""},
		{"more than 366 days is refused", "527041", "valid_time: must be at most 527040 minutes (366 days)"},
		{"a number too large for an int is refused", "99999999999999999999999", "valid_time: must be at most 527040 minutes"},
		{"zero is refused", "0", "valid_time: must be a positive whole number of minutes, digits only, such as 360"},
		{"a leading zero is refused", "0360", "valid_time: must be a positive whole number of minutes"},
		{"a negative number is refused", "-5", "valid_time: must be a positive whole number of minutes"},
		{"a plus sign is refused", "+5", "valid_time: must be a positive whole number of minutes"},
		{"a duration with a unit is refused", "6h", "valid_time: must be a positive whole number of minutes"},
		{"a fraction is refused", "36.5", "valid_time: must be a positive whole number of minutes"},
		{"non-ASCII digits are refused", "３６０", "valid_time: must be a positive whole number of minutes"},
		{"an empty value is refused", "", "valid_time: must be a positive whole number of minutes"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := field.Validate(tc.value)
			switch {
			case tc.wantErr == "" && err != nil:
				t.Errorf("Validate(%q) = %v, want nil", tc.value, err)
			case tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)):
				t.Errorf("Validate(%q) = %v, want %q", tc.value, err, tc.wantErr)
			}
		})
	}
}

// dokuRequestChecker checks a token request strictly: Request-Id must be a
// canonical UUID v4, and Signature must match one recomputed here, without
// the provider's signer, from what actually arrived.
func dokuRequestChecker(path, query, wantBody, wantTimestamp string) func(t *testing.T, r *http.Request) {
	return func(t *testing.T, r *http.Request) {
		t.Helper()
		requestID := r.Header.Get("Request-Id")
		id, err := uuid.Parse(requestID)
		if err != nil || id.Version() != 4 || id.Variant() != uuid.RFC4122 || id.String() != requestID {
			t.Errorf("Request-Id %q is not a canonical UUID v4", requestID)
		}
		sum := sha256.Sum256([]byte(wantBody))
		toSign := "Client-Id:" + testClientID +
			"\nRequest-Id:" + requestID +
			"\nRequest-Timestamp:" + wantTimestamp +
			"\nRequest-Target:" + path +
			"\nDigest:" + base64.StdEncoding.EncodeToString(sum[:])
		mac := hmac.New(sha256.New, []byte(testSecret))
		mac.Write([]byte(toSign))
		checkRequest(t, r, wantRequest{
			Path:  path,
			Query: query,
			Header: engineHeaders(map[string]string{
				"Client-Id":         testClientID,
				"Request-Id":        requestID,
				"Request-Timestamp": wantTimestamp,
				"Signature":         "HMACSHA256=" + base64.StdEncoding.EncodeToString(mac.Sum(nil)),
				"Content-Type":      "application/json",
			}),
			Body: wantBody,
		})
	}
}

func TestDOKUMint(t *testing.T) {
	wib := time.FixedZone("WIB", 7*60*60)
	fiveMinutes := testJWT(map[string]any{"sub": "payload", "iat": 1_695_185_444, "exp": 1_695_185_744})
	tests := []struct {
		name          string
		validTime     string
		now           time.Time
		wantTimestamp string
		wantBody      string
		answer        string
		wantToken     string
		wantLifetime  time.Duration
	}{
		{
			name:          "the documented request with valid_time 360 gets the documented 360-minute token",
			validTime:     "360",
			now:           testNow,
			wantTimestamp: "2024-01-10T12:00:00Z",
			wantBody:      `{"grant_type":"client_credentials","valid_time":"360"}`,
			answer:        `{"token":"` + dokuSampleToken + `"}`,
			wantToken:     dokuSampleToken,
			wantLifetime:  360 * time.Minute,
		},
		{
			name:          "without valid_time the body has only grant_type and the JWT decides the expiry",
			now:           testNow,
			wantTimestamp: "2024-01-10T12:00:00Z",
			wantBody:      `{"grant_type":"client_credentials"}`,
			answer:        `{"token":"` + fiveMinutes + `"}`,
			wantToken:     fiveMinutes,
			wantLifetime:  5 * time.Minute,
		},
		{
			name:          "the JWT's exp minus iat wins over the valid_time asked for",
			validTime:     "360",
			now:           testNow,
			wantTimestamp: "2024-01-10T12:00:00Z",
			wantBody:      `{"grant_type":"client_credentials","valid_time":"360"}`,
			answer:        `{"token":"` + fiveMinutes + `"}`,
			wantToken:     fiveMinutes,
			wantLifetime:  5 * time.Minute,
		},
		{
			name:          "a token that is not a JWT lives the valid_time asked for",
			validTime:     "90",
			now:           testNow,
			wantTimestamp: "2024-01-10T12:00:00Z",
			wantBody:      `{"grant_type":"client_credentials","valid_time":"90"}`,
			answer:        `{"token":"opaque-doku-token"}`,
			wantToken:     "opaque-doku-token",
			wantLifetime:  90 * time.Minute,
		},
		{
			name:          "a local clock in WIB is sent as UTC to the second, as the docs' example shows",
			validTime:     "360",
			now:           time.Date(2020, 9, 22, 8, 51, 0, 987654321, wib),
			wantTimestamp: "2020-09-22T01:51:00Z",
			wantBody:      `{"grant_type":"client_credentials","valid_time":"360"}`,
			answer:        `{"token":"` + fiveMinutes + `"}`,
			wantToken:     fiveMinutes,
			wantLifetime:  5 * time.Minute,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := newPartner(t, dokuRequestChecker(dokuPath, "", tc.wantBody, tc.wantTimestamp), partnerAnswer{Body: tc.answer})
			opts := Options{}
			if tc.validTime != "" {
				opts["valid_time"] = tc.validTime
			}
			req := newRequest(p, dokuPath, opts)
			req.Now = func() time.Time { return tc.now }
			tok, err := Mint(t.Context(), doku{}, req)
			if err != nil {
				t.Fatalf("Mint: %v", err)
			}
			if tok.AccessToken != tc.wantToken || tok.TokenType != "Bearer" {
				t.Errorf("token = %q %q, want %q Bearer", tok.TokenType, tok.AccessToken, tc.wantToken)
			}
			if !tok.IssuedAt.Equal(tc.now) || !tok.ExpiresAt.Equal(tc.now.Add(tc.wantLifetime)) {
				t.Errorf("issued %s expires %s, want %s and %s", tok.IssuedAt, tok.ExpiresAt, tc.now, tc.now.Add(tc.wantLifetime))
			}
			if tok.Extra != nil {
				t.Errorf("Extra = %v, want nothing", tok.Extra)
			}
			if p.Calls() != 1 {
				t.Errorf("%d requests, want 1", p.Calls())
			}
		})
	}
}

func TestDOKUMintUsesAFreshRequestIDEveryTime(t *testing.T) {
	body := `{"grant_type":"client_credentials"}`
	p := newPartner(t, dokuRequestChecker(dokuPath, "", body, "2024-01-10T12:00:00Z"), partnerAnswer{Body: `{"token":"` + dokuSampleToken + `"}`})
	for range 2 {
		if _, err := Mint(t.Context(), doku{}, newRequest(p, dokuPath, nil)); err != nil {
			t.Fatalf("Mint: %v", err)
		}
	}
	reqs := p.Requests()
	if len(reqs) != 2 {
		t.Fatalf("%d requests, want 2", len(reqs))
	}
	first, second := reqs[0].Header.Get("Request-Id"), reqs[1].Header.Get("Request-Id")
	if first == second {
		t.Errorf("both mints sent Request-Id %q; DOKU de-duplicates on it", first)
	}
	if reqs[0].Header.Get("Signature") == reqs[1].Header.Get("Signature") {
		t.Errorf("both mints sent the same Signature although their Request-Ids differ")
	}
}

func TestDOKUMintSignsThePathWithoutTheQuery(t *testing.T) {
	body := `{"grant_type":"client_credentials"}`
	p := newPartner(t, dokuRequestChecker(dokuPath, "tenant=a", body, "2024-01-10T12:00:00Z"), partnerAnswer{Body: `{"token":"` + dokuSampleToken + `"}`})
	if _, err := Mint(t.Context(), doku{}, newRequest(p, dokuPath+"?tenant=a", nil)); err != nil {
		t.Fatalf("Mint: %v", err)
	}
}

func TestDOKUMintRefusesAnInvalidStoredValidTimeWithoutCalling(t *testing.T) {
	p := newPartner(t, func(t *testing.T, r *http.Request) { t.Error("the partner was called") }, partnerAnswer{})
	_, err := Mint(t.Context(), doku{}, newRequest(p, dokuPath, Options{"valid_time": "6h"}))
	checkError(t, err, "DOKU", 0, []string{"valid_time: must be a positive whole number of minutes"})
	if p.Calls() != 0 {
		t.Errorf("%d requests, want none", p.Calls())
	}
}

func TestDOKUMintFailures(t *testing.T) {
	tests := []struct {
		name       string
		validTime  string
		answer     partnerAnswer
		wantStatus int
		want       []string
		refused    bool
		retryAfter time.Duration
	}{
		{
			name:       "a bad signature is refused with DOKU's response code and message",
			answer:     partnerAnswer{Status: 401, Body: `{"status":"FAILED","response_code":"INVALID_SIGNATURE","message":"Invalid Header Signature"}`},
			wantStatus: 401,
			want:       []string{`status="FAILED"`, `message="Invalid Header Signature"`, `response_code="INVALID_SIGNATURE"`},
			refused:    true,
		},
		{
			name:       "an invalid parameter in the older error shape is refused with its message",
			validTime:  "360",
			answer:     partnerAnswer{Status: 400, Body: `{"status_code":"400","message":"valid_time is invalid"}`},
			wantStatus: 400,
			want:       []string{`message="valid_time is invalid"`},
			refused:    true,
		},
		{
			name:       "a 403 that echoes the secret key does not leak it",
			answer:     partnerAnswer{Status: 403, Body: `{"status":"FAILED","message":"key ` + testSecret + ` is disabled"}`},
			wantStatus: 403,
			want:       []string{`message="key [redacted] is disabled"`},
			refused:    true,
		},
		{
			name:       "rate limiting keeps the partner's Retry-After",
			answer:     partnerAnswer{Status: 429, Header: map[string]string{"Retry-After": "12"}, Body: `{"status":"FAILED","response_code":"TOO_MANY_REQUESTS"}`},
			wantStatus: 429,
			want:       []string{`response_code="TOO_MANY_REQUESTS"`},
			retryAfter: 12 * time.Second,
		},
		{
			name:       "a 200 without token is an error, never an empty token",
			answer:     partnerAnswer{Body: `{"status":"SUCCESS"}`},
			wantStatus: 200,
			want:       []string{"no token"},
		},
		{
			name:       "a token that is an object is the wrong type",
			answer:     partnerAnswer{Body: `{"token":{"jwt":"abc"}}`},
			wantStatus: 200,
			want:       []string{`field "token" has the wrong type`},
		},
		{
			name:       "a 200 that is not JSON is malformed",
			answer:     partnerAnswer{Header: map[string]string{"Content-Type": "text/html"}, Body: "<html>DOKU</html>"},
			wantStatus: 200,
			want:       []string{"not the expected JSON"},
		},
		{
			name:       "a token without exp and no valid_time has an unknown expiry",
			answer:     partnerAnswer{Body: `{"token":"opaque-doku-token"}`},
			wantStatus: 200,
			want:       []string{"no exp claim and valid_time is not set"},
		},
		{
			name:       "a JWT whose exp is before its iat is already expired, whatever valid_time says",
			validTime:  "360",
			answer:     partnerAnswer{Body: `{"token":"` + testJWT(map[string]any{"iat": 1_695_185_444, "exp": 1_695_185_000}) + `"}`},
			wantStatus: 200,
			want:       []string{"already expired"},
		},
		{
			name:       "a JWT living ten years is implausible",
			answer:     partnerAnswer{Body: `{"token":"` + testJWT(map[string]any{"iat": 1_695_185_444, "exp": 1_695_185_444 + 10*366*24*3600}) + `"}`},
			wantStatus: 200,
			want:       []string{"implausibly long"},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			body := `{"grant_type":"client_credentials"}`
			opts := Options{}
			if tc.validTime != "" {
				body = `{"grant_type":"client_credentials","valid_time":"` + tc.validTime + `"}`
				opts["valid_time"] = tc.validTime
			}
			p := newPartner(t, dokuRequestChecker(dokuPath, "", body, "2024-01-10T12:00:00Z"), tc.answer)
			tok, err := Mint(t.Context(), doku{}, newRequest(p, dokuPath, opts))
			perr := checkMintFailure(t, tok, err, "DOKU", tc.wantStatus, tc.want, tc.refused)
			if perr.RetryAfter != tc.retryAfter {
				t.Errorf("RetryAfter = %s, want %s", perr.RetryAfter, tc.retryAfter)
			}
		})
	}
}
