package partnersim

import (
	"crypto/subtle"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/go-jose/go-jose/v4"
	josejwt "github.com/go-jose/go-jose/v4/jwt"
)

// JWT assertions as a strict authorization server checks them (RFC 7523
// §3, OpenID Connect Core §9): a compact JWS whose signature verifies under
// a registered key (or, for HS256, the client secret), whose iss, sub,
// aud, exp, nbf and iat say what they must, with a jti never seen before.

const (
	// assertionSkew is the clock difference tolerated on exp, nbf and iat.
	assertionSkew = 30 * time.Second
	// maxClientAssertionLife bounds a client assertion's life, as the
	// engine promises (5 minutes).
	maxClientAssertionLife = 5 * time.Minute
	// maxGrantAssertionLife bounds the JWT bearer grant's assertion
	// (Google's limit: an hour).
	maxGrantAssertionLife = time.Hour
)

// asymmetric are the algorithms a registered key may sign with.
var asymmetric = []jose.SignatureAlgorithm{jose.RS256, jose.PS256, jose.ES256, jose.EdDSA}

// assertionUse says what an assertion is for.
type assertionUse struct {
	// method is private_key_jwt, client_secret_jwt or jwt_bearer.
	method string
	// clientAuth: iss and sub must both be the client id.
	clientAuth bool
	maxLife    time.Duration
}

var (
	clientAssertion = assertionUse{clientAuth: true, maxLife: maxClientAssertionLife}
	grantAssertion  = assertionUse{method: "jwt_bearer", maxLife: maxGrantAssertionLife}
)

// verifyAssertion checks jws for client c of partner as it arrived in r.
// It returns the assertion's subject, or why it is refused (never quoting
// the assertion).
func (s *Server) verifyAssertion(partner string, r *http.Request, jws string, c Client, use assertionUse) (subject, refusal string) {
	algs := asymmetric
	if use.clientAuth {
		algs = append(slices.Clone(asymmetric), jose.HS256)
	}
	if strings.Count(jws, ".") != 2 {
		return "", "the assertion is not a compact JWS"
	}
	parsed, err := jose.ParseSignedCompact(jws, algs)
	if err != nil {
		return "", "the assertion is not a JWS signed with one of RS256, PS256, ES256, EdDSA" + map[bool]string{true: ", HS256"}[use.clientAuth]
	}
	header := parsed.Signatures[0].Protected
	if typ, ok := header.ExtraHeaders[jose.HeaderType].(string); ok && !strings.EqualFold(typ, "JWT") {
		return "", fmt.Sprintf("the assertion's typ is %q, not JWT", typ)
	}
	method := use.method
	if use.clientAuth {
		method = "private_key_jwt"
		if header.Algorithm == string(jose.HS256) {
			method = "client_secret_jwt"
		}
	}
	var unverified josejwt.Claims
	_ = json.Unmarshal(parsed.UnsafePayloadWithoutVerification(), &unverified)
	s.rec.present(partner, Presented{ClientID: unverified.Issuer, Method: method, KeyID: header.KeyID})

	payload, refusal := verifySignature(parsed, header, c)
	if refusal != "" {
		return "", refusal
	}
	var claims josejwt.Claims
	if err := json.Unmarshal(payload, &claims); err != nil {
		return "", "the assertion's claims are not a JWT claims set"
	}
	if refusal := s.checkClaims(r, claims, c, use); refusal != "" {
		return "", refusal
	}
	if !s.firstUse(partner, claims.Issuer, claims.ID, claims.Expiry.Time()) {
		return "", "the assertion's jti was used before: an assertion is accepted once (RFC 7523 section 3)"
	}
	return claims.Subject, ""
}

