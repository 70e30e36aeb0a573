package partnersim

import (
	"encoding/json"
	"net/http"
	"testing"
	"time"
)

func admin(t *testing.T, s *Server, method, path, body string) result {
	t.Helper()
	return send(t, method, s.URL()+path, map[string]string{"Content-Type": "application/json"}, body)
}

func TestAdminStats(t *testing.T) {
	s, _ := start(t, Options{})
	mintOAuth2Token(t, s)
	post(t, s.TokenURL(OAuth2), nil, "")
	res := admin(t, s, "GET", "/_sim/stats", "")
	var stats map[string]Stats
	if res.status != 200 || json.Unmarshal(res.body, &stats) != nil {
		t.Fatalf("got %d %s", res.status, res.body)
	}
	if len(stats) != len(Partners()) || stats[OAuth2] != (Stats{Requests: 2, Mints: 1, Rejections: 1}) {
		t.Errorf("stats = %s", res.body)
	}
	// The admin API is not a partner request.
	counters(t, s, OAuth2, Stats{Requests: 2, Mints: 1, Rejections: 1})
}

func TestAdminFaultsUseDurationStrings(t *testing.T) {
	s, clk := start(t, Options{})
	res := admin(t, s, "POST", "/_sim/faults/dinie", `{"status":429,"retry_after":"3","rate_limit_reset":"30s","delay":"1ms","times":2}`)
	if res.status != http.StatusNoContent {
		t.Fatalf("got %d %s", res.status, res.body)
	}
	clk.Advance(10 * time.Second) // rate_limit_reset was relative to the clock at injection
	c := demo(Dinie)
	for range 2 {
		res := post(t, s.TokenURL(Dinie), dinieHeaders(basic(c.ID, c.Secret)), "grant_type=client_credentials")
		res.expect(t, 429, map[string]any{"code": "rate_limit_exceeded"})
		checkRateLimitHeaders(t, res, DefaultDinieRateLimit, 0, epoch.Add(30*time.Second))
	}
	post(t, s.TokenURL(Dinie), dinieHeaders(basic(c.ID, c.Secret)), "grant_type=client_credentials").expect(t, 200, nil)

	res = admin(t, s, "POST", "/_sim/faults/dupr", `{"status":503,"rate_limit_reset":"2026-03-01T12:05:00Z","trickle_interval":"5ms","trickle":true,"body":"{}","content_type":"text/plain","oversize":false,"malformed":false,"oversize_header":false}`)
	if res.status != http.StatusNoContent {
		t.Fatalf("a fault using every field: %d %s", res.status, res.body)
	}
}

func TestAdminOutageUntilCleared(t *testing.T) {
	s, _ := start(t, Options{})
	if res := admin(t, s, "POST", "/_sim/faults/oauth2", `{"status":503,"times":-1}`); res.status != http.StatusNoContent {
		t.Fatalf("got %d %s", res.status, res.body)
	}
	for range 3 {
		mintOAuth2Token(t, s).expect(t, http.StatusServiceUnavailable, nil)
	}
	if res := admin(t, s, "DELETE", "/_sim/faults/oauth2", ""); res.status != http.StatusNoContent {
		t.Fatalf("clearing: got %d %s", res.status, res.body)
	}
	mintOAuth2Token(t, s).expect(t, http.StatusOK, nil)
	counters(t, s, OAuth2, Stats{Requests: 4, Mints: 1, Faults: 3})
}

func TestAdminRefusesBadInput(t *testing.T) {
	s, _ := start(t, Options{})
	for _, tc := range []struct {
		name, method, path, body string
		status                   int
	}{
		{"a misspelt fault field", "POST", "/_sim/faults/dupr", `{"stauts":500}`, 400},
		{"a delay that is not a duration", "POST", "/_sim/faults/dupr", `{"delay":"2"}`, 400},
		{"an invalid fault", "POST", "/_sim/faults/dupr", `{"status":42}`, 400},
		{"two JSON values", "POST", "/_sim/faults/dupr", `{"status":500}{"status":500}`, 400},
		{"an unknown partner", "POST", "/_sim/faults/acme", `{"status":500}`, 404},
		{"a lifetime under a second", "PUT", "/_sim/lifetimes/dupr", `{"lifetime":"10ms"}`, 400},
		{"a client without a secret", "PUT", "/_sim/clients/dupr", `{"id":"x"}`, 400},
		{"introspecting an unknown partner", "POST", "/_sim/introspect", `{"partner":"acme","token":"x"}`, 400},
		{"the wrong method", "GET", "/_sim/reset", ``, 405},
		{"times below -1", "POST", "/_sim/faults/dupr", `{"status":503,"times":-2}`, 400},
		{"clearing the faults of an unknown partner", "DELETE", "/_sim/faults/acme", ``, 404},
		{"a method no per-partner endpoint takes", "PATCH", "/_sim/faults/dupr", ``, 405},
		{"an unknown endpoint", "GET", "/_sim/nothing", ``, 404},
		{"a partner on a global endpoint", "GET", "/_sim/stats/dupr", ``, 404},
		{"a per-partner endpoint without a partner", "POST", "/_sim/faults/", `{}`, 404},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res := admin(t, s, tc.method, tc.path, tc.body)
			m := res.expect(t, tc.status, nil)
			if e, _ := m["error"].(string); e == "" {
				t.Errorf("no error in %s", res.body)
			}
		})
	}
	if s.Stats()[DUPR] != (Stats{}) {
		t.Error("admin calls were counted as partner requests")
	}
}

func TestAdminLifetimesClientsIntrospectAndReset(t *testing.T) {
	s, clk := start(t, Options{})
	if res := admin(t, s, "PUT", "/_sim/lifetimes/oauth2", `{"lifetime":"30s"}`); res.status != 204 {
		t.Fatalf("lifetimes: %d %s", res.status, res.body)
	}
	if res := admin(t, s, "PUT", "/_sim/clients/oauth2", `{"id":"rotated","secret":"new-secret"}`); res.status != 204 {
		t.Fatalf("clients: %d %s", res.status, res.body)
	}
	mintOAuth2Token(t, s).expect(t, http.StatusUnauthorized, map[string]any{"error": "invalid_client"})
	m := post(t, s.TokenURL(OAuth2), map[string]string{"Content-Type": formType, "Authorization": basic("rotated", "new-secret")}, "grant_type=client_credentials").
		expect(t, http.StatusOK, map[string]any{"expires_in": 30})
	token := m["access_token"].(string)

	introspect := func(partner, token string) map[string]any {
		body, _ := json.Marshal(map[string]string{"partner": partner, "token": token})
		return admin(t, s, "POST", "/_sim/introspect", string(body)).expect(t, 200, nil)
	}
	if got := introspect(OAuth2, token); got["active"] != true || got["expires_at"] != "2026-03-01T12:00:30Z" {
		t.Errorf("introspect = %v", got)
	}
	if got := introspect(DUPR, token); got["active"] != false || got["expires_at"] != nil {
		t.Errorf("a token of another partner: %v", got)
	}
	clk.Advance(30 * time.Second)
	if got := introspect(OAuth2, token); got["active"] != false || got["expires_at"] != "2026-03-01T12:00:30Z" {
		t.Errorf("an expired token: %v", got)
	}

	if res := admin(t, s, "POST", "/_sim/reset", ``); res.status != 204 {
		t.Fatalf("reset: %d %s", res.status, res.body)
	}
	counters(t, s, OAuth2, Stats{})
}
