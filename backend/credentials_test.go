package backend

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/hashicorp/vault/sdk/logical"

	"github.com/partnertoken/vault-plugin-secrets-partnertoken/internal/partnersim"
	"github.com/partnertoken/vault-plugin-secrets-partnertoken/internal/signing"
)

// authSim is a simulator with a TLS listener on the test clock, whose
// oauth2 client is the test client with whatever credentials a test gives.
type authSim struct {
	t   *testing.T
	sim *partnersim.Server
}

func newAuthSim(t *testing.T, env *testEnv) *authSim {
	t.Helper()
	return &authSim{t: t, sim: startSimulator(t, partnersim.Options{Now: env.clock.Now, TLSAddr: "127.0.0.1:0"})}
}

// accept registers the client at the partner.
func (a *authSim) accept(c partnersim.Client) {
	a.t.Helper()
	if c.ID == "" {
		c.ID = testClientID
	}
	if err := a.sim.SetClient(partnersim.OAuth2, c); err != nil {
		a.t.Fatal(err)
	}
}

// jwksOf reads config/<name>/jwks and returns it as the partner registers it.
func jwksOf(env *testEnv, name string) *jose.JSONWebKeySet {
	env.t.Helper()
	resp := env.mustOK(logical.ReadOperation, "config/"+name+"/jwks", nil)
	raw, err := json.Marshal(resp.Data["jwks"])
	if err != nil {
		env.t.Fatal(err)
	}
	var set jose.JSONWebKeySet
	if err := json.Unmarshal(raw, &set); err != nil {
		env.t.Fatalf("config/%s/jwks is not a JWK Set: %v", name, err)
	}
	return &set
}

func kids(set *jose.JSONWebKeySet) []string {
	var out []string
	for _, k := range set.Keys {
		out = append(out, k.KeyID)
	}
	return out
}

// presented lists how the partner's requests authenticated, as method/kid.
func (a *authSim) presented() []string {
	var out []string
	for _, p := range a.sim.Presented(partnersim.OAuth2) {
		out = append(out, p.Method+"/"+p.KeyID)
	}
	return out
}

func TestPrivateKeyJWTWithAGeneratedKey(t *testing.T) {
	env := newTestEnv(t)
	sim := newAuthSim(t, env)
	env.mustOK(logical.CreateOperation, "config/p", map[string]any{
		"provider": "oauth2", "token_url": sim.sim.TokenURL(partnersim.OAuth2), "client_id": testClientID,
		"auth_method": "private_key_jwt", "generate_private_key": true, "signing_algorithm": "ES256",
	})
	set := jwksOf(env, "p")
	if len(set.Keys) != 1 || !set.Keys[0].IsPublic() || set.Keys[0].Algorithm != "ES256" || set.Keys[0].Use != "sig" {
		t.Fatalf("jwks = %+v, want one public ES256 signing key", set.Keys)
	}
	sim.accept(partnersim.Client{JWKS: set})
	env.readToken("p")
	if got := sim.presented(); !slices.Equal(got, []string{"private_key_jwt/" + set.Keys[0].KeyID}) {
		t.Errorf("the partner saw %v, want one assertion signed with the generated key", got)
	}

	data := env.mustOK(logical.ReadOperation, "config/p", nil).Data
	if data["private_key_set"] != true || data["private_key_id"] != set.Keys[0].KeyID || data["signing_algorithm"] != "ES256" {
		t.Errorf("config read = %v", data)
	}
	for k, v := range data {
		if s, ok := v.(string); ok && strings.Contains(s, "PRIVATE KEY") {
			t.Errorf("config read shows a private key in %s", k)
		}
	}
	stored := env.storedConfig("p")
	if !strings.HasPrefix(stored.PrivateKey, "-----BEGIN PRIVATE KEY-----") || stored.ClientSecret != "" {
		t.Errorf("stored key %q…, secret %q", stored.PrivateKey[:min(30, len(stored.PrivateKey))], stored.ClientSecret)
	}
}

