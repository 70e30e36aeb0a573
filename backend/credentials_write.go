package backend

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/hashicorp/vault/sdk/framework"

	"github.com/partnertoken/vault-plugin-secrets-partnertoken/internal/provider"
	"github.com/partnertoken/vault-plugin-secrets-partnertoken/internal/signing"
)

// How a config write changes a config's credentials; credentials_check.go
// refuses what would then fail at the partner. Each error names the field
// and what to fix, and never quotes a key.

// maxKeyIDLength bounds private_key_id, which travels in every assertion.
const maxKeyIDLength = 256

// maxPEMSizes bound the PEM fields: a key is a few KiB, a chain or a CA
// bundle some dozens; more is a mistake (a wrong file) that would only
// cost every mint its parsing.
var maxPEMSizes = map[string]int{
	"private_key": 16 << 10, "next_private_key": 16 << 10, "tls_client_key": 16 << 10,
	"service_account_json": 16 << 10, "tls_client_certificate": 64 << 10, "ca_certificates": 1 << 20,
}

// mergeCredentials applies a write's credential fields to cfg, whose
// other fields are merged already, and checks the TLS material at now.
func mergeCredentials(cfg *Config, d *framework.FieldData, spec provider.Spec, now time.Time) error {
	for field, limit := range maxPEMSizes {
		if v, ok := d.GetOk(field); ok && len(v.(string)) > limit {
			return fmt.Errorf("%s is larger than %d KiB: write the %s alone", field, limit>>10, strings.ReplaceAll(field, "_", " "))
		}
	}
	if !spec.Signs {
		for _, f := range keyFields {
			if given(d, f) {
				return fmt.Errorf("%s is not a setting of provider %s: it signs no assertions", f, spec.Name)
			}
		}
		cfg.PrivateKey, cfg.PrivateKeyID, cfg.NextPrivateKey, cfg.NextPrivateKeyID, cfg.SigningAlgorithm = "", "", "", "", ""
	}
	if err := applyServiceAccount(cfg, d); err != nil {
		return err
	}
	if err := applyKeys(cfg, d); err != nil {
		return err
	}
	for field, target := range map[string]*string{
		"tls_client_certificate": &cfg.TLSClientCertificate,
		"tls_client_key":         &cfg.TLSClientKey,
		"ca_certificates":        &cfg.CACertificates,
	} {
		if v, ok := d.GetOk(field); ok {
			*target = strings.TrimSpace(v.(string))
		}
	}
	return checkTLSMaterial(cfg, now)
}

// keepKeysHome applies the rule of next_client_secret to the private
// keys of a write that points the config at another endpoint (moved) or
// environment: a stored key never signs for an endpoint it was not written
// for. A key the write did not replace stays behind: generate_private_key
// makes a new one, and a config that needs a key and gets none is refused;
// the next key stays behind unless the write brings one.
func keepKeysHome(cfg, old *Config, d *framework.FieldData, spec provider.Spec, moved bool) error {
	if moved && old.PrivateKey != "" && cfg.PrivateKey == old.PrivateKey {
		cfg.PrivateKey, cfg.PrivateKeyID = "", ""
		switch {
		case d.Get("generate_private_key").(bool):
			k, err := signing.GenerateKey(cfg.SigningAlgorithm, "")
			if err != nil {
				return fmt.Errorf("generate_private_key: %w", err)
			}
			cfg.PrivateKey = k.PEM()
			if v, ok := d.GetOk("private_key_id"); ok {
				cfg.PrivateKeyID = strings.TrimSpace(v.(string))
			}
		case spec.Credentials != nil && spec.Credentials(cfg.Options).Key != "":
			return errors.New("changing provider, environment or token_url requires private_key, generate_private_key=true or service_account_json in the same write, so a stored key never signs for a new endpoint")
		}
	}
	if (moved || old.Environment != cfg.Environment) && old.NextPrivateKey != "" && cfg.NextPrivateKey == old.NextPrivateKey {
		cfg.NextPrivateKey, cfg.NextPrivateKeyID = "", ""
		if d.Get("generate_next_private_key").(bool) {
			k, err := signing.GenerateKey(cfg.SigningAlgorithm, "")
			if err != nil {
				return fmt.Errorf("generate_next_private_key: %w", err)
			}
			cfg.NextPrivateKey = k.PEM()
			if v, ok := d.GetOk("next_private_key_id"); ok {
				cfg.NextPrivateKeyID = strings.TrimSpace(v.(string))
			}
		}
	}
	return nil
}

// applyServiceAccount takes a Google service-account file apart.
func applyServiceAccount(cfg *Config, d *framework.FieldData) error {
	v, ok := d.GetOk("service_account_json")
	if !ok {
		return nil
	}
	sa, err := signing.ParseServiceAccount(v.(string))
	if err != nil {
		return fmt.Errorf("service_account_json %w", err)
	}
	for _, f := range []string{"private_key", "generate_private_key", "private_key_id", "signing_algorithm"} {
		if given(d, f) {
			return fmt.Errorf("service_account_json holds the key: leave %s out of the same write", f)
		}
	}
	if id, ok := d.GetOk("client_id"); ok && strings.TrimSpace(id.(string)) != sa.ClientEmail {
		return errors.New("client_id differs from service_account_json's client_email, which is the client id: leave client_id out")
	}
	if grant := cfg.Options.String("grant_type"); given(d, "grant_type") && grant != "jwt_bearer" {
		return fmt.Errorf("service_account_json is for grant_type=jwt_bearer, not %s", grant)
	}
	cfg.ClientID = sa.ClientEmail
	if !given(d, "token_url") && !given(d, "environment") {
		cfg.TokenURL = sa.TokenURI
	}
	cfg.setOption("grant_type", "jwt_bearer")
	cfg.PrivateKey, cfg.PrivateKeyID, cfg.SigningAlgorithm = sa.Key.PEM(), sa.Key.ID, sa.Key.Algorithm
	return nil
}

