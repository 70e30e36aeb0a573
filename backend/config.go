package backend

import (
	"errors"
	"fmt"
	"maps"
	"strings"
	"time"

	"github.com/hashicorp/vault/sdk/framework"

	"github.com/partnertoken/vault-plugin-secrets-partnertoken/internal/egress"
	"github.com/partnertoken/vault-plugin-secrets-partnertoken/internal/provider"
)

const (
	defaultTimeout         = 10 * time.Second
	maxTimeout             = 5 * time.Minute
	defaultRefreshFraction = 0.8
	defaultRefusalBackoff  = 30 * time.Second
)

// Config is one partner's credentials and how its tokens are leased.
type Config struct {
	// ID changes on every write. A cached token records the ID of the config
	// that minted it, so a token minted with replaced credentials is never
	// served, on this node or any other.
	ID string `json:"id"`

	Provider     string `json:"provider"`
	Environment  string `json:"environment,omitempty"`
	TokenURL     string `json:"token_url,omitempty"`
	ClientID     string `json:"client_id"`
	ClientSecret string `json:"client_secret"`
	// NextClientSecret is tried when the partner refuses ClientSecret, and
	// replaces it once it works: a secret rotation at the partner never
	// stops minting.
	NextClientSecret string           `json:"next_client_secret,omitempty"`
	Options          provider.Options `json:"options,omitempty"`
	credentials

	TTL             time.Duration `json:"ttl"`
	MaxTTL          time.Duration `json:"max_ttl"`
	Timeout         time.Duration `json:"timeout"`
	RefreshFraction float64       `json:"refresh_fraction"`
	ExpiryMargin    time.Duration `json:"expiry_margin"`
	// RefusalBackoff is how long a refusal of the credentials is remembered.
	RefusalBackoff time.Duration `json:"refusal_backoff"`
	// LeaseMode is per_read or none; empty (configs stored before it
	// existed) is per_read.
	LeaseMode string `json:"lease_mode,omitempty"`
	// LeaseNotRenewable hands out non-renewable leases; false, the zero
	// value of configs stored before it existed, means renewable.
	LeaseNotRenewable bool `json:"lease_not_renewable,omitempty"`
}

// effectiveTokenURL is the URL tokens are requested from: the operator's
// token_url, else the documented URL of the chosen environment.
func (c *Config) effectiveTokenURL(spec provider.Spec) string {
	if c.TokenURL != "" {
		return c.TokenURL
	}
	if env, ok := spec.Environment(c.Environment); ok {
		return env.TokenURL
	}
	return ""
}

// configID is cfg's ID, empty for no config.
func configID(cfg *Config) string {
	if cfg == nil {
		return ""
	}
	return cfg.ID
}

