package signing

import (
	"encoding/json"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/go-jose/go-jose/v4"
)

var fuzzKeys = sync.OnceValues(func() ([]*Key, error) {
	es, err := GenerateKey(ES256, "fuzz-es256")
	if err != nil {
		return nil, err
	}
	ed, err := GenerateKey(EdDSA, "")
	if err != nil {
		return nil, err
	}
	hs, err := SecretKey("fuzz-secret-of-at-least-32-bytes!")
	if err != nil {
		return nil, err
	}
	return []*Key{es, ed, hs}, nil
})

// FuzzAssertion signs assertions built from arbitrary config values (what
// an operator can write into assertion_issuer, assertion_subject,
// assertion_audience, assertion_claims and the lifetime). Either Sign
// refuses them, or the result is a compact JWS that can travel in a form
// as is, verifies under the key, and says exactly what was asked: the
// values back unchanged, the engine's own iat, exp and jti untouched by
// any further claim.
//
//	go test -run '^$' -fuzz '^FuzzAssertion$' -fuzztime 30s ./internal/signing/
func FuzzAssertion(f *testing.F) {
	f.Add("client-1", "client-1", "https://as.example/token", "scope", "read write", int64(300), uint8(0))
	f.Add("sa@p.iam.gserviceaccount.com", "", "https://oauth2.googleapis.com/token", "exp", "1", int64(3600), uint8(1))
	f.Add("ü\"\\<>&", "\u2028", "urn:x", "jti", "", int64(1), uint8(2))
	f.Add("c", "s", "a", "", "x", int64(0), uint8(0))
	f.Add("\xff", "s", "a", "k", "\xfe", int64(60), uint8(1))
	f.Fuzz(func(t *testing.T, issuer, subject, audience, claim, value string, lifetimeSeconds int64, keyIndex uint8) {
		keys, err := fuzzKeys()
		if err != nil {
			t.Fatal(err)
		}
		key := keys[int(keyIndex)%len(keys)]
		a := Assertion{Issuer: issuer, Subject: subject, Audience: audience, Lifetime: time.Duration(lifetimeSeconds) * time.Second}
		if claim != "" || value != "" {
			a.Claims = map[string]string{claim: value}
		}
		now := time.Unix(1_800_000_000, 0)
		jws, err := a.Sign(key, now)
		valid := issuer != "" && audience != "" && lifetimeSeconds >= 1 && lifetimeSeconds <= 3600 &&
			utf8.ValidString(issuer) && utf8.ValidString(subject) && utf8.ValidString(audience) &&
			(a.Claims == nil || claim != "" && !slices.Contains(RegisteredClaims, claim) && utf8.ValidString(claim) && utf8.ValidString(value))
		if err != nil {
			if valid {
				t.Fatalf("a valid assertion was refused: %v", err)
			}
			return
		}
		if !valid {
			t.Fatalf("an invalid assertion was signed: %+v", a)
		}
		if strings.Trim(jws, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.") != "" || strings.Count(jws, ".") != 2 {
			t.Fatalf("the assertion is not a compact JWS of base64url segments: %q", jws)
		}
		parsed, err := jose.ParseSigned(jws, []jose.SignatureAlgorithm{jose.SignatureAlgorithm(key.Algorithm)})
		if err != nil {
			t.Fatal(err)
		}
		verifyWith := any(key.Public())
		if key.Algorithm == HS256 {
			verifyWith = key.private
		}
		payload, err := parsed.Verify(verifyWith)
		if err != nil {
			t.Fatalf("the assertion does not verify: %v", err)
		}
		var claims map[string]any
		if err := json.Unmarshal(payload, &claims); err != nil {
			t.Fatal(err)
		}
		want := map[string]any{"iss": issuer, "aud": audience, "iat": float64(now.Unix()), "exp": float64(now.Unix() + lifetimeSeconds)}
		if subject != "" {
			want["sub"] = subject
		}
		if a.Claims != nil {
			want[claim] = value
		}
		for name, v := range want {
			if claims[name] != v {
				t.Errorf("%s = %#v, want %#v", name, claims[name], v)
			}
		}
		if jti, _ := claims["jti"].(string); jti == "" || len(claims) != len(want)+1 {
			t.Errorf("claims = %v: want exactly the asked ones and a jti", claims)
		}
	})
}
