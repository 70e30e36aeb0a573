package backend

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/vault/sdk/logical"

	"github.com/partnertoken/vault-plugin-secrets-partnertoken/internal/partnersim"
	"github.com/partnertoken/vault-plugin-secrets-partnertoken/internal/signing"
)

// TestCredentialWritesRefusedWithTheField: every bad credential input is a
// 400 that names the field and what to fix, and nothing is stored.
func TestCredentialWritesRefusedWithTheField(t *testing.T) {
	env := newTestEnv(t)
	sim := newAuthSim(t, env)
	weak, _ := rsa.GenerateKey(rand.Reader, 1024)
	weakDER, _ := x509.MarshalPKCS8PrivateKey(weak)
	weakPEM := string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: weakDER}))
	ed, _ := signing.GenerateKey(signing.EdDSA, "")
	good := tlsConfigData(t, sim, 24*time.Hour)
	otherCert, otherKey, _ := sim.sim.IssueClientCertificate("other", 24*time.Hour)
	_ = otherCert
	expiredCert, expiredKey, _ := sim.sim.IssueClientCertificate("old", time.Hour)
	base := func(changes map[string]any) map[string]any {
		data := map[string]any{"provider": "oauth2", "token_url": sim.sim.TokenURL(partnersim.OAuth2), "client_id": testClientID}
		for k, v := range changes {
			data[k] = v
		}
		return data
	}
	for _, tc := range []struct {
		name    string
		data    map[string]any
		advance time.Duration
		want    string
	}{
		{"an unsupported algorithm", base(map[string]any{"auth_method": "private_key_jwt", "generate_private_key": true, "signing_algorithm": "HS512"}), 0,
			`signing_algorithm "HS512" is not a supported signing algorithm: use one of RS256, PS256, ES256, EdDSA`},
		{"a key of the wrong type for the algorithm", base(map[string]any{"auth_method": "private_key_jwt", "private_key": ed.PEM(), "signing_algorithm": "RS256"}), 0,
			"private_key is an Ed25519 key, which signs with EdDSA, not RS256"},
		{"an RSA key under 2048 bits", base(map[string]any{"auth_method": "private_key_jwt", "private_key": weakPEM}), 0,
			"private_key is an RSA key of 1024 bits; RS256 needs at least 2048"},
		{"private_key_jwt without a key", base(map[string]any{"auth_method": "private_key_jwt"}), 0,
			"auth_method=private_key_jwt needs a private key: write private_key, generate_private_key=true or service_account_json"},
		{"jwt_bearer without a key", base(map[string]any{"grant_type": "jwt_bearer"}), 0, "grant_type=jwt_bearer needs a private key"},
		{"tls_client_auth without a certificate", base(map[string]any{"auth_method": "tls_client_auth"}), 0,
			"auth_method=tls_client_auth needs tls_client_certificate and tls_client_key"},
		{"a certificate without its key", base(map[string]any{"client_secret": testClientSecret, "tls_client_certificate": good["tls_client_certificate"]}), 0,
			"tls_client_certificate needs tls_client_key"},
		{"a key that does not match the certificate", base(map[string]any{"client_secret": testClientSecret, "tls_client_certificate": good["tls_client_certificate"], "tls_client_key": otherKey}), 0,
			"tls_client_key does not match tls_client_certificate (CN=" + testClientID + ")"},
		{"an expired certificate", base(map[string]any{"client_secret": testClientSecret, "tls_client_certificate": expiredCert, "tls_client_key": expiredKey}), 2 * time.Hour,
			"tls_client_certificate (CN=old) expired on"},
		{"a certificate that does not parse", base(map[string]any{"client_secret": testClientSecret, "tls_client_certificate": "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----", "tls_client_key": otherKey}), 0,
			"tls_client_certificate certificate 1 does not parse"},
		{"a CA bundle that is not PEM", base(map[string]any{"client_secret": testClientSecret, "ca_certificates": "my CA"}), 0, "ca_certificates is not PEM"},
		{"a private key for a provider that signs nothing", map[string]any{"provider": "dupr", "environment": "uat", "client_id": "c", "client_secret": testClientSecret, "generate_private_key": true}, 0,
			"generate_private_key is not a setting of provider dupr"},
		{"client_secret_jwt with a short secret", base(map[string]any{"auth_method": "client_secret_jwt", "client_secret": testClientSecret}), 0,
			"client_secret is 22 bytes; HS256 needs a secret of at least 32 bytes"},
		{"client_secret_jwt with a short next secret", base(map[string]any{"auth_method": "client_secret_jwt", "client_secret": strings.Repeat("s", 32), "next_client_secret": testClientSecret}), 0,
			"next_client_secret is 22 bytes; HS256 needs a secret of at least 32 bytes"},
		{"a service account file that is not one", base(map[string]any{"service_account_json": `{"type":"authorized_user"}`}), 0,
			`service_account_json has type "authorized_user", not service_account`},
		{"a grant setting with client_credentials", base(map[string]any{"client_secret": testClientSecret, "assertion_subject": "me"}), 0,
			"assertion_subject applies to grant_type=jwt_bearer only"},
		{"a private_key the size of a wrong file", base(map[string]any{"auth_method": "private_key_jwt", "private_key": strings.Repeat("A", 17<<10)}), 0,
			"private_key is larger than 16 KiB: write the private key alone"},
		{"a key given and generated at once", base(map[string]any{"auth_method": "private_key_jwt", "private_key": ed.PEM(), "generate_private_key": true}), 0,
			"private_key and generate_private_key=true in one write: give one"},
		{"a next key of another algorithm", base(map[string]any{"auth_method": "private_key_jwt", "generate_private_key": true, "signing_algorithm": "ES256", "next_private_key": ed.PEM()}), 0,
			"next_private_key is an Ed25519 key, which signs with EdDSA, not ES256"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			env.clock.Advance(tc.advance)
			resp, err := env.request(logical.CreateOperation, "config/bad", tc.data)
			if err != nil || resp == nil || !resp.IsError() {
				t.Fatalf("want a 400, got %v %v", resp, err)
			}
			if msg := resp.Error().Error(); !strings.Contains(msg, tc.want) {
				t.Errorf("message %q, want %q", msg, tc.want)
			}
			if msg := resp.Error().Error(); strings.Contains(msg, "MII") || strings.Contains(msg, "PRIVATE KEY") {
				t.Errorf("the message quotes key material: %q", msg)
			}
			if cfg := env.storedConfig("bad"); cfg != nil {
				t.Error("a refused write stored the config")
			}
		})
	}
}

