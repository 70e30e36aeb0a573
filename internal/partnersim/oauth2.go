package partnersim

import (
	"encoding/base64"
	"net/http"
	"net/url"
	"strings"
)

// oauth2TokenLength is the generic server's opaque token length.
const oauth2TokenLength = 40

// mintOAuth2 serves a standard client credentials grant (RFC 6749 §4.4),
// refusing what the RFC forbids.
func (s *Server) mintOAuth2(r *http.Request, body []byte) *reply {
	// §4.4.2: parameters use the application/x-www-form-urlencoded format.
	if mediaType(r) != "application/x-www-form-urlencoded" {
		return oauthFail(http.StatusBadRequest, "invalid_request", "the token request must be application/x-www-form-urlencoded (RFC 6749 section 4.4.2)")
	}
	form, err := url.ParseQuery(string(body))
	if err != nil {
		return oauthFail(http.StatusBadRequest, "invalid_request", "malformed form body")
	}
	if p := repeated(form); p != "" {
		return oauthFail(http.StatusBadRequest, "invalid_request", "parameter "+p+" is repeated (RFC 6749 section 3.2)")
	}

	// §2.3: "The client MUST NOT use more than one authentication method in
	// each request."
	authz := r.Header.Get("Authorization")
	_, postID := form["client_id"]
	_, postSecret := form["client_secret"]
	if authz != "" && (postID || postSecret) {
		return oauthFail(http.StatusBadRequest, "invalid_request", "client credentials sent both in the Authorization header and in the body (RFC 6749 section 2.3)")
	}
	var id, secret string
	var ok bool
	switch {
	case authz != "":
		id, secret, ok = oauth2Basic(authz)
	case postID || postSecret:
		id, secret = form.Get("client_id"), form.Get("client_secret")
		ok = id != "" && postSecret
	}
	if !ok || !s.authenticate(OAuth2, id, secret) {
		rep := oauthFail(http.StatusUnauthorized, "invalid_client", "client authentication failed")
		// §5.2: a failed Authorization header (or none at all) is answered
		// with 401 and WWW-Authenticate naming the scheme the client used.
		if !postID && !postSecret {
			rep.header.Set("WWW-Authenticate", `Basic realm="partnersim"`)
		}
		return rep
	}

	switch form.Get("grant_type") {
	case "client_credentials":
	case "":
		return oauthFail(http.StatusBadRequest, "invalid_request", "missing grant_type")
	default:
		return oauthFail(http.StatusBadRequest, "unsupported_grant_type", "only client_credentials is supported")
	}
	scope, scoped := form["scope"]
	if scoped && !validScope(scope[0]) {
		return oauthFail(http.StatusBadRequest, "invalid_scope", "scope must be space-delimited scope tokens (RFC 6749 section 3.3)")
	}

	// Other parameters (audience, resource, ...) are accepted and ignored,
	// as §3.2 and §8.2 let servers do.
	token, expiresIn := s.issueOpaque(OAuth2, oauth2TokenLength, s.lifetime(OAuth2))
	resp := struct {
		AccessToken string `json:"access_token"`
		TokenType   string `json:"token_type"`
		ExpiresIn   int64  `json:"expires_in"`
		Scope       string `json:"scope,omitempty"`
	}{AccessToken: token, TokenType: "Bearer", ExpiresIn: expiresIn}
	if scoped {
		resp.Scope = scope[0]
	}
	return tokenReply(resp)
}

// oauth2Basic parses client_secret_basic: id and secret are each
// application/x-www-form-urlencoded before being joined and base64-encoded
// (RFC 6749 §2.3.1), so they are decoded after the split.
func oauth2Basic(header string) (id, secret string, ok bool) {
	scheme, encoded, found := strings.Cut(header, " ")
	// RFC 9110 §11.1: the scheme is case-insensitive.
	if !found || !strings.EqualFold(scheme, "Basic") {
		return "", "", false
	}
	raw, err := base64.StdEncoding.Strict().DecodeString(strings.TrimSpace(encoded))
	if err != nil {
		return "", "", false
	}
	rawID, rawSecret, found := strings.Cut(string(raw), ":")
	if !found {
		return "", "", false
	}
	id, err1 := url.QueryUnescape(rawID)
	secret, err2 := url.QueryUnescape(rawSecret)
	return id, secret, err1 == nil && err2 == nil && id != ""
}
