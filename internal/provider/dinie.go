package provider

import (
	"context"
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// dinie is the Dinie partner API token: a standard OAuth2 client credentials
// grant answered with token_type "bearer", and RFC 7807 problem details on
// failure.
// https://dinie.nexaedge.dev/apis/openapi/authentication/createtoken
// docs/partners.md#dinie lists the sources of each fact below.
type dinie struct{}

const (
	// maxRateLimitWait caps the wait taken from X-RateLimit-Reset: a rate
	// limit window is minutes long, and a token endpoint that asks for more
	// than an hour is better retried with the backend's own backoff.
	maxRateLimitWait = time.Hour
	// maxRateLimitReset is the furthest reset believed at all. Further than
	// that is a unit mix-up (a timestamp in milliseconds) and is ignored.
	maxRateLimitReset = 24 * time.Hour
)

func (dinie) Spec() Spec {
	return Spec{
		Name:        "dinie",
		DisplayName: "Dinie",
		Description: "Dinie partner API access token (OAuth2 client credentials with HTTP Basic authentication).",
		Docs:        "https://dinie.nexaedge.dev/apis/openapi/authentication/createtoken",
		// /auth/token is relative to a base that Dinie documents two ways:
		// /api/v3 in its current SDKs, /v3 in its developer portal's servers
		// list. The engine follows the SDKs; a 404 names the portal's URL
		// (docs/partners.md#dinie).
		Environments: []Environment{
			{
				Name:               "sandbox",
				TokenURL:           "https://sandbox.api.dinie.com.br/api/v3/auth/token",
				OtherDocumentedURL: "https://sandbox.api.dinie.com.br/v3/auth/token",
			},
			{
				Name:               "production",
				TokenURL:           "https://api.dinie.com.br/api/v3/auth/token",
				OtherDocumentedURL: "https://api.dinie.com.br/v3/auth/token",
			},
		},
		// "The token expires in 1 hour" (Dinie docs); expires_in is required
		// in the answer, so this only applies if Dinie ever omits it.
		DefaultLifetime: time.Hour,
	}
}

func (d dinie) mint(ctx context.Context, req *Request) (*Token, error) {
	// "Basic base64(client_id:client_secret)": the docs' curl -u and the
	// official SDKs send the pair as is, not form-encoded first.
	header := http.Header{
		"Authorization": {basicAuth(req.ClientID, req.ClientSecret)},
		"Content-Type":  {"application/x-www-form-urlencoded"},
	}

	resp, err := req.post(ctx, header, []byte("grant_type=client_credentials"))
	if err != nil {
		return nil, err
	}
	if !resp.ok() {
		perr := req.failure(resp, req.dinieMessage(resp.Body))
		// Dinie does not document Retry-After; every answer carries
		// X-RateLimit-Reset instead, and the docs say to wait until it.
		if resp.Status == http.StatusTooManyRequests && perr.RetryAfter == 0 {
			perr.RetryAfter = rateLimitReset(resp.Header, resp.ReceivedAt)
		}
		return nil, perr
	}
	return req.parseOAuth2(resp, 0, "")
}

// problemFields and problemRefs are the RFC 7807 members of Dinie's
// problem schema, in the order they explain the problem best: what, why,
// which code, which parameter (then the field errors), and last where to
// look it up.
var (
	problemFields = []string{"title", "detail", "code", "param"}
	problemRefs   = []string{"type", "instance"}
)

// dinieMessage is Dinie's problem document in its own words: title,
// detail, code, the offending param, the field errors (param: detail
// (code)), then type and instance. Secrets are removed from the raw body
// first, as partnerMessage does; a body that is no problem document falls
// back to partnerMessage.
func (r *Request) dinieMessage(body []byte) string {
	red := r.redactor()
	redacted := []byte(red.text(string(body)))
	var problem struct {
		Errors []struct {
			Param  string `json:"param"`
			Detail string `json:"detail"`
			Code   string `json:"code"`
		} `json:"errors"`
	}
	msg := fieldList(red, redacted, problemFields)
	if msg == "" && fieldList(red, redacted, problemRefs) == "" {
		return r.partnerMessage(body)
	}
	// errors of another shape than the schema's are left out, not fatal.
	_ = json.Unmarshal(redacted, &problem)
	var fieldErrors []string
	for _, e := range problem.Errors {
		text := e.Param
		if e.Detail != "" {
			text = strings.TrimPrefix(text+": "+e.Detail, ": ")
		}
		if e.Code != "" {
			text = strings.TrimSpace(text + " (" + e.Code + ")")
		}
		if text != "" {
			fieldErrors = append(fieldErrors, text)
		}
	}
	if len(fieldErrors) > 0 {
		msg += " errors=" + strconv.Quote(red.text(strings.Join(fieldErrors, "; ")))
	}
	if refs := fieldList(red, redacted, problemRefs); refs != "" {
		msg += " " + refs
	}
	return clean(msg)
}

// rateLimitReset reads X-RateLimit-Reset, the Unix time at which Dinie's rate
// limit window reopens, as a wait from now. A reset in the past, unparsable,
// or too far away to be a rate-limit window gives no wait.
func rateLimitReset(h http.Header, now time.Time) time.Duration {
	reset, err := strconv.ParseInt(strings.TrimSpace(h.Get("X-RateLimit-Reset")), 10, 64)
	if err != nil || reset <= 0 || reset > now.Add(maxRateLimitReset).Unix() {
		return 0
	}
	wait := time.Unix(reset, 0).Sub(now)
	if wait <= 0 {
		return 0
	}
	return min(wait, maxRateLimitWait)
}
