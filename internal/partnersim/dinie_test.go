package partnersim

import (
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"
)

func dinieHeaders(auth string) map[string]string {
	return map[string]string{"Authorization": auth, "Content-Type": formType}
}

func TestDinieIssuesAPrefixedHS256Token(t *testing.T) {
	s, _ := start(t, Options{})
	c := demo(Dinie)
	res := post(t, s.TokenURL(Dinie), dinieHeaders(basic(c.ID, c.Secret)), "grant_type=client_credentials")
	m := res.expect(t, http.StatusOK, map[string]any{"token_type": "bearer", "expires_in": 3600})
	token, _ := m["access_token"].(string)
	jwt, ok := strings.CutPrefix(token, "dinie_at_")
	if !ok {
		t.Fatalf("access_token %q lacks the dinie_at_ prefix", token)
	}
	header, claims := decodeJWT(t, jwt)
	if header["alg"] != "HS256" || claims["sub"] != c.ID || claimInt(t, claims, "exp") != epoch.Add(time.Hour).Unix() {
		t.Errorf("header %v claims %v", header, claims)
	}
	if active, _ := s.Introspect(Dinie, token); !active {
		t.Error("the prefixed token is not active")
	}
	checkRateLimitHeaders(t, res, DefaultDinieRateLimit, DefaultDinieRateLimit-1, epoch.Add(time.Minute))
}

func checkRateLimitHeaders(t *testing.T, res result, limit, remaining int, reset time.Time) {
	t.Helper()
	for name, want := range map[string]string{
		"X-RateLimit-Limit":     strconv.Itoa(limit),
		"X-RateLimit-Remaining": strconv.Itoa(remaining),
		"X-RateLimit-Reset":     strconv.FormatInt(reset.Unix(), 10),
	} {
		if got := res.header.Get(name); got != want {
			t.Errorf("%s = %q, want %q", name, got, want)
		}
	}
}

func TestDinieRefusalsAreProblemDocuments(t *testing.T) {
	s, _ := start(t, Options{})
	c := demo(Dinie)
	good := dinieHeaders(basic(c.ID, c.Secret))
	for _, tc := range []struct {
		name   string
		method string
		header map[string]string
		body   string
		status int
		code   string
		param  string
	}{
		{"no Authorization header is an invalid client", "POST", map[string]string{"Content-Type": formType}, "grant_type=client_credentials", 401, "invalid_client", ""},
		{"a wrong secret is an invalid client", "POST", dinieHeaders(basic(c.ID, "dinie_cs_test_wrong")), "grant_type=client_credentials", 401, "invalid_client", ""},
		{"a Bearer header is an invalid client", "POST", dinieHeaders("Bearer x"), "grant_type=client_credentials", 401, "invalid_client", ""},
		{"a JSON body fails validation", "POST", map[string]string{"Authorization": basic(c.ID, c.Secret), "Content-Type": "application/json"}, `{"grant_type":"client_credentials"}`, 400, "validation_error", "Content-Type"},
		{"a missing grant_type fails validation", "POST", good, "", 400, "validation_error", "grant_type"},
		{"another grant type fails validation", "POST", good, "grant_type=authorization_code", 400, "validation_error", "grant_type"},
		{"a repeated grant_type fails validation", "POST", good, "grant_type=client_credentials&grant_type=client_credentials", 400, "validation_error", "grant_type"},
		{"GET is not allowed", "GET", good, "", 405, "method_not_allowed", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res := send(t, tc.method, s.TokenURL(Dinie), tc.header, tc.body)
			if ct := res.header.Get("Content-Type"); ct != "application/problem+json" {
				t.Errorf("Content-Type = %q, want application/problem+json", ct)
			}
			m := res.expect(t, tc.status, map[string]any{"status": tc.status, "code": tc.code, "type": dinieErrorBase + tc.code})
			for _, field := range []string{"title", "detail"} {
				if v, _ := m[field].(string); v == "" {
					t.Errorf("no %s in %s", field, res.body)
				}
			}
			if tc.param != "" && m["param"] != tc.param {
				t.Errorf("param = %v, want %s", m["param"], tc.param)
			}
			if res.header.Get("X-RateLimit-Reset") == "" {
				t.Error("a refusal lacks the rate-limit headers")
			}
		})
	}
}

func TestDinieRateLimitFollowsTheSimulatorClock(t *testing.T) {
	s, clk := start(t, Options{DinieRateLimit: 2})
	c := demo(Dinie)
	clk.Advance(15 * time.Second)
	mint := func() result {
		return post(t, s.TokenURL(Dinie), dinieHeaders(basic(c.ID, c.Secret)), "grant_type=client_credentials")
	}
	mint().expect(t, http.StatusOK, nil)
	checkRateLimitHeaders(t, mint(), 2, 0, epoch.Add(time.Minute))
	res := mint()
	res.expect(t, http.StatusTooManyRequests, map[string]any{"code": "rate_limit_exceeded",
		"detail": "Rate limit exceeded. Try again in 45 seconds."})
	checkRateLimitHeaders(t, res, 2, 0, epoch.Add(time.Minute))
	counters(t, s, Dinie, Stats{Requests: 3, Mints: 2, Rejections: 1})

	clk.Advance(45 * time.Second) // the next window
	res = mint()
	res.expect(t, http.StatusOK, nil)
	checkRateLimitHeaders(t, res, 2, 1, epoch.Add(2*time.Minute))
}

// TestDinieServesOneOfItsTwoDocumentedBases checks the token endpoint lives
// under the base the simulator was given, the SDKs' /api/v3 by default or
// the developer portal's /v3, and that the other is an unknown resource, as
// on a deployment that serves only one.
func TestDinieServesOneOfItsTwoDocumentedBases(t *testing.T) {
	c := demo(Dinie)
	header := map[string]string{"Authorization": basic(c.ID, c.Secret), "Content-Type": formType}
	for _, tc := range []struct {
		name, base, served, other string
	}{
		{"by default the SDKs' base", "", "/dinie/api/v3/auth/token", "/dinie/v3/auth/token"},
		{"the SDKs' base", DinieBaseSDK, "/dinie/api/v3/auth/token", "/dinie/v3/auth/token"},
		{"the developer portal's base", DinieBasePortal, "/dinie/v3/auth/token", "/dinie/api/v3/auth/token"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, _ := start(t, Options{DinieBase: tc.base})
			if want := s.URL() + tc.served; s.TokenURL(Dinie) != want {
				t.Fatalf("TokenURL = %s, want %s", s.TokenURL(Dinie), want)
			}
			post(t, s.TokenURL(Dinie), header, "grant_type=client_credentials").expect(t, http.StatusOK, map[string]any{"token_type": "bearer"})
			post(t, s.URL()+tc.other, header, "grant_type=client_credentials").expect(t, http.StatusNotFound, map[string]any{"code": "not_found"})
		})
	}
}

func TestDinieBaseMustBeADocumentedOne(t *testing.T) {
	s := New(Options{DinieBase: "/api/v4"})
	t.Cleanup(s.Close)
	if err := s.Start(); err == nil || !strings.Contains(err.Error(), `"/api/v4" is neither /api/v3 nor /v3`) {
		t.Fatalf("Start = %v, want an error naming the two documented bases", err)
	}
}
