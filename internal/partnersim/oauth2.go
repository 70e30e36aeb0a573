package partnersim

import (
	"encoding/base64"
	"net/http"
	"net/url"
	"strings"
)

// oauth2TokenLength is the generic server's opaque token length.
const oauth2TokenLength = 40

// The URNs of RFC 7523 §2.1 and §2.2.
const (
	jwtBearerGrantType     = "urn:ietf:params:oauth:grant-type:jwt-bearer"
	jwtBearerAssertionType = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
)

// authenticateOAuth2 authenticates the client by whichever one method the
// request uses (RFC 6749 §2.3): Basic, a posted secret, a client assertion
// (RFC 7523 §2.2) or, with client_id alone, the TLS client certificate
// (RFC 8705 §2; the certificate itself was checked against the client's
// binding before the partner's rules ran). It reports whether the client
// authenticated; a refusal is a reply.
func (s *Server) authenticateOAuth2(r *http.Request, form url.Values, c Client) (bool, *reply) {
	authz := r.Header.Get("Authorization")
	_, postID := form["client_id"]
	_, postSecret := form["client_secret"]
	_, assertionType := form["client_assertion_type"]
	_, assertion := form["client_assertion"]
	withAssertion := assertionType || assertion
	if authz != "" && (postID || postSecret || withAssertion) {
		return false, oauthFail(http.StatusBadRequest, "invalid_request", "client credentials sent both in the Authorization header and in the body (RFC 6749 section 2.3)")
	}
	if postSecret && withAssertion {
		return false, oauthFail(http.StatusBadRequest, "invalid_request", "client_secret and client_assertion sent together: use one authentication method (RFC 6749 section 2.3)")
	}
	switch {
	case authz != "":
		id, secret, ok := oauth2Basic(authz)
		if !ok || !s.authenticate(OAuth2, id, secret) {
			rep := oauthFail(http.StatusUnauthorized, "invalid_client", "client authentication failed")
			rep.header.Set("WWW-Authenticate", `Basic realm="partnersim"`)
			return false, rep
		}
		return true, nil
	case withAssertion:
		if form.Get("client_assertion_type") != jwtBearerAssertionType {
			return false, oauthFail(http.StatusUnauthorized, "invalid_client", "client_assertion_type must be "+jwtBearerAssertionType+" (RFC 7523 section 2.2)")
		}
		if postID && form.Get("client_id") != c.ID {
			return false, oauthFail(http.StatusUnauthorized, "invalid_client", "client authentication failed: client_id is not the assertion's client")
		}
		if _, refusal := s.verifyAssertion(OAuth2, r, form.Get("client_assertion"), c, clientAssertion); refusal != "" {
			return false, oauthFail(http.StatusUnauthorized, "invalid_client", "client authentication failed: "+refusal)
		}
		return true, nil
	case postSecret:
		id, secret := form.Get("client_id"), form.Get("client_secret")
		if id == "" || !s.authenticate(OAuth2, id, secret) {
			return false, oauthFail(http.StatusUnauthorized, "invalid_client", "client authentication failed")
		}
		return true, nil
	case postID:
		if c.CertificateSubject != "" && form.Get("client_id") == c.ID {
			s.rec.present(OAuth2, Presented{ClientID: c.ID, Method: "tls_client_auth"})
			return true, nil
		}
		if form.Get("grant_type") == jwtBearerGrantType && form.Get("client_id") == c.ID {
			return false, nil // a client that names itself, authenticated by the grant alone
		}
		return false, oauthFail(http.StatusUnauthorized, "invalid_client", "client authentication failed: the client is not registered for tls_client_auth and sent no other credentials")
	}
	return false, nil
}

// mintOAuth2 serves the client credentials grant (RFC 6749 §4.4) and the
// JWT bearer grant (RFC 7523 §2.1), refusing what the RFCs forbid.
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

	c := s.client(OAuth2)
	authenticated, rep := s.authenticateOAuth2(r, form, c)
	if rep != nil {
		return rep
	}
	switch form.Get("grant_type") {
	case "client_credentials":
		if !authenticated {
			rep := oauthFail(http.StatusUnauthorized, "invalid_client", "client authentication failed")
			// §5.2: a request with no credentials at all is answered with
			// 401 and WWW-Authenticate naming the scheme to use.
			rep.header.Set("WWW-Authenticate", `Basic realm="partnersim"`)
			return rep
		}
	case jwtBearerGrantType:
		// RFC 7523 §2.1 and §3.1: the assertion is the grant; client
		// authentication is optional.
		assertion := form.Get("assertion")
		if assertion == "" {
			return oauthFail(http.StatusBadRequest, "invalid_request", "missing assertion (RFC 7523 section 2.1)")
		}
		if _, refusal := s.verifyAssertion(OAuth2, r, assertion, c, grantAssertion); refusal != "" {
			return oauthFail(http.StatusBadRequest, "invalid_grant", refusal)
		}
	case "":
		return oauthFail(http.StatusBadRequest, "invalid_request", "missing grant_type")
	default:
		return oauthFail(http.StatusBadRequest, "unsupported_grant_type", "only client_credentials and "+jwtBearerGrantType+" are supported")
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
