package provider

import (
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
)

// holdsPartOf reports whether text holds 8 consecutive characters of
// secret, as is or with its white space collapsed the way a log line
// shows it.
func holdsPartOf(text, secret string) (string, bool) {
	for _, shape := range []string{secret, strings.Join(strings.Fields(secret), " ")} {
		runes := []rune(shape)
		for i := 0; i+8 <= len(runes); i++ {
			if w := string(runes[i : i+8]); strings.Contains(text, w) {
				return w, true
			}
		}
	}
	return "", false
}

// TestAnEchoedSecretNeverReachesTheError has a partner quote the secret it
// was sent, in each shape its stack could give it, in its error body.
func TestAnEchoedSecretNeverReachesTheError(t *testing.T) {
	goJSON := func(s string) string {
		b, _ := json.Marshal(map[string]string{"error": "invalid_client", "error_description": "secret " + s + " is wrong"})
		return string(b)
	}
	tests := []struct {
		name   string
		secret string
		body   func(secret string) string
		// cut is set when the redaction itself may fall past the limit.
		cut bool
	}{
		{"a secret with quotes and backslashes, JSON-escaped", `se"cr\et-with-quote`, goJSON, false},
		{"a secret with runs of spaces, JSON-escaped", "secret   with    runs", goJSON, false},
		{"a secret with a no-break space, JSON-escaped as is", "secret\u00a0nbsp-12345", goJSON, false},
		{"a secret with a next-line character, JSON-escaped as is", "secret\u0085nel-123456", goJSON, false},
		{"a secret with a no-break space, escaped as Python's ensure_ascii does", "secret\u00a0nbsp-12345", func(string) string {
			return `{"error":"invalid_client","error_description":"secret secret\u00a0nbsp-12345 is wrong"}`
		}, false},
		{"a secret with slashes, escaped as PHP does", "se/cr/et-slashes-1", func(string) string {
			return `{"error":"invalid_client","error_description":"secret se\/cr\/et-slashes-1 is wrong"}`
		}, false},
		{"a secret whose runs of spaces the partner collapsed itself", "secret   with    runs", func(string) string {
			return `{"error":"invalid_client","error_description":"secret secret with runs is wrong"}`
		}, false},
		{"a secret quoted in plain text", "plain-text-secret-1", func(s string) string {
			return "Unauthorized: client_secret " + strconv.Quote(s)
		}, false},
		{"a secret form-encoded in plain text", "a+b/c%d&e=f secret", func(s string) string {
			return "Unauthorized: client_secret=" + url.QueryEscape(s)
		}, false},
		// The message starts error="invalid_client" error_description="secret
		// (48 characters), so the secret starts 10 characters before the cut.
		{"a secret straddling the message limit", "straddling-secret-0123456789", func(s string) string {
			return goJSON(strings.Repeat("x", maxMessageLength-48-11) + " " + s)
		}, true},
		{"a secret straddling the limit in plain text", "straddling-secret-0123456789", func(s string) string {
			return strings.Repeat("y", maxMessageLength-11) + " " + s
		}, true},
		{"a secret of which only a part is echoed", "partial-echo-secret-0123456789", func(s string) string {
			return goJSON(s[:12])
		}, false},
		{"a secret echoed with its characters escaped one by one", "unicode-escaped-secret", func(s string) string {
			var b strings.Builder
			for _, c := range s {
				b.WriteString(`\u00` + strconv.FormatInt(int64(c), 16))
			}
			return `{"error":"invalid_client","error_description":"` + b.String() + `"}`
		}, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := newPartner(t, func(*testing.T, *http.Request) {}, partnerAnswer{Status: http.StatusUnauthorized, Body: tc.body(tc.secret)})
			req := newRequest(p, "/token", Options{})
			req.ClientSecret = tc.secret
			_, err := Mint(t.Context(), oauth2{}, req)
			perr, ok := AsError(err)
			if !ok {
				t.Fatalf("error %v is not a *provider.Error", err)
			}
			if w, leaks := holdsPartOf(err.Error(), tc.secret); leaks {
				t.Errorf("error %q holds %q of the secret", err, w)
			}
			if !tc.cut && perr.Message != withheld && !strings.Contains(perr.Message, "[redacted]") {
				t.Errorf("message %q shows neither a redaction nor the withheld notice", perr.Message)
			}
		})
	}
}

// TestTheOtherSecretIsRedactedToo has a partner quote the config's pending
// next secret while the current one is being sent.
func TestTheOtherSecretIsRedactedToo(t *testing.T) {
	const next = "next-secret-6b1f0c9a"
	p := newPartner(t, func(*testing.T, *http.Request) {}, partnerAnswer{Status: http.StatusUnauthorized,
		Body: `{"error":"invalid_client","error_description":"expected ` + next + `"}`})
	req := newRequest(p, "/token", Options{})
	req.OtherSecrets = []string{next}
	_, err := Mint(t.Context(), oauth2{}, req)
	checkError(t, err, "OAuth2", http.StatusUnauthorized, []string{`error_description="expected [redacted]"`})
	if strings.Contains(err.Error(), next) {
		t.Errorf("error %q shows the next secret", err)
	}
}

