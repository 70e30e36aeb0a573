package provider

import (
	"encoding/json"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
	"unicode"
)

const (
	// maxLifetime is the longest token life believed. A client-credentials
	// token valid for more than a year is a partner bug or a unit mix-up
	// (milliseconds sent as seconds); caching it that long would hide it.
	maxLifetime = 366 * 24 * time.Hour
	// maxTokenLength bounds the access token itself; real ones are a few KiB.
	maxTokenLength = 16 << 10
)

// seconds is a lifetime in seconds as partners send it: a JSON number or a
// numeric string (golang.org/x/oauth2 accepts both for expires_in).
type seconds struct {
	set   bool
	value float64
}

func (s *seconds) UnmarshalJSON(data []byte) error {
	text := strings.Trim(string(data), `"`)
	if text == "" || text == "null" {
		return nil
	}
	v, err := strconv.ParseFloat(text, 64)
	if err != nil || math.IsNaN(v) || math.IsInf(v, 0) {
		return fmt.Errorf("not a number of seconds: %s", clean(string(data)))
	}
	s.set, s.value = true, v
	return nil
}

func (s seconds) duration() time.Duration {
	if s.value > maxLifetime.Seconds() {
		return maxLifetime + time.Second // rejected by finish
	}
	return time.Duration(s.value * float64(time.Second))
}

// finish validates a token the partner sent before anyone can be handed it:
// strict about the result, however tolerant the parsing was. A token whose
// answer said nothing of its expiry lives the partner's documented lifetime,
// if it has one.
func (r *Request) finish(tok *Token) (*Token, error) {
	resp := r.answer
	if resp == nil {
		return nil, &Error{Partner: r.partner, Message: "the provider returned a token without asking the partner"}
	}
	if tok.ExpiresAt.IsZero() && r.documented > 0 {
		tok.ExpiresAt, tok.ExpirySource = resp.SentAt.Add(r.documented), ExpiryDocumented
	}
	switch {
	case tok.AccessToken == "":
		return nil, r.malformed(resp, "answer has no token")
	case len(tok.AccessToken) > maxTokenLength:
		return nil, r.malformed(resp, "token is longer than %d bytes", maxTokenLength)
	case strings.IndexFunc(tok.AccessToken, func(c rune) bool { return c > unicode.MaxASCII || unicode.IsSpace(c) || unicode.IsControl(c) }) >= 0:
		// It must fit in an Authorization header as is (RFC 6750 §2.1).
		return nil, r.malformed(resp, "token contains characters not allowed in a bearer token")
	case tok.ExpiresAt.IsZero():
		return nil, r.malformed(resp, "answer says nothing about when the token expires")
	}
	tok.IssuedAt = resp.SentAt
	switch life := tok.Lifetime(); {
	case life <= 0:
		return nil, r.malformed(resp, "token is already expired (lifetime %s)", life.Round(time.Second))
	case life > maxLifetime:
		return nil, r.malformed(resp, "token lifetime is implausibly long (more than %s)", maxLifetime)
	}
	tok.TokenType = "Bearer"
	return tok, nil
}

// decodeJSON parses a 2xx answer, saying what is wrong without quoting it.
func (r *Request) decodeJSON(resp *response, v any) error {
	if err := json.Unmarshal(resp.Body, v); err != nil {
		return r.malformed(resp, "answer is not the expected JSON: %s", jsonProblem(err))
	}
	return nil
}

// jsonProblem describes a JSON error without echoing the partner's bytes.
func jsonProblem(err error) string {
	switch e := err.(type) {
	case *json.SyntaxError:
		return fmt.Sprintf("syntax error at byte %d", e.Offset)
	case *json.UnmarshalTypeError:
		return fmt.Sprintf("field %q has the wrong type (%s)", e.Field, e.Value)
	default:
		return clean(err.Error())
	}
}

// checkTokenType accepts a missing or "bearer" token_type in any case; the
// engine only hands out bearer tokens (RFC 6750).
func (r *Request) checkTokenType(resp *response, tokenType string) error {
	if tokenType != "" && !strings.EqualFold(tokenType, "bearer") {
		return r.malformed(resp, "token_type %q is not supported, only bearer tokens are", clean(tokenType))
	}
	return nil
}
