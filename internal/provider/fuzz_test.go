package provider

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"
	"unicode/utf8"
)

// The fuzz targets feed arbitrary partner answers to each provider, through
// Mint and a transport that never touches the network, with an arbitrary
// secret (any the config accepts) that the answer may echo in one of the
// shapes a partner's stack could give it. Whatever arrives, Mint must not
// panic, must never return an empty, expired or implausible token, and its
// error must never hold 8 consecutive characters of the secret.
//
//	go test -run '^$' -fuzz '^FuzzDUPRResponse$' -fuzztime 30s ./provider/

const fuzzSecret = "fuzz-secret-7d2c9b"

// cannedTransport answers every request with one fixed response.
type cannedTransport struct {
	status int
	header http.Header
	body   []byte
}

func (c cannedTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.Body != nil {
		io.Copy(io.Discard, req.Body)
		req.Body.Close()
	}
	return &http.Response{
		StatusCode: c.status,
		Header:     c.header,
		Body:       io.NopCloser(bytes.NewReader(c.body)),
		Request:    req,
	}, nil
}

// echoPlaceholder in a fuzzed body is replaced by the secret in the shape
// the echo argument picks.
const echoPlaceholder = "SECRET"

// echoShapes are the shapes in which a partner could quote the secret,
// written independently of the provider's own list.
var echoShapes = []func(string) string{
	func(s string) string { return s },
	func(s string) string { b, _ := json.Marshal(s); return strings.Trim(string(b), `"`) },
	func(s string) string { return strings.Trim(strconv.Quote(s), `"`) },
	func(s string) string { return strings.Join(strings.Fields(s), " ") },
	url.QueryEscape,
	func(s string) string { return strings.Trim(strconv.QuoteToASCII(s), `"`) },
	func(s string) string { return base64.StdEncoding.EncodeToString([]byte("fuzz-client:" + s)) },
	func(s string) string { r := []rune(s); return string(r[:len(r)/2]) },
}

// acceptedSecret is what config/<name> lets through as a client secret.
func acceptedSecret(s string) bool {
	return utf8.ValidString(s) && utf8.RuneCountInString(s) >= 4 &&
		strings.IndexFunc(s, func(r rune) bool { return r < 0x20 || r == 0x7f }) < 0
}

func fuzzMint(t *testing.T, p Provider, tokenURL string, status int, contentType, date string, body []byte, secret string, echo uint8) {
	if !acceptedSecret(secret) {
		return
	}
	body = bytes.ReplaceAll(body, []byte(echoPlaceholder), []byte(echoShapes[int(echo)%len(echoShapes)](secret)))
	header := http.Header{}
	if contentType != "" {
		header.Set("Content-Type", contentType)
	}
	if date != "" {
		header.Set("Date", date)
	}
	now := time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC)
	req := &Request{
		TokenURL:     tokenURL,
		ClientID:     "fuzz-client",
		ClientSecret: secret,
		Options:      Options{},
		Client:       &http.Client{Transport: cannedTransport{status: status, header: header, body: body}},
		Now:          func() time.Time { return now },
	}
	tok, err := Mint(context.Background(), p, req)
	if err != nil {
		if tok != nil {
			t.Fatal("Mint returned both a token and an error")
		}
		perr, ok := AsError(err)
		if !ok {
			t.Fatalf("error is not a *provider.Error: %v", err)
		}
		// The message is the part a partner can put words into; the rest
		// is the engine's own fixed text.
		if w, leaks := holdsPartOf(perr.Message, secret); leaks && perr.Message != withheld {
			t.Fatalf("error message holds %q of the secret %q: %v", w, secret, err)
		}
		return
	}
	switch {
	case tok.AccessToken == "":
		t.Fatal("empty token accepted")
	case tok.TokenType != "Bearer":
		t.Fatalf("token type %q", tok.TokenType)
	case tok.Lifetime() <= 0 || tok.Lifetime() > maxLifetime:
		t.Fatalf("lifetime %s accepted", tok.Lifetime())
	case status < 200 || status > 299:
		t.Fatalf("a token accepted from HTTP %d", status)
	}
}

// seedBodies are realistic answers and near misses shared by the targets.
var seedBodies = []string{
	`{"access_token":"PaZDOD5UwzbGOFsQr34LQ7JUYOj3yK","expires_in":36000,"token_type":"Bearer","scope":"read write"}`,
	`{"access_token":"dinie_at_eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJkaW5pZV9jaV8xIiwiZXhwIjoxNzA5NTU1NjAwfQ.abc123","token_type":"bearer","expires_in":3600}`,
	`{"status":"SUCCESS","result":{"token":"eyJhbGciOiJSUzUxMiJ9.eyJleHAiOjE3OTU0MjgwMDB9.sig","expiry":"2026-11-23T11:00:00Z"}}`,
	`{"accessToken":"eyJhbGciOiJSUzI1NiJ9.eyJleHAiOjE3OTU0MjQ5MDAsImlhdCI6MTc5NTQyNDAwMH0.sig","refreshToken":"x"}`,
	`{"token":"eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJwYXlsb2FkIiwiZXhwIjoxNzk1NDI0MzAwLCJpYXQiOjE3OTU0MjQwMDB9.sig"}`,
	`{"type":"https://api.dinie.com.br/errors/authentication-failed","title":"Authentication Failed","status":401,"detail":"Bad credentials.","code":"invalid_client"}`,
	`{"error":"invalid_client","error_description":"SECRET is wrong"}`,
	`{"status":"FAILED","message":"key SECRET is disabled"}`,
	`{"type":"x","title":"Unauthorized","detail":"SECRET","errors":[{"param":"client_secret","detail":"SECRET"}]}`,
	`{"status":"FAILURE","message":"Authentication error"}`,
	`{"access_token":"x","expires_in":"-1"}`,
	`{"access_token":"x","expires_in":1e300}`,
	`{"result":"oops"}`,
	`not json at all`,
	``,
}

