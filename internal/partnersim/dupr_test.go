package partnersim

import (
	"encoding/base64"
	"net/http"
	"strings"
	"testing"
	"time"
)

func duprAuth(id, secret string) string {
	return base64.StdEncoding.EncodeToString([]byte(id + ":" + secret))
}

func TestDUPRIssuesAnRS512TokenWithAbsoluteExpiry(t *testing.T) {
	s, _ := start(t, Options{})
	c := demo(DUPR)
	for _, tc := range []struct {
		name   string
		header map[string]string
		body   string
	}{
		{"no body at all", map[string]string{"x-authorization": duprAuth(c.ID, c.Secret)}, ""},
		{"an empty JSON object", map[string]string{"x-authorization": duprAuth(c.ID, c.Secret), "Content-Type": "application/json"}, "{}"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res := post(t, s.TokenURL(DUPR), tc.header, tc.body)
			m := res.expect(t, http.StatusOK, map[string]any{"status": "SUCCESS"})
			result := m["result"].(map[string]any)
			if got, want := result["expiry"], "2026-03-01T13:00:00Z"; got != want {
				t.Errorf("expiry = %v, want %v", got, want)
			}
			if got, want := res.header.Get("Date"), epoch.Format(http.TimeFormat); got != want {
				t.Errorf("Date = %q, want %q (the simulator's clock)", got, want)
			}
			token := result["token"].(string)
			if !strings.HasPrefix(token, "eyJhbGciOiJSUzUxMiJ9.") {
				t.Errorf("token %q does not start with the header {\"alg\":\"RS512\"}", token)
			}
			_, claims := decodeJWT(t, token)
			if exp := claimInt(t, claims, "exp"); exp != epoch.Add(time.Hour).Unix() {
				t.Errorf("exp = %d, want an hour after the clock", exp)
			}
			if active, exp := s.Introspect(DUPR, token); !active || !exp.Equal(epoch.Add(time.Hour)) {
				t.Errorf("Introspect = %v, %v; want active until %v", active, exp, epoch.Add(time.Hour))
			}
		})
	}
	counters(t, s, DUPR, Stats{Requests: 2, Mints: 2})
}

func TestDUPRRefusals(t *testing.T) {
	s, _ := start(t, Options{})
	c := demo(DUPR)
	good := duprAuth(c.ID, c.Secret)
	url := s.TokenURL(DUPR)
	for _, tc := range []struct {
		name   string
		method string
		url    string
		header map[string]string
		body   string
		status int
	}{
		{"a request without x-authorization is unauthorized", "POST", url, nil, "", 401},
		{"credentials with a Basic prefix are unauthorized", "POST", url, map[string]string{"x-authorization": "Basic " + good}, "", 401},
		{"credentials in Authorization instead of x-authorization are unauthorized", "POST", url, map[string]string{"Authorization": good}, "", 401},
		{"a wrong secret is unauthorized", "POST", url, map[string]string{"x-authorization": duprAuth(c.ID, "cs-wrong")}, "", 401},
		{"an unknown client key is unauthorized", "POST", url, map[string]string{"x-authorization": duprAuth("ck-unknown", c.Secret)}, "", 401},
		{"base64url instead of standard base64 is unauthorized", "POST", url, map[string]string{"x-authorization": base64.RawURLEncoding.EncodeToString([]byte(c.ID + ":" + c.Secret))}, "", 401},
		{"credentials without a colon are unauthorized", "POST", url, map[string]string{"x-authorization": base64.StdEncoding.EncodeToString([]byte(c.ID + c.Secret))}, "", 401},
		{"a body with parameters is a bad request", "POST", url, map[string]string{"x-authorization": good, "Content-Type": "application/json"}, `{"grant_type":"client_credentials"}`, 400},
		{"a body that is not JSON is a bad request", "POST", url, map[string]string{"x-authorization": good, "Content-Type": "application/json"}, `{}}`, 400},
		{"a form body is an unsupported media type", "POST", url, map[string]string{"x-authorization": good, "Content-Type": "application/x-www-form-urlencoded"}, "a=b", 415},
		{"GET is not allowed", "GET", url, map[string]string{"x-authorization": good}, "", 405},
		{"a wrong path is refused by the gateway", "POST", s.URL() + "/dupr/token", map[string]string{"x-authorization": good}, "", 403},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res := send(t, tc.method, tc.url, tc.header, tc.body)
			m := res.expect(t, tc.status, map[string]any{"status": "FAILURE"})
			if msg, _ := m["message"].(string); msg == "" {
				t.Errorf("no message in %s", res.body)
			}
			if _, ok := m["result"]; ok {
				t.Errorf("a refusal carries a result: %s", res.body)
			}
		})
	}
	counters(t, s, DUPR, Stats{Requests: 12, Rejections: 12})
}

func TestDUPRAcceptsTheV3PathThirdPartiesUse(t *testing.T) {
	s, _ := start(t, Options{})
	c := demo(DUPR)
	post(t, s.URL()+"/dupr/api/auth/v3/token", map[string]string{"x-authorization": duprAuth(c.ID, c.Secret)}, "").
		expect(t, http.StatusOK, map[string]any{"status": "SUCCESS"})
}

func TestDUPRMethodNotAllowedNamesPOST(t *testing.T) {
	s, _ := start(t, Options{})
	res := send(t, http.MethodGet, s.TokenURL(DUPR), nil, "")
	if res.status != http.StatusMethodNotAllowed || res.header.Get("Allow") != http.MethodPost {
		t.Errorf("GET: %d Allow=%q, want 405 Allow=POST", res.status, res.header.Get("Allow"))
	}
}

// TestDUPRExpiryLayouts checks the result.expiry shapes the simulator can
// answer with: the documented one, a Java serialiser's, or none.
func TestDUPRExpiryLayouts(t *testing.T) {
	c := demo(DUPR)
	for _, tc := range []struct {
		layout string
		want   any
	}{
		{"", "2026-03-01T13:00:00Z"},
		{DUPRExpiryJackson, "2026-03-01T13:00:00.000+0000"},
		{DUPRNoExpiry, nil},
	} {
		t.Run(tc.layout, func(t *testing.T) {
			s, _ := start(t, Options{DUPRExpiryLayout: tc.layout})
			m := post(t, s.TokenURL(DUPR), map[string]string{"x-authorization": duprAuth(c.ID, c.Secret)}, "").expect(t, http.StatusOK, nil)
			result := m["result"].(map[string]any)
			if got := result["expiry"]; got != tc.want {
				t.Errorf("expiry = %v, want %v", got, tc.want)
			}
			if result["token"] == "" {
				t.Error("no token")
			}
		})
	}
}