// applyKeys applies private_key, generate_private_key, signing_algorithm,
// the key ids and the next key.
func applyKeys(cfg *Config, d *framework.FieldData) error {
	alg, algGiven := "", false
	if v, ok := d.GetOk("signing_algorithm"); ok {
		alg, algGiven = strings.TrimSpace(v.(string)), true
		if err := signing.CheckAlgorithm(alg); err != nil {
			return fmt.Errorf("signing_algorithm %w", err)
		}
	}
	pemText := strings.TrimSpace(d.Get("private_key").(string))
	generate := d.Get("generate_private_key").(bool)
	if given(d, "private_key") && pemText == "" {
		// An empty private_key removes the key, also to generate a new
		// one in the same write.
		cfg.PrivateKey, cfg.PrivateKeyID = "", ""
	}
	switch {
	case pemText != "" && generate:
		return errors.New("private_key and generate_private_key=true in one write: give one")
	case generate:
		// A key is generated only when the config has none that fits, so
		// a repeated write (a Terraform apply) keeps the registered key.
		if k, err := cfg.currentKey(); err == nil && k != nil && (alg == "" || k.Fits(alg) == nil) {
			cfg.SigningAlgorithm = or(alg, cfg.SigningAlgorithm)
			break
		}
		k, err := signing.GenerateKey(or(alg, cfg.SigningAlgorithm), "")
		if err != nil {
			return fmt.Errorf("generate_private_key: %w", err)
		}
		cfg.PrivateKey, cfg.PrivateKeyID, cfg.SigningAlgorithm = k.PEM(), "", k.Algorithm
	case pemText != "":
		k, err := signing.ParseKey(pemText, alg, "")
		if err != nil {
			return fmt.Errorf("private_key %w", err)
		}
		cfg.PrivateKey, cfg.PrivateKeyID, cfg.SigningAlgorithm = k.PEM(), "", k.Algorithm
	case algGiven:
		if cfg.PrivateKey == "" {
			cfg.SigningAlgorithm = alg
			break
		}
		k, err := cfg.currentKey()
		if err != nil {
			return err
		}
		if err := k.Fits(alg); err != nil {
			return fmt.Errorf("signing_algorithm does not fit the stored private key, which %w", err)
		}
		cfg.SigningAlgorithm = alg
	}
	if v, ok := d.GetOk("private_key_id"); ok {
		cfg.PrivateKeyID = strings.TrimSpace(v.(string))
	}

	nextText := strings.TrimSpace(d.Get("next_private_key").(string))
	generateNext := d.Get("generate_next_private_key").(bool)
	if given(d, "next_private_key") && nextText == "" {
		cfg.NextPrivateKey, cfg.NextPrivateKeyID = "", ""
	}
	switch {
	case nextText != "" && generateNext:
		return errors.New("next_private_key and generate_next_private_key=true in one write: give one")
	case generateNext && cfg.NextPrivateKey != "":
		// As generate_private_key: the pending next key is kept.
	case generateNext:
		if cfg.PrivateKey == "" {
			return errors.New("generate_next_private_key needs a current key to rotate from: use generate_private_key=true")
		}
		k, err := signing.GenerateKey(cfg.SigningAlgorithm, "")
		if err != nil {
			return fmt.Errorf("generate_next_private_key: %w", err)
		}
		cfg.NextPrivateKey, cfg.NextPrivateKeyID = k.PEM(), ""
	case nextText != "":
		k, err := signing.ParseKey(nextText, cfg.SigningAlgorithm, "")
		if err != nil {
			return fmt.Errorf("next_private_key %w (signing_algorithm %s)", err, cfg.SigningAlgorithm)
		}
		cfg.NextPrivateKey, cfg.NextPrivateKeyID = k.PEM(), ""
	}
	if v, ok := d.GetOk("next_private_key_id"); ok {
		cfg.NextPrivateKeyID = strings.TrimSpace(v.(string))
	}
	if cfg.NextPrivateKey != "" {
		// The next key must sign as the config does: a new algorithm
		// comes with a new current key.
		if _, err := cfg.nextKey(); err != nil {
			return fmt.Errorf("next_private_key %w", err)
		}
	}
	for field, id := range map[string]string{"private_key_id": cfg.PrivateKeyID, "next_private_key_id": cfg.NextPrivateKeyID} {
		if err := checkKeyID(field, id); err != nil {
			return err
		}
	}
	return nil
}

// given reports whether the write holds field at all (an empty value
// included, which unsets).
func given(d *framework.FieldData, field string) bool {
	_, ok := d.Raw[field]
	return ok
}

func or(s, fallback string) string {
	if s == "" {
		return fallback
	}
	return s
}
