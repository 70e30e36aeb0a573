package signing

import (
	"encoding/json"
	"fmt"

	"github.com/go-jose/go-jose/v4"
)

// JWKS is the public halves of keys as a JWK Set (RFC 7517 §5), each with
// its kid, alg and use "sig", decoded into plain JSON values so that it
// travels in a Vault response as the partner will read it.
func JWKS(keys ...*Key) (map[string]any, error) {
	set := jose.JSONWebKeySet{Keys: make([]jose.JSONWebKey, 0, len(keys))}
	for _, k := range keys {
		set.Keys = append(set.Keys, jose.JSONWebKey{Key: k.Public(), KeyID: k.ID, Algorithm: k.Algorithm, Use: "sig"})
	}
	raw, err := json.Marshal(set)
	if err != nil {
		return nil, fmt.Errorf("encoding the JWK Set: %w", err)
	}
	var out map[string]any
	if err := json.Unmarshal(raw, &out); err != nil {
		return nil, fmt.Errorf("decoding the JWK Set: %w", err)
	}
	return out, nil
}
