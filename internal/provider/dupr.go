package provider

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"strings"
	"time"
)

// dupr is the DUPR RaaS partner access token: the client key and secret go
// base64-encoded in an x-authorization header, and the answer wraps the token
// in DUPR's {status, result} envelope.
// https://dupr.gitbook.io/dupr-raas/get-started/partner-access-token-generation
// docs/partners.md#dupr lists the sources of each fact below.
type dupr struct{}

// duprSuccess is the status DUPR's envelope (SingleWrapperOfTokenResponse in
// its swagger) carries when a token was issued.
const duprSuccess = "SUCCESS"

func (dupr) Spec() Spec {
	return Spec{
		Name:        "dupr",
		DisplayName: "DUPR",
		Description: "DUPR RaaS partner access token, minted from a client key and client secret.",
		Docs:        "https://dupr.gitbook.io/dupr-raas/get-started/partner-access-token-generation",
		Environments: []Environment{
			{Name: "sandbox", Aliases: []string{"uat"}, TokenURL: "https://uat.mydupr.com/api/auth/v1.0/token"},
			{Name: "production", TokenURL: "https://prod.mydupr.com/api/auth/v1.0/token"},
		},
		// "Access tokens are valid for 1 hour." (DUPR RaaS docs)
		DefaultLifetime: time.Hour,
	}
}

func (d dupr) mint(ctx context.Context, req *Request) (*Token, error) {
	// The swagger declares x-authorization as a required header parameter and
	// no body; the official example is the bare base64 string, without the
	// "Basic " prefix some third-party clients wrongly add.
	header := http.Header{}
	header.Set("X-Authorization", duprCredentials(req.ClientID, req.ClientSecret))

	resp, err := req.send(ctx, header, nil)
	if err != nil {
		return nil, err
	}

	var body struct {
		Status string `json:"status"`
		Result *struct {
			Token string `json:"token"`
			// Expiry is read as raw JSON: whatever shape it comes in, an
			// unreadable expiry falls back to the next source rather than
			// failing the whole answer.
			Expiry json.RawMessage `json:"expiry"`
		} `json:"result"`
	}
	if err := req.decodeJSON(resp, &body); err != nil {
		return nil, err
	}
	// The envelope, not the HTTP status, says whether a token was issued:
	// success is a 2xx AND status SUCCESS AND a token.
	switch body.Status {
	case duprSuccess:
	case "":
		// Not partnerMessage: without a status it would quote the whole
		// body, which may hold a token; malformed shows the message field.
		return nil, req.malformed(resp, "answer has no status (expected %s)", duprSuccess)
	default:
		return nil, req.failure(resp, req.partnerMessage(resp.Body))
	}
	if body.Result == nil {
		return nil, req.malformed(resp, "answer has no result")
	}

	// Expiry sources in the order the research weighed them: the answer's
	// own expiry, the token's exp claim, the documented hour.
	tok := &Token{AccessToken: body.Result.Token}
	if expiry, ok := parseISOTime(jsonString(body.Result.Expiry)); ok {
		tok.ExpiresAt, tok.ExpirySource = serverExpiry(resp, expiry), ExpiryPartnerTime
	} else if exp, ok := jwtExpiry(tok.AccessToken, resp.SentAt); ok {
		tok.ExpiresAt, tok.ExpirySource = exp, ExpiryJWT
	}
	return tok, nil
}

// duprCredentials is DUPR's x-authorization value: standard base64 with
// padding of "ClientKey:ClientSecret".
func duprCredentials(key, secret string) string {
	return base64.StdEncoding.EncodeToString([]byte(key + ":" + secret))
}

// isoLayouts are the RFC 3339 / ISO 8601 shapes a Java service emits for an
// instant: java.time's Instant and OffsetDateTime (Z or +00:00, optional
// fraction), Jackson's and SimpleDateFormat's +0000 offsets, an hour-only
// +00, and a LocalDateTime with no zone at all.
var isoLayouts = []string{
	"2006-01-02T15:04:05.999999999Z07:00",
	"2006-01-02T15:04:05.999999999Z0700",
	"2006-01-02T15:04:05.999999999Z07",
	"2006-01-02T15:04:05.999999999",
}

// parseISOTime reads the ISO-8601 timestamps DUPR sends ("2023-04-02T17:21:23Z"
// documented) in the variants listed in isoLayouts, with a space for the T,
// any case, and a ZonedDateTime's "[zone id]" suffix dropped. A time without
// a zone is read as UTC, the zone of every documented example, rather than
// refused.
func parseISOTime(s string) (time.Time, bool) {
	s = strings.ToUpper(strings.TrimSpace(s))
	if i := strings.IndexByte(s, '['); i > 0 && strings.HasSuffix(s, "]") {
		s = s[:i]
	}
	if len(s) > 10 && s[10] == ' ' {
		s = s[:10] + "T" + s[11:]
	}
	for _, layout := range isoLayouts {
		if t, err := time.Parse(layout, s); err == nil {
			return t, true
		}
	}
	return time.Time{}, false
}

// jsonString is raw as a JSON string, or "" when it is none.
func jsonString(raw json.RawMessage) string {
	var s string
	if json.Unmarshal(raw, &s) != nil {
		return ""
	}
	return s
}

// serverExpiry maps an absolute expiry stamped by the partner's clock onto
// ours: the lifetime expiry − Date (the response's own Date header, RFC 9110
// §6.6.1) is counted from when the request was sent, so a partner clock ahead
// of or behind ours neither shortens nor lengthens the token. Without a
// usable Date header the expiry is taken as is.
//
// Date has whole seconds, truncated: the partner's clock read anywhere in
// [Date, Date+1s) when it answered, so the lifetime left is taken as
// expiry − (Date+1s), never more than the token really has. Taking Date
// as exact overstated it by up to a second, a second every lease on the
// token could outlive it by (issue 16).
func serverExpiry(resp *response, expiry time.Time) time.Time {
	date, err := http.ParseTime(resp.Header.Get("Date"))
	if err != nil {
		return expiry
	}
	return resp.SentAt.Add(expiry.Sub(date.Add(time.Second)))
}
