package signing

import (
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"
	"unicode/utf8"

	"github.com/go-jose/go-jose/v4"
)

const (
	// MaxClientLifetime bounds a client assertion's life (private_key_jwt,
	// client_secret_jwt): it is sent at once, and a short life limits what
	// a copy of it is worth (RFC 7523 §3 item 4 asks for a limited window).
	MaxClientLifetime = 5 * time.Minute
	// MaxGrantLifetime bounds the JWT bearer grant's assertion, the
	// longest partners accept (Google's documented limit is an hour).
	MaxGrantLifetime = time.Hour
	// DefaultLifetime is an assertion's life unless the operator sets one.
	DefaultLifetime = 5 * time.Minute
)

// RegisteredClaims are the claims the engine sets itself (RFC 7519 §4.1);
// an assertion's further Claims may not name them.
var RegisteredClaims = []string{"iss", "sub", "aud", "exp", "nbf", "iat", "jti"}

// Assertion is the content of one JWT assertion (RFC 7523 §3).
type Assertion struct {
	// Issuer is iss: the client id for client authentication, the
	// service account for the bearer grant.
	Issuer string
	// Subject is sub; left out of the claims when empty.
	Subject string
	// Audience is aud: the token endpoint's URL unless the partner names
	// another, sent as a single string (RFC 7519 §4.1.3 allows it, and
	// some servers accept nothing else).
	Audience string
	// Lifetime is exp − iat, at most MaxGrantLifetime.
	Lifetime time.Duration
	// Claims are further string claims, such as Google's scope.
	Claims map[string]string
}

// Sign makes the compact JWS of the assertion issued at now, signed with
// key, with a fresh jti: two assertions never share one, so a partner that
// refuses replays (RFC 7523 §3 item 7) never refuses the engine's.
func (a Assertion) Sign(key *Key, now time.Time) (string, error) {
	if err := a.check(); err != nil {
		return "", err
	}
	claims := map[string]any{
		"iss": a.Issuer,
		"aud": a.Audience,
		"iat": now.Unix(),
		"exp": now.Add(a.Lifetime).Unix(),
		"jti": rand.Text(),
	}
	if a.Subject != "" {
		claims["sub"] = a.Subject
	}
	for name, value := range a.Claims {
		claims[name] = value
	}
	payload, err := json.Marshal(claims)
	if err != nil {
		return "", fmt.Errorf("encoding the assertion's claims: %w", err)
	}
	return key.signCompact(payload, "JWT")
}

// check refuses an assertion no partner could accept, or whose claims
// would not say what the engine means them to.
func (a Assertion) check() error {
	switch {
	case a.Issuer == "":
		return errors.New("the assertion needs an issuer")
	case a.Audience == "":
		return errors.New("the assertion needs an audience")
	case a.Lifetime < time.Second || a.Lifetime > MaxGrantLifetime:
		return fmt.Errorf("the assertion's lifetime must be between 1s and %s, not %s", MaxGrantLifetime, a.Lifetime)
	}
	for _, s := range []string{a.Issuer, a.Subject, a.Audience} {
		if !utf8.ValidString(s) {
			return errors.New("the assertion's issuer, subject and audience must be valid UTF-8")
		}
	}
	return CheckClaims(a.Claims)
}

// CheckClaims refuses further claims that name a registered claim or are
// not valid UTF-8 (which JSON would silently replace).
func CheckClaims(claims map[string]string) error {
	for name, value := range claims {
		switch {
		case name == "":
			return errors.New("claim names must not be empty")
		case slices.Contains(RegisteredClaims, name):
			return fmt.Errorf("claim %q is set by the engine from the config's own fields", name)
		case !utf8.ValidString(name) || !utf8.ValidString(value):
			return fmt.Errorf("claim names and values must be valid UTF-8")
		}
	}
	return nil
}

// signCompact signs payload as a compact JWS whose protected header holds
// alg, kid (when the key has an ID) and typ (when not empty).
func (k *Key) signCompact(payload []byte, typ string) (string, error) {
	opts := &jose.SignerOptions{}
	if typ != "" {
		opts = opts.WithType(jose.ContentType(typ))
	}
	if k.ID != "" {
		opts = opts.WithHeader(jose.HeaderKey("kid"), k.ID)
	}
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.SignatureAlgorithm(k.Algorithm), Key: k.private}, opts)
	if err != nil {
		return "", fmt.Errorf("preparing to sign with the %s key: %w", k.Algorithm, err)
	}
	jws, err := signer.Sign(payload)
	if err != nil {
		return "", fmt.Errorf("signing with the %s key: %w", k.Algorithm, err)
	}
	return jws.CompactSerialize()
}
