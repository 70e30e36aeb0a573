package partnersim

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strings"
	"time"
)

// mintDUPR serves DUPR's partner token
// (https://dupr.gitbook.io/dupr-raas/get-started/partner-access-token-generation):
// header x-authorization = base64(ClientKey:ClientSecret) with no scheme,
// no body parameters. Every credential refusal is a 401 FAILURE wrapper:
// DUPR's errors page gives 401 for "Your API credentials are wrong or
// expired". 403, the only status its swagger lists, is kept for a wrong
// path, where a third party saw it (docs/partners.md#dupr).
func (s *Server) mintDUPR(r *http.Request, body []byte) *reply {
	const wrong = "Your API credentials are wrong or expired."
	values := r.Header.Values("X-Authorization")
	if len(values) != 1 || strings.TrimSpace(values[0]) == "" {
		return duprFail(http.StatusUnauthorized, "", "Missing x-authorization header. "+wrong)
	}
	v := values[0]
	// The official example is the bare base64 string; a "Basic " prefix (seen
	// in one third-party client) is not base64 and is refused.
	if scheme, _, ok := strings.Cut(v, " "); ok {
		return duprFail(http.StatusUnauthorized, "", "x-authorization must be base64(client key:client secret) without a scheme, not "+scheme+" credentials. "+wrong)
	}
	raw, err := base64.StdEncoding.Strict().DecodeString(v)
	if err != nil {
		return duprFail(http.StatusUnauthorized, "", wrong)
	}
	id, secret, ok := strings.Cut(string(raw), ":")
	if !ok || !s.authenticate(DUPR, id, secret) {
		return duprFail(http.StatusUnauthorized, "", wrong)
	}

	// The swagger declares no body parameters and consumes application/json:
	// clients send nothing or {}.
	if len(bytes.TrimSpace(body)) > 0 {
		if mediaType(r) != "application/json" {
			return duprFail(http.StatusUnsupportedMediaType, "", "Content type '"+r.Header.Get("Content-Type")+"' not supported")
		}
		var m map[string]json.RawMessage
		if err := decodeJSON(body, &m); err != nil || m == nil || len(m) > 0 {
			return duprFail(http.StatusBadRequest, "", "The token request takes no body; send none or {}")
		}
	}

	token, _, exp := s.issueJWT(DUPR, "", map[string]any{"alg": "RS512"}, map[string]any{"sub": id}, s.lifetime(DUPR), true)
	type result struct {
		Token  string `json:"token"`
		Expiry string `json:"expiry,omitempty"`
	}
	var expiry string
	if s.duprExpiry != DUPRNoExpiry {
		expiry = time.Unix(exp, 0).UTC().Format(s.duprExpiry)
	}
	return tokenReply(struct {
		Status string `json:"status"`
		Result result `json:"result"`
	}{"SUCCESS", result{token, expiry}})
}

// decodeJSON decodes exactly one JSON value from body.
func decodeJSON(body []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(body))
	if err := dec.Decode(v); err != nil {
		return err
	}
	if err := dec.Decode(new(json.RawMessage)); err != io.EOF {
		return errors.New("trailing data after the JSON value")
	}
	return nil
}
