package partnersim

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/partnertoken/vault-plugin-secrets-partnertoken/internal/provider"
)

// DOKUTimestampWindow is how far Request-Timestamp may be from the
// simulator's clock. DOKU does not document its tolerance (docs/partners.md#doku,
// "Clock skew"); five minutes is the usual choice.
const DOKUTimestampWindow = 5 * time.Minute

// dokuTimestampLayout is ISO-8601 UTC with second precision, e.g.
// 2020-08-11T08:45:42Z.
const dokuTimestampLayout = "2006-01-02T15:04:05Z"

// dokuRequestIDMemory is how long a Request-Id is remembered.
const dokuRequestIDMemory = 24 * time.Hour

// mintDOKU serves DOKU's Partner API Generate Token
// (https://developers.doku.com/partnership/partner-api/generate-token-api)
// with the non-SNAP request signature
// (https://developers.doku.com/get-started-with-doku-api/signature-component/non-snap/signature-component-from-request-header).
func (s *Server) mintDOKU(r *http.Request, body []byte) *reply {
	h := map[string]string{}
	for _, name := range []string{"Client-Id", "Request-Id", "Request-Timestamp", "Signature"} {
		v := r.Header.Values(name)
		if len(v) != 1 || v[0] == "" {
			return dokuFail(http.StatusBadRequest, "INVALID_PARAMETER", "Invalid Header "+name)
		}
		h[name] = v[0]
	}
	// "Unique random string (max 128 characters)".
	if len(h["Request-Id"]) > 128 {
		return dokuFail(http.StatusBadRequest, "INVALID_PARAMETER", "Invalid Header Request-Id: max 128 characters")
	}
	// Go's time.Parse accepts fractional seconds the layout lacks, so the
	// value must also format back to itself.
	now := s.now()
	ts, err := time.Parse(dokuTimestampLayout, h["Request-Timestamp"])
	if err != nil || ts.Format(dokuTimestampLayout) != h["Request-Timestamp"] {
		return dokuFail(http.StatusBadRequest, "INVALID_TIMESTAMP", "Invalid Header Request-Timestamp: use UTC like 2020-08-11T08:45:42Z")
	}
	if skew := now.Sub(ts); skew > DOKUTimestampWindow || skew < -DOKUTimestampWindow {
		return dokuFail(http.StatusBadRequest, "INVALID_TIMESTAMP", "Request-Timestamp is more than 5 minutes away from server time")
	}

	c := s.client(DOKU)
	if !hmac.Equal([]byte(h["Client-Id"]), []byte(c.ID)) {
		return dokuFail(http.StatusUnauthorized, "INVALID_CLIENT_ID", "Invalid Header Client-Id")
	}
	// The Request-Target is the path the client hit, prefix included: a
	// client derives it from its token URL.
	target := r.URL.EscapedPath()
	valid := false
	for _, secret := range c.secrets() {
		want := dokuSignature(h["Client-Id"], h["Request-Id"], h["Request-Timestamp"], target, body, secret)
		valid = hmac.Equal([]byte(h["Signature"]), []byte(want)) || valid
		if len(body) == 0 {
			// An empty body may be signed with the Digest of "" too; either
			// way it is refused below for its missing grant_type.
			want = signDOKU(dokuStringToSign(h["Client-Id"], h["Request-Id"], h["Request-Timestamp"], target)+"\nDigest:"+dokuDigest(nil), secret)
			valid = hmac.Equal([]byte(h["Signature"]), []byte(want)) || valid
		}
	}
	if !valid {
		return dokuFail(http.StatusUnauthorized, "INVALID_SIGNATURE", "Invalid Header Signature")
	}
	// DOKU de-duplicates on Request-Id; an authentic request consumes its
	// id whatever happens next, so a retry must draw a new one.
	if !s.firstRequestID(c.ID, h["Request-Id"], now) {
		return dokuFail(http.StatusConflict, "DUPLICATE_REQUEST_ID", "Duplicate Request-Id")
	}

	if mediaType(r) != "application/json" {
		return dokuFail(http.StatusBadRequest, "INVALID_PARAMETER", "Content-Type must be application/json")
	}
	var params map[string]json.RawMessage
	if err := decodeJSON(body, &params); err != nil || params == nil {
		return dokuFail(http.StatusBadRequest, "INVALID_PARAMETER", "Request body must be a JSON object")
	}
	var grant string
	if json.Unmarshal(params["grant_type"], &grant) != nil || grant != "client_credentials" {
		return dokuFail(http.StatusBadRequest, "INVALID_PARAMETER", "grant_type must be client_credentials")
	}
	lifetime := s.lifetime(DOKU)
	if raw, ok := params["valid_time"]; ok {
		// valid_time is documented as a string of minutes ("360"); a JSON
		// number is a different type and refused.
		var v string
		if json.Unmarshal(raw, &v) != nil {
			return dokuFail(http.StatusBadRequest, "INVALID_PARAMETER", "valid_time must be a string of minutes, e.g. \"360\"")
		}
		// DOKU documents no maximum: the line is the engine's own
		// (provider.DOKUMaxValidTime), so the simulator never refuses a
		// valid_time the engine sends, nor accepts one it would not.
		minutes, err := strconv.Atoi(v)
		if err != nil || strings.TrimSpace(v) != v || strings.HasPrefix(v, "+") || minutes < 1 {
			return dokuFail(http.StatusBadRequest, "INVALID_PARAMETER", "valid_time must be a positive whole number of minutes")
		}
		if minutes > provider.DOKUMaxValidTime {
			return dokuFail(http.StatusBadRequest, "INVALID_PARAMETER", "valid_time must be at most "+strconv.Itoa(provider.DOKUMaxValidTime)+" minutes")
		}
		lifetime = time.Duration(minutes) * time.Minute
	}

	// Claims as in DOKU's sample token (Upload File API page).
	token, _, _ := s.issueJWT(DOKU, "", map[string]any{"alg": "RS256"},
		map[string]any{"sub": "payload", "user": map[string]string{"businessServiceClientId": c.ID}},
		lifetime, true)
	rep := tokenReply(map[string]string{"token": token})
	// DOKU signs its responses the same way, with Response-Timestamp
	// (…/non-snap/signature-componen-from-response-header).
	respTS := now.UTC().Format(dokuTimestampLayout)
	rep.header.Set("Client-Id", c.ID)
	rep.header.Set("Request-Id", h["Request-Id"])
	rep.header.Set("Response-Timestamp", respTS)
	rep.header.Set("Signature", signDOKU("Client-Id:"+c.ID+"\nRequest-Id:"+h["Request-Id"]+
		"\nResponse-Timestamp:"+respTS+"\nRequest-Target:"+target+"\nDigest:"+dokuDigest(rep.body), c.Secret))
	return rep
}

