package backend

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/partnertoken/vault-plugin-secrets-partnertoken/internal/egress"
	"github.com/partnertoken/vault-plugin-secrets-partnertoken/internal/provider"
	"github.com/partnertoken/vault-plugin-secrets-partnertoken/internal/signing"
)

// The checks of a config's credentials once a write is merged: each
// refuses what would fail at the partner, names the field and never
// quotes a key.

// checkKeyID refuses a key id that could not travel in an assertion's
// header.
func checkKeyID(field, id string) error {
	switch {
	case len(id) > maxKeyIDLength:
		return fmt.Errorf("%s is longer than %d characters", field, maxKeyIDLength)
	case strings.IndexFunc(id, func(r rune) bool { return r < 0x20 || r == 0x7f }) >= 0:
		return fmt.Errorf("%s must not contain control characters", field)
	}
	return nil
}

// checkTLSMaterial parses the TLS material as the HTTP client will.
func checkTLSMaterial(cfg *Config, now time.Time) error {
	switch {
	case cfg.TLSClientCertificate != "" && cfg.TLSClientKey == "":
		return errors.New("tls_client_certificate needs tls_client_key, the key it was issued for")
	case cfg.TLSClientKey != "" && cfg.TLSClientCertificate == "":
		return errors.New("tls_client_key needs tls_client_certificate")
	case cfg.TLSClientCertificate != "":
		if _, err := egress.ParseClientCertificate(cfg.TLSClientCertificate, cfg.TLSClientKey, now); err != nil {
			return err
		}
	}
	if cfg.CACertificates != "" {
		if _, err := egress.ParseCACertificates(cfg.CACertificates, now); err != nil {
			return err
		}
	}
	return nil
}

// checkCredentials refuses a config that lacks what its provider and
// options authenticate with.
func checkCredentials(cfg *Config, spec provider.Spec) error {
	need := provider.Credentials{Secret: "provider " + spec.Name}
	if spec.Credentials != nil {
		need = spec.Credentials(cfg.Options)
	}
	if need.Secret != "" && cfg.ClientSecret == "" {
		return fmt.Errorf("client_secret is required (%s)", need.Secret)
	}
	if need.SecretSigns {
		if _, err := signing.SecretKey(cfg.ClientSecret); err != nil {
			return fmt.Errorf("client_secret %w (%s)", err, need.Secret)
		}
		// The next secret signs once the partner refuses the current one.
		if cfg.NextClientSecret != "" {
			if _, err := signing.SecretKey(cfg.NextClientSecret); err != nil {
				return fmt.Errorf("next_client_secret %w (%s)", err, need.Secret)
			}
		}
	}
	if need.Key != "" && cfg.PrivateKey == "" {
		return fmt.Errorf("%s needs a private key: write private_key, generate_private_key=true or service_account_json", need.Key)
	}
	if need.Certificate != "" && cfg.TLSClientCertificate == "" {
		return fmt.Errorf("%s needs tls_client_certificate and tls_client_key", need.Certificate)
	}
	return nil
}
