package partnersim

import (
	"net/http"
	"net/url"
	"testing"
)

const formType = "application/x-www-form-urlencoded"

func setuForm(id, secret string) string {
	return url.Values{"grant_type": {"client_credentials"}, "client_id": {id}, "client_secret": {secret}}.Encode()
}

func TestSetuIssuesKeycloakStyleTokensWithoutExpiresIn(t *testing.T) {
	s, _ := start(t, Options{})
	c := demo(Setu)
	res := post(t, s.TokenURL(Setu), map[string]string{"Content-Type": formType + "; charset=UTF-8"}, setuForm(c.ID, c.Secret))
	m := res.expect(t, http.StatusOK, nil)
	if len(m) != 2 {
		t.Errorf("body %s: want exactly accessToken and refreshToken", res.body)
	}
	access, _ := m["accessToken"].(string)
	header, claims := decodeJWT(t, access)
	if header["alg"] != "RS256" {
		t.Errorf("access token alg = %v, want RS256", header["alg"])
	}
	iat, exp := claimInt(t, claims, "iat"), claimInt(t, claims, "exp")
	if iat != epoch.Unix() || exp-iat != 15*60 {
		t.Errorf("iat=%d exp=%d, want iat=%d and a 15 minute lifetime", iat, exp, epoch.Unix())
	}
	if iss, _ := claims["iss"].(string); iss != s.URL()+"/setu/auth/realms/fd" {
		t.Errorf("iss = %q", iss)
	}
	refresh, _ := m["refreshToken"].(string)
	if _, rc := decodeJWT(t, refresh); rc["typ"] != "Refresh" {
		t.Errorf("refresh token typ = %v", rc["typ"])
	}
	if active, _ := s.Introspect(Setu, access); !active {
		t.Error("the access token is not active")
	}
	if active, _ := s.Introspect(Setu, refresh); active {
		t.Error("the refresh token is not a bearer token and must not introspect as one")
	}
}

func TestSetuRefusals(t *testing.T) {
	s, _ := start(t, Options{})
	c := demo(Setu)
	url := s.TokenURL(Setu)
	form := map[string]string{"Content-Type": formType}
	for _, tc := range []struct {
		name        string
		header      map[string]string
		body        string
		status      int
		error, desc string
	}{
		{"a JSON body leaves Keycloak without parameters", map[string]string{"Content-Type": "application/json"},
			`{"grant_type":"client_credentials","client_id":"` + c.ID + `","client_secret":"` + c.Secret + `"}`,
			400, "invalid_request", "Missing form parameter: grant_type"},
		{"a missing grant_type is an invalid request", form, "client_id=" + c.ID + "&client_secret=" + c.Secret,
			400, "invalid_request", "Missing form parameter: grant_type"},
		{"another grant type is unsupported", form, "grant_type=password&client_id=" + c.ID + "&client_secret=" + c.Secret,
			400, "unsupported_grant_type", "Unsupported grant_type"},
		{"a missing client_id is an invalid client", form, "grant_type=client_credentials&client_secret=" + c.Secret,
			400, "invalid_client", "Missing parameter: client_id"},
		{"a wrong secret is an unauthorized invalid client", form, setuForm(c.ID, "wrong"),
			401, "invalid_client", "Invalid client or Invalid client credentials"},
		{"Basic credentials do not replace the form's", map[string]string{"Content-Type": formType, "Authorization": basic(c.ID, c.Secret)}, "grant_type=client_credentials",
			400, "invalid_client", "Missing parameter: client_id"},
		{"a duplicated parameter is an invalid request", form, setuForm(c.ID, c.Secret) + "&grant_type=client_credentials",
			400, "invalid_request", "duplicated parameter"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			post(t, url, tc.header, tc.body).expect(t, tc.status, map[string]any{"error": tc.error, "error_description": tc.desc})
		})
	}
	counters(t, s, Setu, Stats{Requests: 7, Rejections: 7})
}
