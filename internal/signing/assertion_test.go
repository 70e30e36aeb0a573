package signing

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
)

// verified parses jws, checks its signature with key and returns its
// header and claims.
func verified(t testing.TB, jws string, key *Key) (jose.Header, map[string]any) {
	t.Helper()
	parsed, err := jose.ParseSigned(jws, []jose.SignatureAlgorithm{jose.SignatureAlgorithm(key.Algorithm)})
	if err != nil {
		t.Fatalf("the assertion does not parse as a JWS: %v", err)
	}
	verifyWith := any(key.Public())
	if key.Algorithm == HS256 {
		verifyWith = key.private
	}
	payload, err := parsed.Verify(verifyWith)
	if err != nil {
		t.Fatalf("the assertion does not verify under its key: %v", err)
	}
	var claims map[string]any
	if err := json.Unmarshal(payload, &claims); err != nil {
		t.Fatalf("the claims are not a JSON object: %v", err)
	}
	return parsed.Signatures[0].Protected, claims
}

func TestAssertionCarriesEveryClaimOfRFC7523(t *testing.T) {
	key, err := GenerateKey(ES256, "key-1")
	if err != nil {
		t.Fatal(err)
	}
	now := time.Unix(1_800_000_000, 0)
	a := Assertion{
		Issuer: "client-7", Subject: "client-7", Audience: "https://as.example/token",
		Lifetime: 2 * time.Minute, Claims: map[string]string{"scope": "a b"},
	}
	jws, err := a.Sign(key, now)
	if err != nil {
		t.Fatal(err)
	}
	header, claims := verified(t, jws, key)
	if header.KeyID != "key-1" || header.Algorithm != ES256 || header.ExtraHeaders["typ"] != "JWT" {
		t.Errorf("header = kid %q alg %q typ %v", header.KeyID, header.Algorithm, header.ExtraHeaders["typ"])
	}
	want := map[string]any{
		"iss": "client-7", "sub": "client-7", "aud": "https://as.example/token",
		"iat": float64(now.Unix()), "exp": float64(now.Add(2 * time.Minute).Unix()), "scope": "a b",
	}
	for name, v := range want {
		if claims[name] != v {
			t.Errorf("%s = %v, want %v", name, claims[name], v)
		}
	}
	if jti, _ := claims["jti"].(string); len(jti) < 20 {
		t.Errorf("jti = %q, want a random identifier", jti)
	}
	if len(claims) != len(want)+1 {
		t.Errorf("claims = %v, want exactly %d", claims, len(want)+1)
	}
}

func TestAssertionsNeverShareAJTI(t *testing.T) {
	key, err := SecretKey(strings.Repeat("k", 32))
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	now := time.Now()
	for range 200 {
		jws, err := Assertion{Issuer: "c", Subject: "c", Audience: "https://as.example/token", Lifetime: time.Minute}.Sign(key, now)
		if err != nil {
			t.Fatal(err)
		}
		_, claims := verified(t, jws, key)
		jti := claims["jti"].(string)
		if seen[jti] {
			t.Fatalf("jti %q was used twice", jti)
		}
		seen[jti] = true
	}
}

func TestAssertionLeavesOutAnEmptySubject(t *testing.T) {
	key, err := GenerateKey(EdDSA, "")
	if err != nil {
		t.Fatal(err)
	}
	jws, err := Assertion{Issuer: "sa@project.iam.gserviceaccount.com", Audience: "https://oauth2.googleapis.com/token", Lifetime: time.Hour}.Sign(key, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if _, claims := verified(t, jws, key); claims["sub"] != nil {
		t.Errorf("sub = %v, want none", claims["sub"])
	}
}

func TestAssertionRefusesWhatNoPartnerCouldAccept(t *testing.T) {
	key, err := GenerateKey(ES256, "")
	if err != nil {
		t.Fatal(err)
	}
	ok := Assertion{Issuer: "c", Audience: "https://as.example/token", Lifetime: time.Minute}
	for _, tc := range []struct {
		name string
		edit func(*Assertion)
		want string
	}{
		{"no issuer", func(a *Assertion) { a.Issuer = "" }, "needs an issuer"},
		{"no audience", func(a *Assertion) { a.Audience = "" }, "needs an audience"},
		{"no lifetime", func(a *Assertion) { a.Lifetime = 0 }, "lifetime must be between 1s and 1h0m0s"},
		{"a lifetime over an hour", func(a *Assertion) { a.Lifetime = time.Hour + time.Second }, "lifetime must be between"},
		{"a claim that overrides exp", func(a *Assertion) { a.Claims = map[string]string{"exp": "9999999999"} }, `claim "exp" is set by the engine`},
		{"a claim that overrides jti", func(a *Assertion) { a.Claims = map[string]string{"jti": "fixed"} }, `claim "jti" is set by the engine`},
		{"a claim without a name", func(a *Assertion) { a.Claims = map[string]string{"": "x"} }, "must not be empty"},
		{"an issuer that is not UTF-8", func(a *Assertion) { a.Issuer = "\xff" }, "valid UTF-8"},
		{"a claim value that is not UTF-8", func(a *Assertion) { a.Claims = map[string]string{"scope": "\xff"} }, "valid UTF-8"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a := ok
			tc.edit(&a)
			if _, err := a.Sign(key, time.Now()); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error = %v, want %q", err, tc.want)
			}
		})
	}
}
