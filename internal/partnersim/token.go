package partnersim

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"time"

	"github.com/google/uuid"
)

// unsignedSignature is the third segment of every simulated JWT. Clients
// only decode the claims (to read exp); nobody verifies partner signatures.
var unsignedSignature = base64.RawURLEncoding.EncodeToString([]byte("partnersim: not a real signature"))

// jwt builds a compact JWS (RFC 7515 §7.1) with base64url JSON segments.
func jwt(header, claims any) string {
	h, err := json.Marshal(header)
	if err != nil {
		panic(err)
	}
	c, err := json.Marshal(claims)
	if err != nil {
		panic(err)
	}
	return base64.RawURLEncoding.EncodeToString(h) + "." + base64.RawURLEncoding.EncodeToString(c) + "." + unsignedSignature
}

// times returns a JWT's iat and exp: whole seconds, as NumericDate is
// (RFC 7519 §2), so exp - iat is exactly the lifetime.
func times(now time.Time, lifetime time.Duration) (iat, exp int64) {
	iat = now.Unix()
	secs := int64(lifetime / time.Second)
	if secs < 1 {
		secs = 1
	}
	return iat, iat + secs
}

// issueJWT mints a unique token, prefix + a JWT, for partner. claims gets
// exp (when withIat, iat too) and a fresh jti, which is what makes two
// tokens for the same client in the same second differ.
func (s *Server) issueJWT(partner, prefix string, header, claims map[string]any, lifetime time.Duration, withIat bool) (token string, iat, exp int64) {
	for {
		iat, exp = times(s.now(), lifetime)
		claims["exp"] = exp
		if withIat {
			claims["iat"] = iat
		}
		claims["jti"] = uuid.NewString()
		token = prefix + jwt(header, claims)
		if s.remember(partner, token, time.Unix(exp, 0)) {
			return token, iat, exp
		}
	}
}

// alphanumeric is oauthlib's UNICODE_ASCII_CHARACTER_SET, from which
// django-oauth-toolkit draws its opaque tokens.
const alphanumeric = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"

// randomString returns n characters drawn uniformly from alphabet.
func randomString(n int, alphabet string) string {
	out := make([]byte, n)
	buf := make([]byte, 1)
	limit := 256 - 256%len(alphabet) // reject to avoid modulo bias
	for i := 0; i < n; {
		if _, err := rand.Read(buf); err != nil {
			panic(err)
		}
		if int(buf[0]) >= limit {
			continue
		}
		out[i] = alphabet[int(buf[0])%len(alphabet)]
		i++
	}
	return string(out)
}

// issueOpaque mints a unique opaque token of n characters that expires
// lifetime after now.
func (s *Server) issueOpaque(partner string, n int, lifetime time.Duration) (token string, expiresIn int64) {
	expiresIn = int64(lifetime / time.Second)
	if expiresIn < 1 {
		expiresIn = 1
	}
	for {
		token = randomString(n, alphanumeric)
		if s.remember(partner, token, s.now().Add(time.Duration(expiresIn)*time.Second)) {
			return token, expiresIn
		}
	}
}