// TestAMessageWithoutTheSecretIsShownWhole checks the guard does not
// withhold ordinary partner messages.
func TestAMessageWithoutTheSecretIsShownWhole(t *testing.T) {
	p := newPartner(t, func(*testing.T, *http.Request) {}, partnerAnswer{Status: http.StatusUnauthorized,
		Body: `{"error":"invalid_client","error_description":"Client authentication failed"}`})
	_, err := Mint(t.Context(), oauth2{}, newRequest(p, "/token", Options{}))
	checkError(t, err, "OAuth2", http.StatusUnauthorized, []string{`error="invalid_client" error_description="Client authentication failed"`})
}

// TestBase64EchoesNeverReachTheError has a partner quote the credentials
// it was sent in every base64 alphabet, padded or not, whole or cut to 14
// characters: no 12 consecutive characters of any encoding of the secret or
// of client_id:secret reach the error.
func TestBase64EchoesNeverReachTheError(t *testing.T) {
	// Its encodings hold + and / (- and _ URL-safe) and padding.
	const secret = "s3cr3t?>~~-with-padding"
	encodings := map[string]*base64.Encoding{
		"standard": base64.StdEncoding, "unpadded": base64.RawStdEncoding,
		"URL-safe": base64.URLEncoding, "unpadded URL-safe": base64.RawURLEncoding,
	}
	var all []string
	for _, raw := range []string{secret, testClientID + ":" + secret} {
		for _, enc := range encodings {
			all = append(all, enc.EncodeToString([]byte(raw)))
		}
	}
	if std := base64.StdEncoding.EncodeToString([]byte(secret)); !strings.ContainsAny(std, "+/") || !strings.HasSuffix(std, "=") {
		t.Fatalf("the secret's encoding %s does not exercise the alphabets and padding", std)
	}
	for name, enc := range encodings {
		for what, raw := range map[string]string{"the secret": secret, "client_id:secret": testClientID + ":" + secret} {
			echo := enc.EncodeToString([]byte(raw))
			for shape, quoted := range map[string]string{"whole": echo, "cut": echo[len(echo)-16 : len(echo)-2]} {
				t.Run(name+" "+what+" "+shape, func(t *testing.T) {
					p := newPartner(t, func(*testing.T, *http.Request) {}, partnerAnswer{Status: http.StatusUnauthorized,
						Body: `{"error":"invalid_client","error_description":"Authorization: Basic ` + quoted + ` is not valid"}`})
					req := newRequest(p, "/token", Options{})
					req.ClientSecret = secret
					_, err := Mint(t.Context(), oauth2{}, req)
					perr, ok := AsError(err)
					if !ok {
						t.Fatalf("error %v is not a *provider.Error", err)
					}
					for _, form := range all {
						for i := 0; i+12 <= len(form); i++ {
							if w := form[i : i+12]; strings.Contains(err.Error(), w) {
								t.Fatalf("error %q holds %q of %s", err, w, form)
							}
						}
					}
					if perr.Message != withheld && !strings.Contains(perr.Message, "[redacted]") {
						t.Errorf("message %q shows neither a redaction nor the withheld notice", perr.Message)
					}
				})
			}
		}
	}
}

// TestTheRedactorIsBuiltOncePerMint: the redactor of a 4 KiB secret costs
// allocations in proportion to its size, and a refused mint redacts
// several messages; they must share one redactor. Counted in allocations,
// which do not depend on the machine's speed.
func TestTheRedactorIsBuiltOncePerMint(t *testing.T) {
	p := newPartner(t, func(*testing.T, *http.Request) {}, partnerAnswer{Status: http.StatusUnauthorized,
		Body: `{"error":"invalid_client","error_description":"Client authentication failed"}`})
	req := newRequest(p, "/token", Options{})
	req.ClientSecret = strings.Repeat("0123456789abcdef", 256)
	req.OtherSecrets = []string{strings.Repeat("fedcba9876543210", 256)}
	build := testing.AllocsPerRun(3, func() { req.newRedactor() })
	mint := testing.AllocsPerRun(3, func() {
		if _, err := Mint(t.Context(), oauth2{}, req); err == nil {
			t.Fatal("the partner's refusal was not an error")
		}
	})
	if mint > 1.5*build {
		t.Fatalf("a refused mint allocated %.0f times, building one redactor %.0f: it builds more than one", mint, build)
	}
}