// TestKeyRotationWithoutAFailedRead: a next key is published beside the
// current one; the partner moves to it; the next mint tries the current
// key, is refused, mints with the next one and promotes it. No read fails.
func TestKeyRotationWithoutAFailedRead(t *testing.T) {
	env := newTestEnv(t)
	sim := newAuthSim(t, env)
	env.mustOK(logical.CreateOperation, "config/p", map[string]any{
		"provider": "oauth2", "token_url": sim.sim.TokenURL(partnersim.OAuth2), "client_id": testClientID,
		"auth_method": "private_key_jwt", "generate_private_key": true, "private_key_id": "key-2026",
	})
	sim.accept(partnersim.Client{JWKS: jwksOf(env, "p")})
	env.readToken("p")

	env.mustOK(logical.UpdateOperation, "config/p", map[string]any{"generate_next_private_key": true, "next_private_key_id": "key-2027"})
	both := jwksOf(env, "p")
	if got := kids(both); !slices.Equal(got, []string{"key-2026", "key-2027"}) {
		t.Fatalf("jwks kids = %v, want the current key then the next", got)
	}
	env.readToken("p") // the partner still has both keys: the current one mints
	// The partner drops the old key.
	sim.accept(partnersim.Client{JWKS: &jose.JSONWebKeySet{Keys: both.Keys[1:]}})
	env.clock.Advance(time.Minute) // past refresh/'s least interval
	env.mustOK(logical.UpdateOperation, "refresh/p", nil)
	if got := sim.presented(); !slices.Equal(got, []string{"private_key_jwt/key-2026", "private_key_jwt/key-2026", "private_key_jwt/key-2026", "private_key_jwt/key-2027"}) {
		t.Errorf("the partner saw %v", got)
	}
	data := env.mustOK(logical.ReadOperation, "config/p", nil).Data
	if data["private_key_id"] != "key-2027" || data["next_private_key_set"] != false {
		t.Errorf("after the rotation: private_key_id %v, next_private_key_set %v", data["private_key_id"], data["next_private_key_set"])
	}
	if got := kids(jwksOf(env, "p")); !slices.Equal(got, []string{"key-2027"}) {
		t.Errorf("jwks after the rotation = %v", got)
	}
	if !strings.Contains(env.logs.String(), "promoted next_private_key to private_key") {
		t.Error("the promotion is not in the log")
	}
}

// TestAWrongKeyIsRefusedWithThePartnersWords: a key the partner does not
// know fails the read with the partner's explanation.
func TestAWrongKeyIsRefusedWithThePartnersWords(t *testing.T) {
	env := newTestEnv(t)
	sim := newAuthSim(t, env)
	other, err := signing.GenerateKey(signing.EdDSA, "")
	if err != nil {
		t.Fatal(err)
	}
	otherSet, _ := signing.JWKS(other)
	raw, _ := json.Marshal(otherSet)
	var set jose.JSONWebKeySet
	_ = json.Unmarshal(raw, &set)
	sim.accept(partnersim.Client{JWKS: &set})
	env.mustOK(logical.CreateOperation, "config/p", map[string]any{
		"provider": "oauth2", "token_url": sim.sim.TokenURL(partnersim.OAuth2), "client_id": testClientID,
		"auth_method": "private_key_jwt", "generate_private_key": true, "signing_algorithm": "EdDSA",
	})
	resp, err := env.request(logical.ReadOperation, "token/p", nil)
	if err == nil && (resp == nil || !resp.IsError()) {
		t.Fatal("a key the partner does not know minted a token")
	}
	msg := ""
	if err != nil {
		msg = err.Error()
	} else {
		msg = resp.Error().Error()
	}
	if !strings.Contains(msg, "HTTP 401") || !strings.Contains(msg, "no key registered for the client has kid") {
		t.Errorf("error = %q, want the partner's 401 and its words", msg)
	}
}

func TestClientSecretJWTMints(t *testing.T) {
	env := newTestEnv(t)
	sim := newAuthSim(t, env)
	const secret = "a-client-secret-of-thirty-two-bytes-or-more"
	sim.accept(partnersim.Client{Secret: secret})
	env.mustOK(logical.CreateOperation, "config/p", map[string]any{
		"provider": "oauth2", "token_url": sim.sim.TokenURL(partnersim.OAuth2), "client_id": testClientID,
		"client_secret": secret, "auth_method": "client_secret_jwt",
	})
	env.readToken("p")
	if got := sim.presented(); !slices.Equal(got, []string{"client_secret_jwt/"}) {
		t.Errorf("the partner saw %v", got)
	}
}

