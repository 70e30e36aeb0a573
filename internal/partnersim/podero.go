package partnersim

import (
	"encoding/base64"
	"net/http"
	"strings"
)

// poderoTokenLength is django-oauth-toolkit's opaque token length (oauthlib
// generate_token default), matching the 30-character sample token.
const poderoTokenLength = 30

// mintPodero serves Podero's token endpoint
// (https://developers.podero.com/partner-api/getting-started/get-access-token):
// Basic client credentials, JSON {"grant_type":"client_credentials"}. The
// server is django-oauth-toolkit with JSONOAuthLibCore (docs/partners.md#podero),
// so refusals are oauthlib's, checked in oauthlib's order: query string,
// grant type, then client authentication.
func (s *Server) mintPodero(r *http.Request, body []byte) *reply {
	// oauthlib TokenEndpoint._raise_on_bad_post_request.
	if r.URL.RawQuery != "" {
		return poderoFail(http.StatusBadRequest, "invalid_request", "URL query parameters are not allowed")
	}
	// JSONOAuthLibCore json.loads the body; a form (or any non-JSON) body
	// becomes no parameters, so oauthlib dispatches to its default
	// (authorization_code) grant, which refuses the missing grant type. The
	// documented Content-Type is required as well.
	var params map[string]any
	if mediaType(r) != "application/json" || decodeJSON(body, &params) != nil {
		params = nil
	}
	if gt, _ := params["grant_type"].(string); gt != "client_credentials" {
		return poderoFail(http.StatusBadRequest, "unsupported_grant_type", "")
	}

	id, secret, ok := poderoBasic(r.Header.Get("Authorization"))
	if !ok || !s.authenticate(Podero, id, secret) {
		return poderoFail(http.StatusUnauthorized, "invalid_client", "")
	}
	// DOT grants the application's configured scopes (Podero's sample).
	if scope, ok := params["scope"]; ok {
		if str, _ := scope.(string); !validScope(str) {
			return poderoFail(http.StatusBadRequest, "invalid_scope", "")
		}
	}

	token, expiresIn := s.issueOpaque(Podero, poderoTokenLength, s.lifetime(Podero))
	return tokenReply(struct {
		AccessToken string `json:"access_token"`
		ExpiresIn   int64  `json:"expires_in"`
		TokenType   string `json:"token_type"`
		Scope       string `json:"scope"`
	}{token, expiresIn, "Bearer", "read write"})
}

// poderoBasic parses Basic credentials as django-oauth-toolkit does
// (OAuth2Validator._extract_basic_auth / _authenticate_basic_auth): the
// scheme is exactly "Basic", the pair splits at its first colon, and id and
// secret are unquote_plus'ed after the split, as RFC 6749 §2.3.1 asks
// (docs/partners.md#podero).
func poderoBasic(header string) (id, secret string, ok bool) {
	scheme, encoded, found := strings.Cut(header, " ")
	if !found || scheme != "Basic" {
		return "", "", false
	}
	raw, err := base64.StdEncoding.Strict().DecodeString(encoded)
	if err != nil {
		return "", "", false
	}
	rawID, rawSecret, found := strings.Cut(string(raw), ":")
	if !found {
		return "", "", false
	}
	return unquotePlus(rawID), unquotePlus(rawSecret), true
}

// unquotePlus is Python's urllib.parse.unquote_plus: + is a space, %XX a
// byte, and a % not followed by two hex digits stays as it is (where Go's
// url.QueryUnescape fails); the bytes are then read as UTF-8, an invalid
// sequence becoming U+FFFD.
func unquotePlus(s string) string {
	out := make([]byte, 0, len(s))
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c == '+':
			out = append(out, ' ')
		case c == '%' && i+2 < len(s) && isHex(s[i+1]) && isHex(s[i+2]):
			out = append(out, unhex(s[i+1])<<4|unhex(s[i+2]))
			i += 2
		default:
			out = append(out, c)
		}
	}
	return strings.ToValidUTF8(string(out), "\uFFFD")
}

func isHex(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}

func unhex(c byte) byte {
	switch {
	case c >= 'a':
		return c - 'a' + 10
	case c >= 'A':
		return c - 'A' + 10
	default:
		return c - '0'
	}
}

// validScope checks RFC 6749 §3.3: space-delimited scope-tokens of
// %x21 / %x23-5B / %x5D-7E.
func validScope(scope string) bool {
	if scope == "" {
		return false
	}
	for _, tok := range strings.Split(scope, " ") {
		if tok == "" {
			return false
		}
		for _, c := range []byte(tok) {
			if c < 0x21 || c == 0x22 || c == 0x5c || c > 0x7e {
				return false
			}
		}
	}
	return true
}
