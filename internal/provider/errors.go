package provider

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"
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

// Transient reports whether the same request may succeed later: no answer at
// all, a timeout, rate limiting or a server error.
func (e *Error) Transient() bool {
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

// failure builds the error for a partner answer that carries no token;
// message is the partner's own explanation, from partnerMessage.
func (r *Request) failure(resp *response, message string) *Error {
	return &Error{
		Partner:    r.partner,
		Status:     resp.Status,
		Message:    r.redact(message),
		RetryAfter: retryAfter(resp.Header, resp.ReceivedAt),
	}
}

// pointToOtherDocumentedURL adds to a 404 from an environment's built-in
// token URL the other URL the partner documents for that environment, and
// what to do about it: the engine follows one of the partner's sources, and
// a 404 is the sign that the partner answers where the other says.
func (r *Request) pointToOtherDocumentedURL(spec Spec, err error) error {
	perr, ok := AsError(err)
	if !ok || perr.Status != http.StatusNotFound {
		return err
	}
	for _, env := range spec.Environments {
		if env.OtherDocumentedURL != "" && env.TokenURL == r.TokenURL {
			perr.Message += "; " + spec.DisplayName + " documents this token URL two ways: set token_url to the other, " + env.OtherDocumentedURL
			break
		}
	}
	return err
}

// malformed builds the error for a 2xx answer we cannot use, with what the
// partner said in it (a status and message sent with a 2xx are its own
// explanation of why there is no usable token).
func (r *Request) malformed(resp *response, format string, args ...any) *Error {
	message := fmt.Sprintf(format, args...)
	if said := r.partnerFields(resp.Body, statusFields); said != "" {
		message += "; the partner said: " + said
	}
	return &Error{Partner: r.partner, Status: resp.Status, Message: r.redact(message)}
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

// statusFields are the fields in which partners explain themselves: OAuth2
// (RFC 6749 §5.2: error, error_description and the error_uri of a page
// explaining it, after the description so that the length limit cuts a
// long URI first), problem details (RFC 7807), DUPR's and DOKU's
// status/message wrappers.
var statusFields = []string{"error", "error_description", "error_uri", "title", "detail", "code", "status", "message", "response_code"}

// partnerMessage extracts a human-readable explanation from an error body in
// any of the shapes partners use, or its text when it has none of them. The
// secrets are removed from the raw body before it is parsed, quoted,
// collapsed or cut, and again from each field once decoded.
func (r *Request) partnerMessage(body []byte) string {
	red := r.redactor()
	text := red.text(string(body))
	if msg := fieldList(red, []byte(text), statusFields); msg != "" {
		return msg
	}
	if text = clean(text); text == "" {
		return "empty body"
	}
	return text
}

// partnerFields is the partner's own explanation in the named fields of a
// JSON body, redacted, or "" when the body has none of them. Unlike
// partnerMessage it never quotes the body as text, which in a 2xx may hold
// a token.
func (r *Request) partnerFields(body []byte, keys []string) string {
	red := r.redactor()
	return fieldList(red, []byte(red.text(string(body))), keys)
}

// fieldList renders the named string and number fields of a JSON object
// body as key="value" pairs; a numeric status is left out, since problem
// details repeat the HTTP status in it.
func fieldList(red *redactor, body []byte, keys []string) string {
	var fields map[string]any
	if json.Unmarshal(body, &fields) != nil || fields == nil {
		return ""
	}
	var parts []string
	for _, key := range keys {
		switch v := fields[key].(type) {
		case string:
			if v != "" {
				parts = append(parts, key+"="+strconv.Quote(red.text(v)))
			}
		case float64:
			if key != "status" {
				parts = append(parts, key+"="+strconv.FormatFloat(v, 'f', -1, 64))
			}
		}
	}
	return clean(strings.Join(parts, " "))
}

// clean makes partner-supplied text safe for one log line and bounded in size.
func clean(s string) string {
	s = collapse(s)
	if runes := []rune(s); len(runes) > maxMessageLength {
		s = string(runes[:maxMessageLength]) + "…"
	}
	return s
}
