package partnersim

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/partnertoken/vault-plugin-secrets-partnertoken/internal/provider"
)

// The self-computed vectors d1-d8 (docs/partners.md#doku), computed with
// Python hmac/hashlib and openssl.
func TestDOKUSignatureMatchesTheResearchVectors(t *testing.T) {
	const key = "SK-test-secret"
	docString := "Client-Id:MCH-0001-10791114622547\nRequest-Id:cc682442-6c22-493e-8121-b9ef6b3fa728\n" +
		"Request-Timestamp:2020-08-11T08:45:42Z\nRequest-Target:/doku-virtual-account/v2/payment-code\n" +
		"Digest:5WIYK2TJg6iiZ0d5v4IXSR0EkYEkYOezJIma3Ufli5s="
	getString := "Client-Id:MCH-0001-10791114622547\nRequest-Id:d895fb53-479c-4f77-a76a-ab81b40d77cb\n" +
		"Request-Timestamp:2020-08-11T08:45:42Z\nRequest-Target:/orders/v1/status/INV-123123-12313"
	for _, tc := range []struct{ name, got, want string }{
		{"d1 the documented string to sign", signDOKU(docString, key), "HMACSHA256=9oIvh8TAJ/V5GT1awNcj/+UlhhGweNFB5MgF8H/iA+w="},
		{"d2 a GET without Digest", signDOKU(getString, key), "HMACSHA256=xBNTViuWvtd8BEt6TQbXbdqoggfzgMI7FTY0dv7lJUw="},
		{"d3 digest with valid_time", dokuDigest([]byte(`{"grant_type":"client_credentials","valid_time":"360"}`)), "23kYsU7yk6vZ/exEcBe1UAFmjn17wuk165Oc+E3Cb8Y="},
		{"d4 the token request with valid_time", dokuSignature("BRN-0001-10791114622547", "fdb69f47-96da-499d-acec-7cdc318ab2fe", "2020-08-11T08:45:42Z",
			"/adv-core-api/partner/v1.0/token", []byte(`{"grant_type":"client_credentials","valid_time":"360"}`), key), "HMACSHA256=SOb5/zb9CZscC3RxVKgr6TZB6G+E8Ts6Gvn/n/M7cJI="},
		{"d5 digest without valid_time", dokuDigest([]byte(`{"grant_type":"client_credentials"}`)), "RjM9wA/SMBFp+cRqk76AHm1QEId4d7CiBwZZZYDfifk="},
		{"d6 the token request without valid_time", dokuSignature("BRN-0001-10791114622547", "fdb69f47-96da-499d-acec-7cdc318ab2fe", "2020-08-11T08:45:42Z",
			"/adv-core-api/partner/v1.0/token", []byte(`{"grant_type":"client_credentials"}`), key), "HMACSHA256=PKjYcqZct1NfpBNq+rRkEg29LQFmLCJR7GDWnPXvXcM="},
		{"d7 digest of {}", dokuDigest([]byte(`{}`)), "RBNvo1WzZ4oRRq0W9+hknpT7T8If536DEMBg9hyq/4o="},
		{"d8 digest of nothing", dokuDigest(nil), "47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU="},
	} {
		if tc.got != tc.want {
			t.Errorf("%s: got %s, want %s", tc.name, tc.got, tc.want)
		}
	}
}

// dokuRequest is a token request the test signs by hand.
type dokuRequest struct {
	clientID, requestID, timestamp, target, body, secret, contentType string
}

var requestSeq int

func newDOKURequest(s *Server) dokuRequest {
	requestSeq++
	c := demo(DOKU)
	u, _ := url.Parse(s.TokenURL(DOKU))
	return dokuRequest{
		clientID:    c.ID,
		requestID:   fmt.Sprintf("req-%d-%d", time.Now().UnixNano(), requestSeq),
		timestamp:   epoch.Format("2006-01-02T15:04:05Z"),
		target:      u.Path,
		body:        `{"grant_type":"client_credentials"}`,
		secret:      c.Secret,
		contentType: "application/json",
	}
}

// headers signs the request independently of the server's code.
func (d dokuRequest) headers() map[string]string {
	sum := sha256.Sum256([]byte(d.body))
	msg := strings.Join([]string{
		"Client-Id:" + d.clientID,
		"Request-Id:" + d.requestID,
		"Request-Timestamp:" + d.timestamp,
		"Request-Target:" + d.target,
		"Digest:" + base64.StdEncoding.EncodeToString(sum[:]),
	}, "\n")
	mac := hmac.New(sha256.New, []byte(d.secret))
	mac.Write([]byte(msg))
	return map[string]string{
		"Client-Id":         d.clientID,
		"Request-Id":        d.requestID,
		"Request-Timestamp": d.timestamp,
		"Signature":         "HMACSHA256=" + base64.StdEncoding.EncodeToString(mac.Sum(nil)),
		"Content-Type":      d.contentType,
	}
}