// verifySignature verifies parsed under the client's keys: for HS256 its
// secrets, else the registered keys with the header's kid (all of them
// when it has none) whose alg, if they state one, is the header's.
func verifySignature(parsed *jose.JSONWebSignature, header jose.Header, c Client) ([]byte, string) {
	if header.Algorithm == string(jose.HS256) {
		for _, secret := range c.secrets() {
			if payload, err := parsed.Verify([]byte(secret)); err == nil {
				return payload, ""
			}
		}
		return nil, "the assertion's HS256 signature does not verify with the client secret"
	}
	if c.JWKS == nil {
		return nil, "the client has no registered keys (jwks)"
	}
	candidates := c.JWKS.Keys
	if header.KeyID != "" {
		if candidates = c.JWKS.Key(header.KeyID); len(candidates) == 0 {
			return nil, fmt.Sprintf("no key registered for the client has kid %q", header.KeyID)
		}
	}
	for _, k := range candidates {
		if k.Algorithm != "" && k.Algorithm != header.Algorithm {
			continue
		}
		if payload, err := parsed.Verify(k.Key); err == nil {
			return payload, ""
		}
	}
	return nil, "the assertion's signature does not verify under the client's registered keys"
}

// checkClaims checks every claim RFC 7523 §3 speaks of.
func (s *Server) checkClaims(r *http.Request, claims josejwt.Claims, c Client, use assertionUse) string {
	now := s.now()
	switch {
	case claims.Issuer == "":
		return "the assertion has no iss"
	case subtle.ConstantTimeCompare([]byte(claims.Issuer), []byte(c.ID)) != 1:
		return fmt.Sprintf("the assertion's iss %q is not the client", claims.Issuer)
	case claims.Subject == "":
		return "the assertion has no sub (RFC 7523 section 3)"
	case use.clientAuth && claims.Subject != c.ID:
		return "a client assertion's sub must be the client id (RFC 7523 section 3)"
	case !audienceAccepted(claims.Audience, r, c):
		return fmt.Sprintf("the assertion's aud %q names neither this token endpoint (%s) nor the partner", []string(claims.Audience), addressedURL(r))
	case claims.ID == "":
		return "the assertion has no jti"
	case claims.Expiry == nil:
		return "the assertion has no exp"
	case !now.Before(claims.Expiry.Time().Add(assertionSkew)):
		return "the assertion has expired"
	case claims.Expiry.Time().Sub(now) > use.maxLife+assertionSkew:
		return fmt.Sprintf("the assertion's exp is more than %s away", use.maxLife)
	case claims.NotBefore != nil && claims.NotBefore.Time().After(now.Add(assertionSkew)):
		return "the assertion is not valid yet (nbf)"
	case claims.IssuedAt != nil && claims.IssuedAt.Time().After(now.Add(assertionSkew)):
		return "the assertion was issued in the future (iat)"
	case claims.IssuedAt != nil && claims.Expiry.Time().Sub(claims.IssuedAt.Time()) > use.maxLife:
		return fmt.Sprintf("the assertion lives longer than %s (exp - iat)", use.maxLife)
	}
	return ""
}

// audienceAccepted: aud must name the token endpoint as the client
// addressed it, or the partner's own audience.
func audienceAccepted(aud josejwt.Audience, r *http.Request, c Client) bool {
	return aud.Contains(addressedURL(r)) || c.Audience != "" && aud.Contains(c.Audience)
}

// addressedURL is the token endpoint's URL as the request addressed it.
func addressedURL(r *http.Request) string {
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	return scheme + "://" + r.Host + r.URL.Path
}

// firstUse records an assertion id, reporting false for a replay. Ids are
// forgotten once their assertion has expired, when a replay fails on exp.
func (s *Server) firstUse(partner, issuer, jti string, exp time.Time) bool {
	key := partner + "\n" + issuer + "\n" + jti
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	if _, seen := s.jtis[key]; seen {
		return false
	}
	if len(s.jtis) >= max(s.jtiPruneAt, 10000) {
		for k, e := range s.jtis {
			if now.After(e.Add(assertionSkew)) {
				delete(s.jtis, k)
			}
		}
		s.jtiPruneAt = 2 * len(s.jtis)
	}
	s.jtis[key] = exp
	return true
}
