package partnersim

import (
	"net/http"
	"net/url"
	"testing"
	"time"
)

func TestOAuth2IssuesTokensForBothClientAuthMethods(t *testing.T) {
	s, _ := start(t, Options{})
	c := demo(OAuth2)
	for _, tc := range []struct {
		name   string
		header map[string]string
		form   url.Values
		scope  any
	}{
		{"client_secret_basic", map[string]string{"Content-Type": formType, "Authorization": basic(c.ID, c.Secret)},
			url.Values{"grant_type": {"client_credentials"}}, nil},
		{"client_secret_post with a scope and extra parameters", map[string]string{"Content-Type": formType},
			url.Values{"grant_type": {"client_credentials"}, "client_id": {c.ID}, "client_secret": {c.Secret}, "scope": {"read write:all"}, "audience": {"https://api.example"}},
			"read write:all"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res := post(t, s.TokenURL(OAuth2), tc.header, tc.form.Encode())
			m := res.expect(t, http.StatusOK, map[string]any{"token_type": "Bearer", "expires_in": 3600})
			if m["scope"] != tc.scope {
				t.Errorf("scope = %v, want %v", m["scope"], tc.scope)
			}
			token, _ := m["access_token"].(string)
			if active, exp := s.Introspect(OAuth2, token); !active || !exp.Equal(epoch.Add(time.Hour)) {
				t.Errorf("Introspect = %v %v", active, exp)
			}
		})
	}
}

func TestOAuth2BasicCredentialsAreFormDecoded(t *testing.T) {
	s, _ := start(t, Options{})
	if err := s.SetClient(OAuth2, Client{ID: "client:1", Secret: "p@ss word+/%"}); err != nil {
		t.Fatal(err)
	}
	h := func(auth string) map[string]string {
		return map[string]string{"Content-Type": formType, "Authorization": auth}
	}
	encoded := basic(url.QueryEscape("client:1"), url.QueryEscape("p@ss word+/%"))
	post(t, s.TokenURL(OAuth2), h(encoded), "grant_type=client_credentials").expect(t, http.StatusOK, nil)
	// RFC 6749 §2.3.1: a client that skips the encoding is refused.
	post(t, s.TokenURL(OAuth2), h(basic("client%3A1", "p@ss word+/%")), "grant_type=client_credentials").
		expect(t, http.StatusUnauthorized, map[string]any{"error": "invalid_client"})
}

func TestOAuth2Refusals(t *testing.T) {
	s, _ := start(t, Options{})
	c := demo(OAuth2)
	viaBasic := map[string]string{"Content-Type": formType, "Authorization": basic(c.ID, c.Secret)}
	form := map[string]string{"Content-Type": formType}
	post1 := "client_id=" + c.ID + "&client_secret=" + c.Secret
	for _, tc := range []struct {
		name      string
		method    string
		header    map[string]string
		body      string
		status    int
		error     string
		challenge bool // WWW-Authenticate expected
	}{
		{"both Basic and body credentials are an invalid request", "POST", viaBasic, "grant_type=client_credentials&" + post1, 400, "invalid_request", false},
		{"Basic with a client_id in the body is an invalid request", "POST", viaBasic, "grant_type=client_credentials&client_id=" + c.ID, 400, "invalid_request", false},
		{"no credentials at all are an invalid client challenged for Basic", "POST", form, "grant_type=client_credentials", 401, "invalid_client", true},
		{"a wrong Basic secret is challenged", "POST", map[string]string{"Content-Type": formType, "Authorization": basic(c.ID, "wrong")}, "grant_type=client_credentials", 401, "invalid_client", true},
		{"a wrong posted secret is an invalid client", "POST", form, "grant_type=client_credentials&client_id=" + c.ID + "&client_secret=wrong", 401, "invalid_client", false},
		{"a posted client_id without secret is an invalid client", "POST", form, "grant_type=client_credentials&client_id=" + c.ID, 401, "invalid_client", false},
		{"a JSON body is an invalid request", "POST", map[string]string{"Content-Type": "application/json", "Authorization": basic(c.ID, c.Secret)}, `{"grant_type":"client_credentials"}`, 400, "invalid_request", false},
		{"a missing grant_type is an invalid request", "POST", viaBasic, "scope=read", 400, "invalid_request", false},
		{"the password grant is unsupported", "POST", viaBasic, "grant_type=password&username=a&password=b", 400, "unsupported_grant_type", false},
		{"a repeated parameter is an invalid request", "POST", viaBasic, "grant_type=client_credentials&scope=a&scope=b", 400, "invalid_request", false},
		{"an empty scope is an invalid scope", "POST", viaBasic, "grant_type=client_credentials&scope=", 400, "invalid_scope", false},
		{"a scope with a quote is an invalid scope", "POST", viaBasic, "grant_type=client_credentials&scope=" + url.QueryEscape(`a"b`), 400, "invalid_scope", false},
		{"GET is not allowed", "GET", viaBasic, "", 405, "invalid_request", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res := send(t, tc.method, s.TokenURL(OAuth2), tc.header, tc.body)
			m := res.expect(t, tc.status, map[string]any{"error": tc.error})
			if d, _ := m["error_description"].(string); d == "" {
				t.Errorf("no error_description in %s", res.body)
			}
			if got := res.header.Get("WWW-Authenticate") != ""; got != tc.challenge {
				t.Errorf("WWW-Authenticate = %q, want present=%v", res.header.Get("WWW-Authenticate"), tc.challenge)
			}
		})
	}
	counters(t, s, OAuth2, Stats{Requests: 13, Rejections: 13})
}
