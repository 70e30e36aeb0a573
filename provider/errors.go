package provider

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
	"unicode"
)

// Error is a failed mint. Its text names the partner, the HTTP status and the
// partner's own message, and never contains the client secret.
type Error struct {
	Partner string
	// Status is the HTTP status of the partner's answer; 0 when none arrived.
	Status int
	// Message is the partner's own explanation, or what went wrong on the way.
	Message string
	// RetryAfter is the wait the partner asked for (Retry-After and the like).
	RetryAfter time.Duration
	err        error
}

func (e *Error) Error() string {
	if e.Status == 0 {
		return fmt.Sprintf("%s token endpoint: %s", e.Partner, e.Message)
	}
	return fmt.Sprintf("%s token endpoint answered HTTP %d: %s", e.Partner, e.Status, e.Message)
}

func (e *Error) Unwrap() error { return e.err }

// Refused reports whether the partner rejected the request or the
// credentials. Sending the same request again cannot succeed, so it is never
// retried (RFC 6749 §5.2 uses 400 and 401; partners also use 403).
func (e *Error) Refused() bool {
	return e.Status == http.StatusBadRequest || e.Status == http.StatusUnauthorized || e.Status == http.StatusForbidden
}

// Temporary reports whether the same request may succeed later: no answer at
// all, a timeout, rate limiting or a server error.
func (e *Error) Temporary() bool {
	switch {
	case e.Status == 0:
		return e.err != nil
	case e.Status == http.StatusRequestTimeout, e.Status == http.StatusTooManyRequests:
		return true
	default:
		return e.Status >= 500
	}
}

// AsError returns the *Error inside err, if any.
func AsError(err error) (*Error, bool) {
	var perr *Error
	ok := errors.As(err, &perr)
	return perr, ok
}

// failure builds the error for a partner answer that carries no token.
func (r *Request) failure(partner string, resp *response, message string) *Error {
	return &Error{
		Partner:    partner,
		Status:     resp.Status,
		Message:    r.redact(message),
		RetryAfter: retryAfter(resp.Header, resp.ReceivedAt),
	}
}

// malformed builds the error for a 2xx answer we cannot use.
func (r *Request) malformed(partner string, resp *response, format string, args ...any) *Error {
	return &Error{Partner: partner, Status: resp.Status, Message: r.redact(fmt.Sprintf(format, args...))}
}

// redact removes every form of the client secret a partner or a transport
// error could echo back: raw, URL-encoded and inside Basic credentials.
func (r *Request) redact(s string) string {
	if len(r.ClientSecret) < 4 {
		// Too short to search for without mangling ordinary text; such a
		// secret is refused at configuration time anyway.
		return s
	}
	forms := []string{
		r.ClientSecret,
		url.QueryEscape(r.ClientSecret),
		base64.StdEncoding.EncodeToString([]byte(r.ClientID + ":" + r.ClientSecret)),
		base64.StdEncoding.EncodeToString([]byte(url.QueryEscape(r.ClientID) + ":" + url.QueryEscape(r.ClientSecret))),
	}
	for _, form := range forms {
		s = strings.ReplaceAll(s, form, "[redacted]")
	}
	return s
}

// retryAfter reads Retry-After as seconds or as an HTTP date (RFC 9110 §10.2.3).
func retryAfter(h http.Header, now time.Time) time.Duration {
	v := strings.TrimSpace(h.Get("Retry-After"))
	if v == "" {
		return 0
	}
	if secs, err := strconv.ParseInt(v, 10, 64); err == nil {
		if secs < 0 {
			return 0
		}
		return time.Duration(min(secs, int64(24*time.Hour/time.Second))) * time.Second
	}
	if at, err := http.ParseTime(v); err == nil && at.After(now) {
		return min(at.Sub(now), 24*time.Hour)
	}
	return 0
}

// maxMessageLength bounds what a partner's error message can put into Vault's
// responses and logs.
const maxMessageLength = 300

// partnerMessage extracts a human-readable explanation from an error body in
// any of the shapes partners use: OAuth2 (RFC 6749 §5.2), problem details
// (RFC 7807), a status/message wrapper, or plain text.
func partnerMessage(body []byte) string {
	var fields map[string]any
	if json.Unmarshal(body, &fields) == nil && fields != nil {
		var parts []string
		for _, key := range []string{"error", "error_description", "title", "detail", "code", "status", "message", "response_code"} {
			switch v := fields[key].(type) {
			case string:
				if v != "" {
					parts = append(parts, key+"="+strconv.Quote(v))
				}
			case float64:
				if key != "status" { // problem details repeat the HTTP status
					parts = append(parts, key+"="+strconv.FormatFloat(v, 'f', -1, 64))
				}
			}
		}
		if len(parts) > 0 {
			return clean(strings.Join(parts, " "))
		}
	}
	text := clean(string(body))
	if text == "" {
		return "empty body"
	}
	return text
}

// clean makes partner-supplied text safe for one log line and bounded in size.
func clean(s string) string {
	s = strings.Map(func(r rune) rune {
		if unicode.IsControl(r) || r == unicode.ReplacementChar {
			return ' '
		}
		return r
	}, s)
	s = strings.Join(strings.Fields(s), " ")
	if runes := []rune(s); len(runes) > maxMessageLength {
		s = string(runes[:maxMessageLength]) + "…"
	}
	return s
}