// TestAStoredKeyStaysWithItsEndpoint: a write that moves a key-signing
// config must bring a key for the new endpoint; the next key stays behind.
func TestAStoredKeyStaysWithItsEndpoint(t *testing.T) {
	env := newTestEnv(t)
	sim := newAuthSim(t, env)
	env.mustOK(logical.CreateOperation, "config/p", map[string]any{
		"provider": "oauth2", "token_url": sim.sim.TokenURL(partnersim.OAuth2), "client_id": testClientID,
		"auth_method": "private_key_jwt", "generate_private_key": true, "generate_next_private_key": true,
	})
	before := env.storedConfig("p")
	resp, err := env.request(logical.UpdateOperation, "config/p", map[string]any{"token_url": "https://other.example/token"})
	if err != nil || !resp.IsError() || !strings.Contains(resp.Error().Error(), "requires private_key, generate_private_key=true or service_account_json in the same write") {
		t.Fatalf("moving without a key: %v %v", resp, err)
	}
	env.mustOK(logical.UpdateOperation, "config/p", map[string]any{"token_url": "https://other.example/token", "generate_private_key": true})
	after := env.storedConfig("p")
	if after.PrivateKey == before.PrivateKey || after.NextPrivateKey != "" {
		t.Errorf("after the move: same key %v, next key kept %v", after.PrivateKey == before.PrivateKey, after.NextPrivateKey != "")
	}
	// A config that does not sign leaves its key behind when it moves.
	env.mustOK(logical.UpdateOperation, "config/p", map[string]any{"auth_method": "client_secret_post", "client_secret": testClientSecret})
	env.mustOK(logical.UpdateOperation, "config/p", map[string]any{"token_url": "https://third.example/token", "client_secret": testClientSecret})
	if env.storedConfig("p").PrivateKey != "" {
		t.Error("a key moved with a config that does not use it")
	}
}

// TestGeneratingAKeyAgainKeepsIt: generate_private_key=true written again
// (a Terraform apply of a changed field) keeps the key the partner
// registered; with private_key="" it makes a new one; with a
// signing_algorithm the key does not fit, it makes one that does.
func TestGeneratingAKeyAgainKeepsIt(t *testing.T) {
	env := newTestEnv(t)
	write := func(fields map[string]any) *Config {
		t.Helper()
		data := map[string]any{"provider": "oauth2", "token_url": env.partner.URL(), "client_id": testClientID,
			"auth_method": "private_key_jwt", "generate_private_key": true}
		for k, v := range fields {
			data[k] = v
		}
		env.mustOK(logical.UpdateOperation, "config/p", data)
		return env.storedConfig("p")
	}
	first := write(map[string]any{"private_key_id": "k1"})
	if again := write(map[string]any{"private_key_id": "k1", "timeout": "20s"}); again.PrivateKey != first.PrivateKey || again.PrivateKeyID != "k1" {
		t.Error("a repeated write replaced the generated key")
	}
	if ps := write(map[string]any{"signing_algorithm": "PS256"}); ps.PrivateKey != first.PrivateKey || ps.SigningAlgorithm != "PS256" {
		t.Error("an algorithm the key fits replaced the key")
	}
	ec := write(map[string]any{"signing_algorithm": "ES256"})
	if ec.PrivateKey == first.PrivateKey || ec.SigningAlgorithm != "ES256" {
		t.Error("an algorithm the key does not fit kept the key")
	}
	if fresh := write(map[string]any{"private_key": ""}); fresh.PrivateKey == ec.PrivateKey || fresh.PrivateKey == "" {
		t.Error(`private_key="" with generate_private_key=true did not replace the key`)
	}
	next := write(map[string]any{"generate_next_private_key": true}).NextPrivateKey
	if again := write(map[string]any{"generate_next_private_key": true}).NextPrivateKey; next == "" || again != next {
		t.Error("a repeated generate_next_private_key replaced the pending next key")
	}
}
