package partnersim

import (
	"encoding/base64"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"
)

const poderoBody = `{"grant_type": "client_credentials"}`

func poderoHeaders(auth string) map[string]string {
	return map[string]string{"Authorization": auth, "Content-Type": "application/json", "Cache-Control": "no-cache"}
}

func TestPoderoIssuesAnOpaqueTenHourToken(t *testing.T) {
	s, _ := start(t, Options{})
	c := demo(Podero)
	res := post(t, s.TokenURL(Podero), poderoHeaders(basic(c.ID, c.Secret)), poderoBody)
	m := res.expect(t, http.StatusOK, map[string]any{"expires_in": 36000, "token_type": "Bearer", "scope": "read write"})
	token, _ := m["access_token"].(string)
	if !regexp.MustCompile(`^[A-Za-z0-9]{30}$`).MatchString(token) {
		t.Errorf("access_token %q is not a 30-character opaque token", token)
	}
	if res.header.Get("Cache-Control") != "no-store" {
		t.Errorf("Cache-Control = %q, want no-store (RFC 6749 section 5.1)", res.header.Get("Cache-Control"))
	}
	if active, exp := s.Introspect(Podero, token); !active || !exp.Equal(epoch.Add(10*time.Hour)) {
		t.Errorf("Introspect = %v, %v", active, exp)
	}
}

func TestPoderoRefusals(t *testing.T) {
	s, _ := start(t, Options{})
	c := demo(Podero)
	url := s.TokenURL(Podero)
	good := poderoHeaders(basic(c.ID, c.Secret))
	for _, tc := range []struct {
		name   string
		method string
		url    string
		header map[string]string
		body   string
		status int
		want   string // exact body
	}{
		{"a wrong secret is an invalid client", "POST", url, poderoHeaders(basic(c.ID, "wrong")), poderoBody, 401, `{"error":"invalid_client"}`},
		{"no Authorization header is an invalid client", "POST", url, map[string]string{"Content-Type": "application/json"}, poderoBody, 401, `{"error":"invalid_client"}`},
		{"a lower-case basic scheme is not recognised by django-oauth-toolkit", "POST", url,
			poderoHeaders("basic " + base64.StdEncoding.EncodeToString([]byte(c.ID+":"+c.Secret))), poderoBody, 401, `{"error":"invalid_client"}`},
		{"credentials in the JSON body are not Basic auth", "POST", url, map[string]string{"Content-Type": "application/json"},
			`{"grant_type":"client_credentials","client_id":"` + c.ID + `","client_secret":"` + c.Secret + `"}`, 401, `{"error":"invalid_client"}`},
		{"a form body is an unsupported grant type", "POST", url,
			map[string]string{"Authorization": basic(c.ID, c.Secret), "Content-Type": formType}, "grant_type=client_credentials", 400, `{"error":"unsupported_grant_type"}`},
		{"another grant type is unsupported", "POST", url, good, `{"grant_type":"password"}`, 400, `{"error":"unsupported_grant_type"}`},
		{"a missing grant type is unsupported", "POST", url, good, `{}`, 400, `{"error":"unsupported_grant_type"}`},
		{"query parameters are an invalid request", "POST", url + "?grant_type=client_credentials", good, poderoBody, 400,
			`{"error":"invalid_request","error_description":"URL query parameters are not allowed"}`},
		{"GET is not allowed and has no body", "GET", url, good, "", 405, ``},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res := send(t, tc.method, tc.url, tc.header, tc.body)
			if res.status != tc.status || string(res.body) != tc.want {
				t.Errorf("got %d %s, want %d %s", res.status, res.body, tc.status, tc.want)
			}
			if tc.status == 401 && res.header.Get("WWW-Authenticate") != `Bearer error="invalid_client"` {
				t.Errorf("WWW-Authenticate = %q", res.header.Get("WWW-Authenticate"))
			}
		})
	}
	counters(t, s, Podero, Stats{Requests: 9, Rejections: 9})
}

func TestPoderoWithoutTrailingSlashIsNotFound(t *testing.T) {
	s, _ := start(t, Options{})
	c := demo(Podero)
	url := strings.TrimSuffix(s.TokenURL(Podero), "/")
	res := post(t, url, poderoHeaders(basic(c.ID, c.Secret)), poderoBody)
	if res.status != http.StatusNotFound || !strings.Contains(string(res.body), "<h1>Not Found</h1>") {
		t.Errorf("got %d %s, want Django's 404 page", res.status, res.body)
	}
	counters(t, s, Podero, Stats{Requests: 1, Rejections: 1})
}

func TestPoderoDecodesBasicCredentialsLikeDjangoOAuthToolkit(t *testing.T) {
	s, _ := start(t, Options{})
	if err := s.SetClient(Podero, Client{ID: "podero id", Secret: "s+cr/t="}); err != nil {
		t.Fatal(err)
	}
	// unquote_plus is applied after the split (RFC 6749 §2.3.1).
	post(t, s.TokenURL(Podero), poderoHeaders(basic("podero+id", "s%2Bcr%2Ft%3D")), poderoBody).expect(t, http.StatusOK, nil)
	post(t, s.TokenURL(Podero), poderoHeaders(basic("podero id", "s+cr/t=")), poderoBody).expect(t, http.StatusUnauthorized, nil)
}

// TestPoderoAcceptsASecretWithFormSpecialCharactersOnlyFormEncoded pins the
// rule the engine's Podero provider follows: a secret holding + / % : mints
// when id and secret are form-encoded before the Basic pair is built, and
// is refused when sent raw.
func TestPoderoAcceptsASecretWithFormSpecialCharactersOnlyFormEncoded(t *testing.T) {
	s, _ := start(t, Options{})
	c := Client{ID: "podero-client", Secret: "s3+cr/et%20:with-colon"}
	if err := s.SetClient(Podero, c); err != nil {
		t.Fatal(err)
	}
	encoded := basic(url.QueryEscape(c.ID), url.QueryEscape(c.Secret))
	post(t, s.TokenURL(Podero), poderoHeaders(encoded), poderoBody).expect(t, http.StatusOK, map[string]any{"token_type": "Bearer"})
	post(t, s.TokenURL(Podero), poderoHeaders(basic(c.ID, c.Secret)), poderoBody).expect(t, http.StatusUnauthorized, map[string]any{"error": "invalid_client"})
	counters(t, s, Podero, Stats{Requests: 2, Mints: 1, Rejections: 1})
}

// TestUnquotePlusIsPythons checks the decoding against what
// urllib.parse.unquote_plus returns for the same input.
func TestUnquotePlusIsPythons(t *testing.T) {
	for in, want := range map[string]string{
		"a+b":                            "a b",
		"a%2Bb":                          "a+b",
		"%2f%2F":                         "//",
		"100%":                           "100%",
		"%zz%4":                          "%zz%4",
		"%C3%A9t%C3":                     "ét\uFFFD",
		"s3%2Bcr%2Fet%2520%3Awith-colon": "s3+cr/et%20:with-colon",
	} {
		if got := unquotePlus(in); got != want {
			t.Errorf("unquotePlus(%q) = %q, want %q", in, got, want)
		}
	}
}
