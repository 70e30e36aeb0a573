package provider

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/google/uuid"
)

// doku is DOKU's Partner API token (non-SNAP): the request is signed with an
// HMAC of its headers and body, keyed with the brand's secret key, and the
// answer is a bare {"token": <JWT>}.
// https://developers.doku.com/partnership/partner-api/generate-token-api
// docs/partners.md#doku lists the sources of each fact below.
type doku struct{}

// DOKUMaxValidTime is the longest valid_time, in minutes, the engine asks
// DOKU for. DOKU documents no maximum, so the line is the engine's own:
// finish refuses a token living longer than maxLifetime anyway. The
// simulator refuses from the same line, so neither accepts what the other
// refuses.
const DOKUMaxValidTime = int(maxLifetime / time.Minute)

// dokuTokenRequest is the documented body. valid_time is a JSON string of
// minutes, and is left out when the operator did not set one.
type dokuTokenRequest struct {
	GrantType string `json:"grant_type"`
	ValidTime string `json:"valid_time,omitempty"`
}

func (doku) Spec() Spec {
	return Spec{
		Name:        "doku",
		DisplayName: "DOKU",
		Description: "DOKU Partner API token (non-SNAP), requested with an HMAC-SHA256 Signature header. client_id is the Brand ID (BRN-...), client_secret the secret key.",
		Docs:        "https://developers.doku.com/partnership/partner-api/generate-token-api",
		Environments: []Environment{
			{Name: "sandbox", TokenURL: "https://api-uat.doku.com/adv-core-api/partner/v1.0/token"},
			{Name: "production", TokenURL: "https://api.doku.com/adv-core-api/partner/v1.0/token"},
		},
		Fields: []Field{{
			Name:        "valid_time",
			Type:        String,
			Description: "Token lifetime to ask DOKU for, in minutes (a positive whole number such as 360), sent as valid_time. Leave unset to let DOKU apply its default. The token's own exp claim decides when it expires; valid_time is only assumed when the token carries none.",
			Check: func(v any) error {
				s, _ := v.(string)
				_, err := parseValidTime(s)
				return err
			},
		}},
		// No DefaultLifetime: DOKU does not document the lifetime of a token
		// requested without valid_time.
	}
}

func (d doku) mint(ctx context.Context, req *Request) (*Token, error) {
	validTime := req.Options.String("valid_time")
	var minutes int
	if validTime != "" {
		var err error
		if minutes, err = parseValidTime(validTime); err != nil {
			return nil, &Error{Partner: req.partner, Message: "valid_time: " + err.Error()}
		}
	}
	body, err := json.Marshal(dokuTokenRequest{GrantType: "client_credentials", ValidTime: validTime})
	if err != nil {
		return nil, &Error{Partner: req.partner, Message: "cannot build the request body: " + err.Error()}
	}
	target, err := requestTarget(req.TokenURL)
	if err != nil {
		return nil, &Error{Partner: req.partner, Message: "cannot build the request: " + req.redact(err.Error())}
	}
	// A fresh Request-Id for every attempt, retries included: DOKU uses it
	// "to protect duplicate request", so reusing one could be refused.
	requestID, err := uuid.NewRandom()
	if err != nil {
		return nil, &Error{Partner: req.partner, Message: "cannot generate a Request-Id: " + err.Error(), err: err}
	}
	c := dokuComponents{
		ClientID:  req.ClientID,
		RequestID: requestID.String(),
		// "Timestamp request on UTC time in ISO8601 UTC+0 format."
		Timestamp: req.now().UTC().Format(dokuTimestamp),
		Target:    target,
		Digest:    dokuDigest(body),
	}
	header := http.Header{
		"Client-Id":         {c.ClientID},
		"Request-Id":        {c.RequestID},
		"Request-Timestamp": {c.Timestamp},
		"Signature":         {dokuSignature(req.ClientSecret, c)},
		"Content-Type":      {"application/json"},
	}

	resp, err := req.send(ctx, header, body)
	if err != nil {
		return nil, err
	}

	var answer struct {
		Token string `json:"token"`
	}
	if err := req.decodeJSON(resp, &answer); err != nil {
		return nil, err
	}
	tok := &Token{AccessToken: answer.Token}
	if exp, ok := jwtExpiry(answer.Token, resp.SentAt); ok {
		tok.ExpiresAt, tok.ExpirySource = exp, ExpiryJWT
	} else if minutes > 0 {
		tok.ExpiresAt, tok.ExpirySource = resp.SentAt.Add(time.Duration(minutes)*time.Minute), ExpiryRequested
	} else if answer.Token != "" {
		return nil, req.malformed(resp, "token carries no exp claim and valid_time is not set, so its expiry is unknown")
	}
	return tok, nil
}

// parseValidTime reads valid_time: digits only, as DOKU takes it as a string
// of minutes, with no sign, unit or leading zero to be read differently.
func parseValidTime(s string) (int, error) {
	invalid := errors.New("must be a positive whole number of minutes, digits only, such as 360")
	if s == "" || s[0] == '0' {
		return 0, invalid
	}
	for _, c := range s {
		if c < '0' || c > '9' {
			return 0, invalid
		}
	}
	n, err := strconv.Atoi(s)
	if err != nil || n > DOKUMaxValidTime {
		return 0, fmt.Errorf("must be at most %d minutes (%d days)", DOKUMaxValidTime, maxLifetime/(24*time.Hour))
	}
	return n, nil
}

// requestTarget is the path of the token URL as it goes on the wire, without
// scheme, host or query: DOKU's Request-Target component.
func requestTarget(tokenURL string) (string, error) {
	u, err := url.Parse(tokenURL)
	if err != nil {
		return "", err
	}
	if p := u.EscapedPath(); p != "" {
		return p, nil
	}
	return "/", nil
}
