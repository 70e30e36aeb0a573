package backend

import (
	"fmt"
	"time"

	"github.com/partnertoken/vault-plugin-secrets-partnertoken/internal/egress"
	"github.com/partnertoken/vault-plugin-secrets-partnertoken/internal/signing"
)

// credentials are a config's credentials besides the client id and secret:
// the private keys it signs assertions with (private_key_jwt, the JWT
// bearer grant) and the TLS material of its connections. They live in the
// config's storage entry, like the secret; the private keys
// and tls_client_key are never returned.
type credentials struct {
	// PrivateKey is PKCS #8 PEM; PrivateKeyID is the operator's kid,
	// empty for the key's thumbprint.
	PrivateKey   string `json:"private_key,omitempty"`
	PrivateKeyID string `json:"private_key_id,omitempty"`
	// NextPrivateKey is tried when the partner refuses PrivateKey's
	// assertion, and replaces it once it works, as next_client_secret does.
	NextPrivateKey   string `json:"next_private_key,omitempty"`
	NextPrivateKeyID string `json:"next_private_key_id,omitempty"`
	// SigningAlgorithm is what both keys sign with.
	SigningAlgorithm string `json:"signing_algorithm,omitempty"`

	TLSClientCertificate string `json:"tls_client_certificate,omitempty"`
	TLSClientKey         string `json:"tls_client_key,omitempty"`
	CACertificates       string `json:"ca_certificates,omitempty"`
}

// currentKey is the stored private key, ready to sign.
func (c *credentials) currentKey() (*signing.Key, error) {
	return storedKey(c.PrivateKey, c.SigningAlgorithm, c.PrivateKeyID, "private key")
}

// nextKey is the stored next private key, ready to sign.
func (c *credentials) nextKey() (*signing.Key, error) {
	return storedKey(c.NextPrivateKey, c.SigningAlgorithm, c.NextPrivateKeyID, "next private key")
}

// storedKey parses a stored PEM key (nil when none is stored) to sign with
// algorithm under kid id; what names it in the error.
func storedKey(pemText, algorithm, id, what string) (*signing.Key, error) {
	if pemText == "" {
		return nil, nil
	}
	k, err := signing.ParseKey(pemText, algorithm, id)
	if err != nil {
		return nil, fmt.Errorf("the stored %s %w", what, err)
	}
	return k, nil
}

// clientCertificate is the parsed TLS client certificate, nil without one.
func (c *credentials) clientCertificate(now time.Time) (*egress.ClientCertificate, error) {
	if c.TLSClientCertificate == "" {
		return nil, nil
	}
	return egress.ParseClientCertificate(c.TLSClientCertificate, c.TLSClientKey, now)
}

// describeCredentials is what a config read shows of cfg's credentials:
// whether each private key is set and its kid, never a private key.
func describeCredentials(cfg *Config) map[string]any {
	data := map[string]any{
		"private_key_set":        cfg.PrivateKey != "",
		"next_private_key_set":   cfg.NextPrivateKey != "",
		"signing_algorithm":      cfg.SigningAlgorithm,
		"tls_client_certificate": cfg.TLSClientCertificate,
		"tls_client_key_set":     cfg.TLSClientKey != "",
		"ca_certificates":        cfg.CACertificates,
	}
	if k, err := cfg.currentKey(); err == nil && k != nil {
		data["private_key_id"] = k.ID
	}
	if k, err := cfg.nextKey(); err == nil && k != nil {
		data["next_private_key_id"] = k.ID
	}
	return data
}