// seedSecrets are secrets whose echo once got past the redaction: quotes
// and backslashes, runs of spaces, non-ASCII spaces, and one long enough to
// straddle the message limit.
var seedSecrets = []string{
	fuzzSecret,
	`se"cr\et  with   runs`,
	"no\u00a0break\u0085next-line",
	strings.Repeat("long-secret-", 30),
}

func addSeeds(f *testing.F) {
	for _, body := range seedBodies {
		for _, status := range []int{200, 401, 429} {
			f.Add(status, "application/json", "Mon, 23 Nov 2026 10:00:00 GMT", []byte(body), fuzzSecret, uint8(0))
		}
	}
	for i, secret := range seedSecrets {
		for echo := range echoShapes {
			f.Add(401, "application/json", "", []byte(`{"error":"invalid_client","error_description":"SECRET"}`), secret, uint8(echo))
			f.Add(200+i, "text/plain", "", []byte(strings.Repeat("x", maxMessageLength-5)+" SECRET"), secret, uint8(echo))
		}
	}
}

// fuzzProvider fuzzes the answers p gets from its token endpoint.
func fuzzProvider(f *testing.F, p Provider, tokenURL string) {
	addSeeds(f)
	f.Fuzz(func(t *testing.T, status int, contentType, date string, body []byte, secret string, echo uint8) {
		fuzzMint(t, p, tokenURL, fuzzStatus(status), contentType, date, body, secret, echo)
	})
}

func FuzzOAuth2Response(f *testing.F) { fuzzProvider(f, oauth2{}, "https://partner.example/token") }

func FuzzDUPRResponse(f *testing.F) {
	fuzzProvider(f, dupr{}, "https://uat.mydupr.com/api/auth/v1.0/token")
}

func FuzzSetuResponse(f *testing.F) { fuzzProvider(f, setu{}, "https://fd.example/auth/token") }

func FuzzPoderoResponse(f *testing.F) {
	fuzzProvider(f, podero{}, "https://app.podero.com/oauth2/token/")
}

func FuzzDOKUResponse(f *testing.F) {
	fuzzProvider(f, doku{}, "https://api-uat.doku.com/adv-core-api/partner/v1.0/token")
}

func FuzzDinieResponse(f *testing.F) {
	fuzzProvider(f, dinie{}, "https://sandbox.api.dinie.com.br/api/v3/auth/token")
}

// fuzzStatus maps any int onto a status code an HTTP client can receive.
func fuzzStatus(n int) int {
	if n < 0 {
		n = -n
	}
	return 100 + n%500
}

// FuzzDOKUSignature checks the signer against an independent HMAC over the
// documented string to sign, for any header values and body.
func FuzzDOKUSignature(f *testing.F) {
	f.Add("SK-test-secret", "BRN-0001-10791114622547", "fdb69f47-96da-499d-acec-7cdc318ab2fe", "2020-08-11T08:45:42Z", "/adv-core-api/partner/v1.0/token", []byte(`{"grant_type":"client_credentials","valid_time":"360"}`))
	f.Add("k", "", "", "", "/", []byte{})
	f.Fuzz(func(t *testing.T, secret, clientID, requestID, timestamp, target string, body []byte) {
		digest := dokuDigest(body)
		sum := sha256.Sum256(body)
		if digest != base64.StdEncoding.EncodeToString(sum[:]) {
			t.Fatal("digest differs from base64(SHA-256(body))")
		}
		got := dokuSignature(secret, dokuComponents{ClientID: clientID, RequestID: requestID, Timestamp: timestamp, Target: target, Digest: digest})
		mac := hmac.New(sha256.New, []byte(secret))
		mac.Write([]byte("Client-Id:" + clientID + "\nRequest-Id:" + requestID + "\nRequest-Timestamp:" + timestamp + "\nRequest-Target:" + target + "\nDigest:" + digest))
		want := "HMACSHA256=" + base64.StdEncoding.EncodeToString(mac.Sum(nil))
		if got != want {
			t.Fatalf("signature %s, want %s", got, want)
		}
		if len(got) != len("HMACSHA256=")+44 || !utf8.ValidString(got) {
			t.Fatalf("malformed signature header %q", got)
		}
	})
}