func TestDOKUIssuesATokenForASignedRequest(t *testing.T) {
	s, _ := start(t, Options{})
	for _, tc := range []struct {
		name     string
		body     string
		lifetime time.Duration
	}{
		{"without valid_time the configured lifetime applies", `{"grant_type":"client_credentials"}`, 5 * time.Minute},
		{"valid_time asks for minutes", `{"grant_type":"client_credentials","valid_time":"360"}`, 360 * time.Minute},
		{"formatting and extra fields are signed as sent", "{\n  \"valid_time\": \"2\",\n  \"grant_type\": \"client_credentials\"\n}", 2 * time.Minute},
		{"the longest valid_time the engine asks for is granted", `{"grant_type":"client_credentials","valid_time":"` + strconv.Itoa(provider.DOKUMaxValidTime) + `"}`, time.Duration(provider.DOKUMaxValidTime) * time.Minute},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := newDOKURequest(s)
			d.body = tc.body
			res := post(t, s.TokenURL(DOKU), d.headers(), d.body)
			m := res.expect(t, http.StatusOK, nil)
			token, _ := m["token"].(string)
			header, claims := decodeJWT(t, token)
			if header["alg"] != "RS256" {
				t.Errorf("alg = %v", header["alg"])
			}
			iat, exp := claimInt(t, claims, "iat"), claimInt(t, claims, "exp")
			if iat != epoch.Unix() || time.Duration(exp-iat)*time.Second != tc.lifetime {
				t.Errorf("iat=%d exp=%d, want a lifetime of %v", iat, exp, tc.lifetime)
			}
			user, _ := claims["user"].(map[string]any)
			if user["businessServiceClientId"] != d.clientID {
				t.Errorf("user = %v", claims["user"])
			}
			// The answer is signed back with Response-Timestamp.
			sum := sha256.Sum256(res.body)
			mac := hmac.New(sha256.New, []byte(d.secret))
			fmt.Fprintf(mac, "Client-Id:%s\nRequest-Id:%s\nResponse-Timestamp:%s\nRequest-Target:%s\nDigest:%s",
				d.clientID, d.requestID, res.header.Get("Response-Timestamp"), d.target, base64.StdEncoding.EncodeToString(sum[:]))
			if want := "HMACSHA256=" + base64.StdEncoding.EncodeToString(mac.Sum(nil)); res.header.Get("Signature") != want {
				t.Errorf("response Signature = %q, want %q", res.header.Get("Signature"), want)
			}
			if active, _ := s.Introspect(DOKU, token); !active {
				t.Error("token not active")
			}
		})
	}
}

