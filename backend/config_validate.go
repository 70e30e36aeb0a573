package backend

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/partnertoken/vault-plugin-secrets-partnertoken/internal/egress"
	"github.com/partnertoken/vault-plugin-secrets-partnertoken/internal/provider"
)

// A config as a whole, checked after a write is merged into it: every
// refusal names the field and what to fix.

// validateConfig checks a merged config as a whole.
func validateConfig(cfg *Config, spec provider.Spec, hosts *egress.Allowlist) error {
	if cfg.Environment != "" {
		if len(spec.Environments) == 0 {
			return fmt.Errorf("provider %s has no documented environments: remove environment and set token_url", spec.Name)
		}
		if _, ok := spec.Environment(cfg.Environment); !ok {
			return fmt.Errorf("environment %q is not one of provider %s: use %s", cfg.Environment, spec.Name, environmentNames(spec))
		}
	}
	tokenURL := cfg.effectiveTokenURL(spec)
	if tokenURL == "" {
		if len(spec.Environments) == 0 {
			return fmt.Errorf("token_url is required: provider %s has no documented token endpoint", spec.Name)
		}
		return fmt.Errorf("set environment (%s) or token_url to say which %s token endpoint to use", environmentNames(spec), spec.DisplayName)
	}
	if err := egress.CheckTokenURL(tokenURL, hosts); err != nil {
		return err
	}
	if cfg.ClientID == "" {
		return errors.New("client_id is required")
	}
	if err := checkCredential("client_id", cfg.ClientID); err != nil {
		return err
	}
	if cfg.ClientSecret != "" {
		if err := checkCredential("client_secret", cfg.ClientSecret); err != nil {
			return err
		}
	}
	if err := checkCredentials(cfg, spec); err != nil {
		return err
	}
	if spec.Check != nil {
		if err := spec.Check(cfg.Options); err != nil {
			return err
		}
	}
	if cfg.NextClientSecret != "" {
		if err := checkCredential("next_client_secret", cfg.NextClientSecret); err != nil {
			return err
		}
	}
	if cfg.TTL > 0 && cfg.MaxTTL > 0 && cfg.TTL > cfg.MaxTTL {
		return fmt.Errorf("ttl (%s) must not exceed max_ttl (%s)", cfg.TTL, cfg.MaxTTL)
	}
	if cfg.Timeout < time.Second || cfg.Timeout > maxTimeout {
		return fmt.Errorf("timeout must be between 1s and %s", maxTimeout)
	}
	// The negated form also refuses NaN, which fails every comparison.
	if !(cfg.RefreshFraction >= 0.1 && cfg.RefreshFraction <= 0.95) {
		return fmt.Errorf("refresh_fraction must be between 0.1 and 0.95, not %g", cfg.RefreshFraction)
	}
	if err := validateLeaseMode(cfg.LeaseMode); err != nil {
		return err
	}
	return validateLeaseCaps(cfg)
}

// maxCredentialLength bounds client_id and the secrets. Real ones are tens
// of bytes; every mint searches partner messages for each form of them, so
// their size is the cost of every redaction, in the plugin process that
// serves every mount.
const maxCredentialLength = 4096

// checkCredential refuses values that cannot travel in a header or form
// intact, and values too long for any partner. The message never quotes
// the value.
func checkCredential(field, value string) error {
	if strings.IndexFunc(value, func(r rune) bool { return r < 0x20 || r == 0x7f }) >= 0 {
		return fmt.Errorf("%s must not contain control characters such as newlines", field)
	}
	if field != "client_id" && len(value) < 4 {
		return fmt.Errorf("%s is too short: a partner secret has at least 4 characters", field)
	}
	if len(value) > maxCredentialLength {
		return fmt.Errorf("%s is too long: at most %d bytes (4 KiB)", field, maxCredentialLength)
	}
	return nil
}

func environmentNames(spec provider.Spec) string {
	var names []string
	for _, env := range spec.Environments {
		names = append(names, env.Name)
		names = append(names, env.Aliases...)
	}
	return strings.Join(names, ", ")
}
