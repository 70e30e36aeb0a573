package signing

import (
	"encoding/json"
	"testing"

	"github.com/go-jose/go-jose/v4"
)

func TestJWKSHoldsThePublicKeysOnly(t *testing.T) {
	current, err := ParseKey(pkcs8(t, rsa2048()), PS256, "current")
	if err != nil {
		t.Fatal(err)
	}
	next, err := GenerateKey(EdDSA, "")
	if err != nil {
		t.Fatal(err)
	}
	set, err := JWKS(current, next)
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := json.Marshal(set)
	var parsed jose.JSONWebKeySet
	if err := json.Unmarshal(raw, &parsed); err != nil {
		t.Fatalf("the JWKS does not parse as RFC 7517 JSON: %v", err)
	}
	if len(parsed.Keys) != 2 {
		t.Fatalf("the JWKS has %d keys, want 2", len(parsed.Keys))
	}
	for i, k := range []*Key{current, next} {
		jwk := parsed.Keys[i]
		if !jwk.IsPublic() || !jwk.Valid() {
			t.Errorf("key %d is not a valid public key", i)
		}
		if jwk.KeyID != k.ID || jwk.Algorithm != k.Algorithm || jwk.Use != "sig" {
			t.Errorf("key %d: kid %q alg %q use %q, want %q %q sig", i, jwk.KeyID, jwk.Algorithm, jwk.Use, k.ID, k.Algorithm)
		}
	}
	for _, k := range set["keys"].([]any) {
		for _, private := range []string{"d", "p", "q", "dp", "dq", "qi"} {
			if _, ok := k.(map[string]any)[private]; ok {
				t.Errorf("the JWKS holds the private member %q", private)
			}
		}
	}
	if next.ID != next.Thumbprint() {
		t.Errorf("a key without an id is published under %q, not its thumbprint", next.ID)
	}
}