// dokuSignature is the non-SNAP request signature: HMAC-SHA256 keyed with
// the secret's bytes over the component lines joined by "\n", with no
// trailing newline; the Digest line is present only when a body is sent.
func dokuSignature(clientID, requestID, timestamp, target string, body []byte, secret string) string {
	msg := dokuStringToSign(clientID, requestID, timestamp, target)
	if len(body) > 0 {
		msg += "\nDigest:" + dokuDigest(body)
	}
	return signDOKU(msg, secret)
}

func dokuStringToSign(clientID, requestID, timestamp, target string) string {
	return "Client-Id:" + clientID + "\nRequest-Id:" + requestID + "\nRequest-Timestamp:" + timestamp + "\nRequest-Target:" + target
}

// dokuDigest is base64(SHA-256(body bytes exactly as sent)).
func dokuDigest(body []byte) string {
	sum := sha256.Sum256(body)
	return base64.StdEncoding.EncodeToString(sum[:])
}

func signDOKU(msg, secret string) string {
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write([]byte(msg))
	return "HMACSHA256=" + base64.StdEncoding.EncodeToString(mac.Sum(nil))
}

// firstRequestID records a client's Request-Id, reporting false if it was
// seen before.
func (s *Server) firstRequestID(clientID, requestID string, now time.Time) bool {
	key := clientID + "\n" + requestID
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, seen := s.requestIDs[key]; seen {
		return false
	}
	if len(s.requestIDs) >= 10000 {
		for k, t := range s.requestIDs {
			if now.Sub(t) > dokuRequestIDMemory {
				delete(s.requestIDs, k)
			}
		}
	}
	s.requestIDs[key] = now
	return true
}
