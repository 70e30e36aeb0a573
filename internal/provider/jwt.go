package provider

import (
	"encoding/base64"
	"encoding/json"
	"strings"
	"time"
)

// jwtTimes reads the exp and iat claims of a JWT without verifying its
// signature: the engine never trusts the token's content, it only needs to
// know when the partner will stop accepting it. Partners that prefix their
// JWTs (Dinie's "dinie_at_") are handled by looking for the JWT's start.
// ok is false when the token is not a JWT or has no usable exp.
func jwtTimes(token string) (exp, iat time.Time, ok bool) {
	if i := strings.Index(token, "eyJ"); i > 0 {
		token = token[i:]
	}
	parts := strings.Split(token, ".")
	if len(parts) != 3 || len(parts[1]) > maxBodySize {
		return time.Time{}, time.Time{}, false
	}
	payload, err := base64.RawURLEncoding.DecodeString(strings.TrimRight(parts[1], "="))
	if err != nil {
		return time.Time{}, time.Time{}, false
	}
	var claims struct {
		Exp json.Number `json:"exp"`
		Iat json.Number `json:"iat"`
	}
	if json.Unmarshal(payload, &claims) != nil {
		return time.Time{}, time.Time{}, false
	}
	exp, ok = unixTime(claims.Exp)
	if !ok {
		return time.Time{}, time.Time{}, false
	}
	iat, _ = unixTime(claims.Iat)
	return exp, iat, true
}

// unixTime converts a NumericDate (RFC 7519 §2), which may carry a fraction.
func unixTime(n json.Number) (time.Time, bool) {
	if n == "" {
		return time.Time{}, false
	}
	f, err := n.Float64()
	if err != nil || f <= 0 || f > 1e11 {
		return time.Time{}, false
	}
	return time.Unix(int64(f), 0), true
}

// jwtExpiry maps a JWT's claims onto the local clock. With iat, the lifetime
// exp−iat is counted from when the request was sent, so a partner clock that
// is ahead or behind ours does not matter; without iat, exp is taken as is.
func jwtExpiry(token string, sentAt time.Time) (time.Time, bool) {
	exp, iat, ok := jwtTimes(token)
	if !ok {
		return time.Time{}, false
	}
	if !iat.IsZero() {
		return sentAt.Add(exp.Sub(iat)), true
	}
	return exp, true
}