func TestDOKURefusals(t *testing.T) {
	s, _ := start(t, Options{})
	const (
		badSig    = "INVALID_SIGNATURE"
		badParam  = "INVALID_PARAMETER"
		badTime   = "INVALID_TIMESTAMP"
		duplicate = "DUPLICATE_REQUEST_ID"
	)
	used := newDOKURequest(s)
	post(t, s.TokenURL(DOKU), used.headers(), used.body).expect(t, http.StatusOK, nil)

	for _, tc := range []struct {
		name   string
		edit   func(d *dokuRequest, h map[string]string)
		status int
		code   string
	}{
		{"a signature made with another secret", func(d *dokuRequest, h map[string]string) {
			d.secret = "SK-wrong"
			for k, v := range d.headers() {
				h[k] = v
			}
		}, 401, badSig},
		{"a body changed after signing", func(d *dokuRequest, h map[string]string) {
			d.body = `{"grant_type":"client_credentials","valid_time":"999"}`
		}, 401, badSig},
		{"a Request-Target without the simulator's prefix", func(d *dokuRequest, h map[string]string) {
			d.target = "/adv-core-api/partner/v1.0/token"
			for k, v := range d.headers() {
				h[k] = v
			}
		}, 401, badSig},
		{"a signature without the HMACSHA256= prefix", func(d *dokuRequest, h map[string]string) {
			h["Signature"] = strings.TrimPrefix(h["Signature"], "HMACSHA256=")
		}, 401, badSig},
		{"an unknown Client-Id", func(d *dokuRequest, h map[string]string) {
			d.clientID = "BRN-0000-unknown"
			for k, v := range d.headers() {
				h[k] = v
			}
		}, 401, "INVALID_CLIENT_ID"},
		{"a missing Signature header", func(d *dokuRequest, h map[string]string) { delete(h, "Signature") }, 400, badParam},
		{"a missing Request-Id header", func(d *dokuRequest, h map[string]string) { delete(h, "Request-Id") }, 400, badParam},
		{"a Request-Id over 128 characters", func(d *dokuRequest, h map[string]string) {
			d.requestID = strings.Repeat("r", 129)
			for k, v := range d.headers() {
				h[k] = v
			}
		}, 400, badParam},
		{"a Request-Id already used", func(d *dokuRequest, h map[string]string) {
			d.requestID = used.requestID
			for k, v := range d.headers() {
				h[k] = v
			}
		}, 409, duplicate},
		{"a timestamp six minutes old", func(d *dokuRequest, h map[string]string) {
			d.timestamp = epoch.Add(-6 * time.Minute).Format("2006-01-02T15:04:05Z")
			for k, v := range d.headers() {
				h[k] = v
			}
		}, 400, badTime},
		{"a timestamp six minutes ahead", func(d *dokuRequest, h map[string]string) {
			d.timestamp = epoch.Add(6 * time.Minute).Format("2006-01-02T15:04:05Z")
			for k, v := range d.headers() {
				h[k] = v
			}
		}, 400, badTime},
		{"a timestamp with fractional seconds", func(d *dokuRequest, h map[string]string) {
			d.timestamp = "2026-03-01T12:00:00.000Z"
			for k, v := range d.headers() {
				h[k] = v
			}
		}, 400, badTime},
		{"a timestamp in WIB instead of UTC", func(d *dokuRequest, h map[string]string) {
			d.timestamp = epoch.In(time.FixedZone("WIB", 7*3600)).Format("2006-01-02T15:04:05+07:00")
			for k, v := range d.headers() {
				h[k] = v
			}
		}, 400, badTime},
		{"valid_time as a number", func(d *dokuRequest, h map[string]string) {
			d.body = `{"grant_type":"client_credentials","valid_time":360}`
			for k, v := range d.headers() {
				h[k] = v
			}
		}, 400, badParam},
		{"valid_time that is not whole minutes", func(d *dokuRequest, h map[string]string) {
			d.body = `{"grant_type":"client_credentials","valid_time":"1.5"}`
			for k, v := range d.headers() {
				h[k] = v
			}
		}, 400, badParam},
		{"valid_time a minute longer than the engine ever asks for", func(d *dokuRequest, h map[string]string) {
			d.body = `{"grant_type":"client_credentials","valid_time":"` + strconv.Itoa(provider.DOKUMaxValidTime+1) + `"}`
			for k, v := range d.headers() {
				h[k] = v
			}
		}, 400, badParam},
		{"valid_time of zero", func(d *dokuRequest, h map[string]string) {
			d.body = `{"grant_type":"client_credentials","valid_time":"0"}`
			for k, v := range d.headers() {
				h[k] = v
			}
		}, 400, badParam},
		{"a missing grant_type", func(d *dokuRequest, h map[string]string) {
			d.body = `{"valid_time":"5"}`
			for k, v := range d.headers() {
				h[k] = v
			}
		}, 400, badParam},
		{"an empty body", func(d *dokuRequest, h map[string]string) {
			d.body = ``
			for k, v := range d.headers() {
				h[k] = v
			}
		}, 400, badParam},
		{"a form body", func(d *dokuRequest, h map[string]string) {
			d.body, d.contentType = "grant_type=client_credentials", formType
			for k, v := range d.headers() {
				h[k] = v
			}
		}, 400, badParam},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := newDOKURequest(s)
			h := d.headers()
			tc.edit(&d, h)
			post(t, s.TokenURL(DOKU), h, d.body).expect(t, tc.status, map[string]any{"status": "FAILED", "response_code": tc.code})
		})
	}
	counters(t, s, DOKU, Stats{Requests: 21, Mints: 1, Rejections: 20})
}

func TestDOKUInvalidSignatureMessage(t *testing.T) {
	s, _ := start(t, Options{})
	d := newDOKURequest(s)
	h := d.headers()
	h["Signature"] = "HMACSHA256=" + base64.StdEncoding.EncodeToString(make([]byte, 32))
	post(t, s.TokenURL(DOKU), h, d.body).expect(t, http.StatusUnauthorized,
		map[string]any{"status": "FAILED", "response_code": "INVALID_SIGNATURE", "message": "Invalid Header Signature"})
}

func TestDOKUTimestampWindowFollowsTheSimulatorClock(t *testing.T) {
	s, clk := start(t, Options{})
	d := newDOKURequest(s) // stamped with epoch
	clk.Advance(DOKUTimestampWindow)
	post(t, s.TokenURL(DOKU), d.headers(), d.body).expect(t, http.StatusOK, nil)
	d = newDOKURequest(s)
	clk.Advance(time.Second)
	post(t, s.TokenURL(DOKU), d.headers(), d.body).expect(t, http.StatusBadRequest, map[string]any{"response_code": "INVALID_TIMESTAMP"})
}