// serviceAccountFile is a Google key file whose token_uri is the
// simulator's TLS endpoint.
func serviceAccountFile(t *testing.T, tokenURI string) (file string, key *rsa.PrivateKey) {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	der, _ := x509.MarshalPKCS8PrivateKey(key)
	b, _ := json.Marshal(map[string]string{
		"type": "service_account", "project_id": "p", "private_key_id": "sa-key-1",
		"private_key":  string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})),
		"client_email": "broker@p.iam.gserviceaccount.com", "client_id": "1234", "token_uri": tokenURI,
	})
	return string(b), key
}

func TestJWTBearerGrantFromAServiceAccountFile(t *testing.T) {
	env := newTestEnv(t)
	sim := newAuthSim(t, env)
	file, key := serviceAccountFile(t, sim.sim.TLSTokenURL(partnersim.OAuth2))
	sim.accept(partnersim.Client{ID: "broker@p.iam.gserviceaccount.com", JWKS: &jose.JSONWebKeySet{Keys: []jose.JSONWebKey{
		{Key: key.Public(), KeyID: "sa-key-1", Algorithm: "RS256", Use: "sig"},
	}}})
	env.mustOK(logical.CreateOperation, "config/g", map[string]any{
		"provider": "oauth2", "service_account_json": file, "ca_certificates": sim.sim.CACertificate(),
		"assertion_subject": "user@p.example", "assertion_claims": map[string]any{"scope": "https://www.googleapis.com/auth/cloud-platform"},
		"assertion_lifetime": "1h",
	})
	data := env.mustOK(logical.ReadOperation, "config/g", nil).Data
	if data["client_id"] != "broker@p.iam.gserviceaccount.com" || data["token_url"] != sim.sim.TLSTokenURL(partnersim.OAuth2) ||
		data["grant_type"] != "jwt_bearer" || data["private_key_id"] != "sa-key-1" || data["client_secret_set"] != false {
		t.Errorf("config read = %v", data)
	}
	if strings.Contains(env.storedConfig("g").PrivateKey, "service_account") {
		t.Error("the key file is stored as such")
	}
	env.readToken("g")
	if got := sim.presented(); !slices.Equal(got, []string{"jwt_bearer/sa-key-1"}) {
		t.Errorf("the partner saw %v", got)
	}
}

// TestAStaleMintNeverPromotesAKeyTwice is TestAStaleMintNeverPromotesTwice
// for the private key: a mint from an entry loaded before the next key
// was promoted neither promotes again nor stores a token that the retired
// key minted.
func TestAStaleMintNeverPromotesAKeyTwice(t *testing.T) {
	env := newTestEnv(t)
	sim := newAuthSim(t, env)
	env.mustOK(logical.CreateOperation, "config/p", map[string]any{
		"provider": "oauth2", "token_url": sim.sim.TokenURL(partnersim.OAuth2), "client_id": testClientID,
		"auth_method": "private_key_jwt", "generate_private_key": true, "private_key_id": "key-1",
		"generate_next_private_key": true, "next_private_key_id": "key-2",
	})
	both := jwksOf(env, "p")
	stale, err := env.b.cache.current(t.Context(), "p")
	if err != nil {
		t.Fatal(err)
	}
	sim.accept(partnersim.Client{JWKS: &jose.JSONWebKeySet{Keys: both.Keys[1:]}})
	env.readToken("p")
	promoted := env.storedConfig("p")
	if promoted.PrivateKeyID != "key-2" || promoted.NextPrivateKey != "" {
		t.Fatalf("the first mint did not promote the next key: kid %q", promoted.PrivateKeyID)
	}
	env.clock.Advance(refreshMinInterval)
	always := func(*cacheEntry, time.Time) bool { return true }

	if _, err := env.b.cache.shareMint(t.Context(), stale, always); err != nil {
		t.Fatalf("the stale mint with the promoted key: %v", err)
	}
	if cfg := env.storedConfig("p"); !reflect.DeepEqual(cfg, promoted) {
		t.Fatal("the stale mint changed the config")
	}
	// The partner takes the old key again: a stale mint with it is thrown away.
	sim.accept(partnersim.Client{JWKS: both})
	if _, err := env.b.cache.shareMint(t.Context(), stale, always); !errors.Is(err, errConfigChanged) {
		t.Fatalf("a token minted with a key the config no longer holds: %v, want it discarded", err)
	}
	if cfg := env.storedConfig("p"); !reflect.DeepEqual(cfg, promoted) {
		t.Fatal("the discarded mint changed the config")
	}
}
