package partnersim

import (
	"net/http"
	"net/url"
	"time"

	"github.com/google/uuid"
)

// setuRefreshLifetime is the refresh token's lifetime in Setu's sample
// (exp - iat = 1800 s); the docs say to ignore refresh tokens for now.
const setuRefreshLifetime = 30 * time.Minute

// mintSetu serves Setu's (deprecated) partner token
// (https://docs.setu.co/investments/deposits/sdk-integration/generate-partner-token):
// URL-encoded grant_type, client_id, client_secret. The issuer is a
// Keycloak realm, so refusals are Keycloak's OAuth errors.
func (s *Server) mintSetu(r *http.Request, body []byte) *reply {
	// Keycloak reads the token request as a form; any other body leaves it
	// with no parameters at all.
	if mediaType(r) != "application/x-www-form-urlencoded" {
		return oauthFail(http.StatusBadRequest, "invalid_request", "Missing form parameter: grant_type")
	}
	form, err := url.ParseQuery(string(body))
	if err != nil {
		return oauthFail(http.StatusBadRequest, "invalid_request", "Malformed form body")
	}
	if p := repeated(form); p != "" {
		return oauthFail(http.StatusBadRequest, "invalid_request", "duplicated parameter")
	}
	switch form.Get("grant_type") {
	case "":
		return oauthFail(http.StatusBadRequest, "invalid_request", "Missing form parameter: grant_type")
	case "client_credentials":
	default:
		return oauthFail(http.StatusBadRequest, "unsupported_grant_type", "Unsupported grant_type")
	}
	id := form.Get("client_id")
	if id == "" {
		return oauthFail(http.StatusBadRequest, "invalid_client", "Missing parameter: client_id")
	}
	if !s.authenticate(Setu, id, form.Get("client_secret")) {
		return oauthFail(http.StatusUnauthorized, "invalid_client", "Invalid client or Invalid client credentials")
	}

	iss := "http://" + r.Host + "/setu/auth/realms/fd"
	sub := uuid.NewString()
	access, _, _ := s.issueJWT(Setu, "",
		map[string]any{"alg": "RS256", "typ": "JWT", "kid": "partnersim-setu"},
		map[string]any{"iss": iss, "aud": "account", "sub": sub, "typ": "Bearer", "azp": id, "clientId": id, "scope": "profile email"},
		s.lifetime(Setu), true)
	iat, exp := times(s.now(), setuRefreshLifetime)
	refresh := jwt(
		map[string]any{"alg": "HS256", "typ": "JWT", "kid": "partnersim-setu-refresh"},
		map[string]any{"exp": exp, "iat": iat, "jti": uuid.NewString(), "iss": iss, "aud": iss, "sub": sub, "typ": "Refresh", "azp": id, "scope": "profile email"})
	return tokenReply(map[string]string{"accessToken": access, "refreshToken": refresh})
}
