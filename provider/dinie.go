package provider

import (
	"context"
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// Dinie is the Dinie partner API token: a standard OAuth2 client credentials
// grant answered with token_type "bearer", and RFC 7807 problem details on
// failure.
// https://dinie.nexaedge.dev/apis/openapi/authentication/createtoken
type Dinie struct{}

const (
	// maxRateLimitWait caps the wait taken from X-RateLimit-Reset: a rate
	// limit window is minutes long, and a token endpoint that asks for more
	// than an hour is better retried with the backend's own backoff.
	maxRateLimitWait = time.Hour
	// maxRateLimitReset is the furthest reset believed at all. Further than
	// that is a unit mix-up (a timestamp in milliseconds) and is ignored.
	maxRateLimitReset = 24 * time.Hour
)

func (Dinie) Spec() Spec {
	return Spec{
		Name:        "dinie",
		DisplayName: "Dinie",
		Description: "Dinie partner API access token (OAuth2 client credentials with HTTP Basic authentication).",
		Docs:        "https://dinie.nexaedge.dev/apis/openapi/authentication/createtoken",
		Environments: []Environment{
			{Name: "sandbox", TokenURL: "https://sandbox.api.dinie.com.br/v3/auth/token"},
			{Name: "production", TokenURL: "https://api.dinie.com.br/v3/auth/token"},
		},
		// "The token expires in 1 hour" (Dinie docs); expires_in is required
		// in the answer, so this only applies if Dinie ever omits it.
		DefaultLifetime: time.Hour,
	}
}

func (d Dinie) Mint(ctx context.Context, req *Request) (*Token, error) {
	partner := d.Spec().DisplayName
	// "Basic base64(client_id:client_secret)": the docs' curl -u sends the
	// pair as is, not form-encoded first.
	header := http.Header{
		"Authorization": {basicAuth(req.ClientID, req.ClientSecret)},
		"Content-Type":  {"application/x-www-form-urlencoded"},
	}

	resp, err := req.post(ctx, partner, header, []byte("grant_type=client_credentials"))
	if err != nil {
		return nil, err
	}
	if !resp.ok() {
		perr := req.failure(partner, resp, dinieMessage(resp.Body))
		// Dinie does not document Retry-After; every answer carries
		// X-RateLimit-Reset instead, and the docs say to wait until it.
		if resp.Status == http.StatusTooManyRequests && perr.RetryAfter == 0 {
			perr.RetryAfter = rateLimitReset(resp.Header, resp.ReceivedAt)
		}
		return nil, perr
	}
	return req.parseOAuth2(partner, resp, d.Spec().DefaultLifetime)
}

// dinieMessage is partnerMessage (title, detail, code of the RFC 7807
// problem) plus the parameter the problem names, which Dinie's problem
// schema adds as param and errors[].param/detail.
func dinieMessage(body []byte) string {
	msg := partnerMessage(body)
	var problem struct {
		Param  string `json:"param"`
		Errors []struct {
			Param  string `json:"param"`
			Detail string `json:"detail"`
		} `json:"errors"`
	}
	if json.Unmarshal(body, &problem) != nil {
		return msg
	}
	if problem.Param != "" {
		msg += " param=" + strconv.Quote(problem.Param)
	}
	var fieldErrors []string
	for _, e := range problem.Errors {
		switch {
		case e.Param != "" && e.Detail != "":
			fieldErrors = append(fieldErrors, e.Param+": "+e.Detail)
		case e.Param != "" || e.Detail != "":
			fieldErrors = append(fieldErrors, e.Param+e.Detail)
		}
	}
	if len(fieldErrors) > 0 {
		msg += " errors=" + strconv.Quote(strings.Join(fieldErrors, "; "))
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
