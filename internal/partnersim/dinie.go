package partnersim

import (
	"net/http"
	"net/url"
	"strconv"
	"time"
)

// dinieTokenPrefix marks Dinie access tokens ("dinie_at_<JWT>").
const dinieTokenPrefix = "dinie_at_"

// mintDinie serves Dinie's token endpoint
// (https://dinie.nexaedge.dev/apis/openapi/authentication/createtoken):
// Basic client credentials, form grant_type=client_credentials, RFC 7807
// problem documents on failure.
func (s *Server) mintDinie(r *http.Request, body []byte) *reply {
	if r.Header.Get("Authorization") == "" {
		return dinieFail(http.StatusUnauthorized, "invalid_client", "Missing Basic credentials in the Authorization header.")
	}
	id, secret, ok := r.BasicAuth()
	if !ok || !s.authenticate(Dinie, id, secret) {
		return dinieFail(http.StatusUnauthorized, "invalid_client", "Invalid client credentials.")
	}
	if mediaType(r) != "application/x-www-form-urlencoded" {
		return dinieInvalid("validation_error", "Content-Type", "Content-Type must be application/x-www-form-urlencoded.", "invalid_content_type")
	}
	form, err := url.ParseQuery(string(body))
	if err != nil {
		return dinieInvalid("validation_error", "body", "The request body is not valid form data.", "invalid_format")
	}
	if p := repeated(form); p != "" {
		return dinieInvalid("validation_error", p, p+" must be sent once.", "duplicated")
	}
	switch form.Get("grant_type") {
	case "client_credentials":
	case "":
		return dinieInvalid("validation_error", "grant_type", "grant_type is required.", "required")
	default:
		return dinieInvalid("validation_error", "grant_type", "grant_type must be client_credentials.", "invalid_value")
	}

	// The sample token's claims are sub (the client id) and exp; jti keeps
	// two tokens minted in the same second apart.
	token, iat, exp := s.issueJWT(Dinie, dinieTokenPrefix, map[string]any{"alg": "HS256"}, map[string]any{"sub": id}, s.lifetime(Dinie), false)
	return tokenReply(struct {
		AccessToken string `json:"access_token"`
		TokenType   string `json:"token_type"`
		ExpiresIn   int64  `json:"expires_in"`
	}{token, "bearer", exp - iat})
}

// rateLimit is Dinie's view of one request against its fixed one-minute
// window. Every Dinie response carries X-RateLimit-Limit, -Remaining and
// -Reset (Unix time of the window's end)
// (https://dinie.nexaedge.dev/errors/rate-limit-exceeded).
type rateLimit struct {
	limit, remaining int
	reset            time.Time
	exceeded         bool
}

// takeDinieQuota counts one request in the current window.
func (s *Server) takeDinieQuota() rateLimit {
	now := s.now()
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.dinieStart.IsZero() || now.Before(s.dinieStart) || now.Sub(s.dinieStart) >= time.Minute {
		s.dinieStart, s.dinieCount = now.Truncate(time.Minute), 0
	}
	s.dinieCount++
	return rateLimit{
		limit:     s.dinieRateLimit,
		remaining: max(0, s.dinieRateLimit-s.dinieCount),
		reset:     s.dinieStart.Add(time.Minute),
		exceeded:  s.dinieCount > s.dinieRateLimit,
	}
}

// retryIn is the whole seconds until the window resets, at least 1.
func (rl rateLimit) retryIn(now time.Time) int {
	return max(1, int((rl.reset.Sub(now)+time.Second-1)/time.Second))
}

// setHeaders adds the rate-limit headers; an injected RateLimitReset
// replaces the window's end and empties it.
func (rl rateLimit) setHeaders(h http.Header, f *Fault) {
	reset, remaining := rl.reset, rl.remaining
	if f != nil && !f.RateLimitReset.IsZero() {
		reset, remaining = f.RateLimitReset, 0
	}
	h.Set("X-RateLimit-Limit", strconv.Itoa(rl.limit))
	h.Set("X-RateLimit-Remaining", strconv.Itoa(remaining))
	h.Set("X-RateLimit-Reset", strconv.FormatInt(reset.Unix(), 10))
}