// mergeConfig applies a write to the stored config (nil when creating) and
// validates the result. Its errors are meant for the operator: each names
// the field and what to fix.
func mergeConfig(providers provider.Registry, old *Config, d *framework.FieldData, hosts *egress.Allowlist, now time.Time) (*Config, error) {
	cfg := &Config{Timeout: defaultTimeout, RefreshFraction: defaultRefreshFraction, RefusalBackoff: defaultRefusalBackoff}
	if old != nil {
		copied := *old
		copied.Options = maps.Clone(old.Options)
		cfg = &copied
	}

	if v, ok := d.GetOk("provider"); ok {
		cfg.Provider = strings.TrimSpace(v.(string))
	}
	if cfg.Provider == "" {
		return nil, fmt.Errorf("provider is required: one of %s", strings.Join(providers.Names(), ", "))
	}
	p, ok := providers[cfg.Provider]
	if !ok {
		return nil, fmt.Errorf("provider %q is not known: use one of %s", cfg.Provider, strings.Join(providers.Names(), ", "))
	}
	spec := p.Spec()
	if old != nil && old.Provider != cfg.Provider {
		// Settings of the previous provider mean nothing to the new one.
		cfg.Environment, cfg.TokenURL, cfg.Options = "", "", nil
	}

	for field, target := range map[string]*string{
		"environment":        &cfg.Environment,
		"token_url":          &cfg.TokenURL,
		"client_id":          &cfg.ClientID,
		"client_secret":      &cfg.ClientSecret,
		"next_client_secret": &cfg.NextClientSecret,
	} {
		if v, ok := d.GetOk(field); ok {
			*target = strings.TrimSpace(v.(string))
		}
	}
	for field, target := range map[string]*time.Duration{
		"ttl":             &cfg.TTL,
		"max_ttl":         &cfg.MaxTTL,
		"timeout":         &cfg.Timeout,
		"expiry_margin":   &cfg.ExpiryMargin,
		"refusal_backoff": &cfg.RefusalBackoff,
	} {
		// The framework already refuses negative and unparsable values.
		if v, ok := d.GetOk(field); ok {
			*target = time.Duration(v.(int)) * time.Second
		}
	}
	if v, ok := d.GetOk("refresh_fraction"); ok {
		cfg.RefreshFraction = v.(float64)
	}
	if v, ok := d.GetOk("lease_mode"); ok {
		cfg.LeaseMode = strings.TrimSpace(v.(string))
	}
	if v, ok := d.GetOk("lease_renewable"); ok {
		cfg.LeaseNotRenewable = !v.(bool)
	}
	if err := mergeOptions(providers, cfg, spec, d); err != nil {
		return nil, err
	}
	if err := mergeCredentials(cfg, d, spec, now); err != nil {
		return nil, err
	}
	if err := validateConfig(cfg, spec, hosts); err != nil {
		return nil, err
	}
	if err := refuseUnleasedCaps(old, cfg, func(field string) bool { _, ok := d.GetOk(field); return ok }); err != nil {
		return nil, err
	}

	if old != nil {
		_, secretGiven := d.GetOk("client_secret")
		oldURL := ""
		if oldProvider, ok := providers[old.Provider]; ok {
			oldURL = old.effectiveTokenURL(oldProvider.Spec())
		}
		moved := old.Provider != cfg.Provider || oldURL != cfg.effectiveTokenURL(spec)
		if moved && !secretGiven && old.ClientSecret != "" {
			return nil, errors.New("changing provider, environment or token_url requires client_secret in the same write, so a stored secret is never sent to a new endpoint")
		}
		if err := keepKeysHome(cfg, old, d, spec, moved); err != nil {
			return nil, err
		}
		// The pending next secret was written for the old endpoint too:
		// it stays behind unless this write supplies one for the new one.
		_, nextGiven := d.GetOk("next_client_secret")
		if (moved || old.Environment != cfg.Environment) && !nextGiven {
			cfg.NextClientSecret = ""
		}
	}
	return cfg, nil
}

// mergeOptions applies the provider-specific fields of a write, refusing
// those that belong to another provider.
func mergeOptions(providers provider.Registry, cfg *Config, spec provider.Spec, d *framework.FieldData) error {
	for _, name := range providers.Names() {
		for _, f := range providers[name].Spec().Fields {
			if _, given := d.Raw[f.Name]; !given {
				continue
			}
			if _, own := spec.Field(f.Name); !own {
				return fmt.Errorf("%s is not a setting of provider %s (it belongs to %s)", f.Name, spec.Name, name)
			}
		}
	}
	for _, f := range spec.Fields {
		v, given := d.GetOk(f.Name)
		if !given {
			if _, set := cfg.Options[f.Name]; !set && f.Default != "" {
				cfg.setOption(f.Name, f.Default)
			}
			continue
		}
		value := optionValue(v)
		if value == nil {
			// An empty value unsets the field.
			delete(cfg.Options, f.Name)
			if f.Default != "" {
				cfg.setOption(f.Name, f.Default)
			}
			continue
		}
		if err := f.Validate(value); err != nil {
			return err
		}
		cfg.setOption(f.Name, value)
	}
	return nil
}

func (c *Config) setOption(name string, value any) {
	if c.Options == nil {
		c.Options = provider.Options{}
	}
	c.Options[name] = value
}

// optionValue converts a parsed field to string, []string or
// map[string]string; nil when it is empty.
func optionValue(v any) any {
	switch v := v.(type) {
	case string:
		if v = strings.TrimSpace(v); v != "" {
			return v
		}
	case []string:
		if len(v) > 0 {
			return v
		}
	case map[string]string:
		if len(v) > 0 {
			return v
		}
	}
	return nil
}
