package backend

import (
	"context"
	"fmt"
	"time"

	"github.com/hashicorp/vault/sdk/logical"

	"github.com/partnertoken/vault-plugin-secrets-partnertoken/provider"
)

const (
	configPrefix = "config/"

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

func readConfig(ctx context.Context, s logical.Storage, name string) (*Config, error) {
	entry, err := s.Get(ctx, configPrefix+name)
	if err != nil {
		return nil, fmt.Errorf("reading config %q: %w", name, err)
	}
	if entry == nil {
		return nil, nil
	}
	var cfg Config
	if err := entry.DecodeJSON(&cfg); err != nil {
		return nil, fmt.Errorf("decoding config %q: %w", name, err)
	}
	return &cfg, nil
}

func writeConfig(ctx context.Context, s logical.Storage, name string, cfg *Config) error {
	entry, err := logical.StorageEntryJSON(configPrefix+name, cfg)
	if err != nil {
		return fmt.Errorf("encoding config %q: %w", name, err)
	}
	if err := s.Put(ctx, entry); err != nil {
		return fmt.Errorf("writing config %q: %w", name, err)
	}
	return nil
}
