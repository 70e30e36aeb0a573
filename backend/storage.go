package backend

import (
	"context"
	"fmt"
	"time"

	"github.com/hashicorp/vault/sdk/logical"

	"github.com/partnertoken/vault-plugin-secrets-partnertoken/internal/provider"
)

// The mount's storage: one key per config, one per cached token, one for
// the mount's settings. Everything the engine keeps is read and written here.
const (
	configPrefix = "config/"
	tokenPrefix  = "token/"
	settingsKey  = "settings"
)

// storedToken is a minted token as kept in storage and in memory.
type storedToken struct {
	AccessToken string            `json:"access_token"`
	TokenType   string            `json:"token_type"`
	Extra       map[string]string `json:"extra,omitempty"`
	IssuedAt    time.Time         `json:"issued_at"`
	ExpiresAt   time.Time         `json:"expires_at"`
	// ConfigID is the ID of the config that minted it.
	ConfigID string `json:"config_id"`
}

func newStoredToken(tok *provider.Token, configID string) *storedToken {
	return &storedToken{
		AccessToken: tok.AccessToken,
		TokenType:   tok.TokenType,
		Extra:       tok.Extra,
		IssuedAt:    tok.IssuedAt,
		ExpiresAt:   tok.ExpiresAt,
		ConfigID:    configID,
	}
}

func (t *storedToken) lifetime() time.Duration { return t.ExpiresAt.Sub(t.IssuedAt) }

// same reports whether t and o are the same mint, wherever they were loaded from.
func (t *storedToken) same(o *storedToken) bool {
	return t != nil && o != nil && t.ConfigID == o.ConfigID && t.IssuedAt.Equal(o.IssuedAt) && t.AccessToken == o.AccessToken
}

// settings are the mount-wide tunables (config/ holds the partners).
type settings struct {
	RefreshRate float64 `json:"refresh_rate"`
	// OutageBackoffMax caps the wait between attempts at a partner that is
	// down (cacheEntry.down).
	OutageBackoffMax time.Duration `json:"outage_backoff_max"`
	// AllowedTokenURLHosts limits where token_url may point; see egress.Allowlist.
	AllowedTokenURLHosts []string `json:"allowed_token_url_hosts,omitempty"`
}

func readConfig(ctx context.Context, s logical.Storage, name string) (*Config, error) {
	var cfg Config
	found, err := readJSON(ctx, s, configPrefix+name, &cfg, "config "+quote(name))
	if !found || err != nil {
		return nil, err
	}
	return &cfg, nil
}

func writeConfig(ctx context.Context, s logical.Storage, name string, cfg *Config) error {
	return writeJSON(ctx, s, configPrefix+name, cfg, "config "+quote(name))
}

func deleteConfig(ctx context.Context, s logical.Storage, name string) error {
	return s.Delete(ctx, configPrefix+name)
}

func listConfigs(ctx context.Context, s logical.Storage) ([]string, error) {
	return s.List(ctx, configPrefix)
}

func readToken(ctx context.Context, s logical.Storage, name string) (*storedToken, error) {
	var tok storedToken
	found, err := readJSON(ctx, s, tokenPrefix+name, &tok, "the cached token of "+quote(name))
	if !found || err != nil {
		return nil, err
	}
	return &tok, nil
}

func writeToken(ctx context.Context, s logical.Storage, name string, tok *storedToken) error {
	return writeJSON(ctx, s, tokenPrefix+name, tok, "the token of "+quote(name))
}

func deleteToken(ctx context.Context, s logical.Storage, name string) error {
	if err := s.Delete(ctx, tokenPrefix+name); err != nil {
		return fmt.Errorf("deleting the cached token of %q: %w", name, err)
	}
	return nil
}

// readSettings returns the stored settings, or the defaults when none are.
func readSettings(ctx context.Context, s logical.Storage) (*settings, error) {
	out := &settings{RefreshRate: defaultRefreshRate, OutageBackoffMax: defaultOutageBackoffMax}
	if _, err := readJSON(ctx, s, settingsKey, out, "settings"); err != nil {
		return nil, err
	}
	return out, nil
}

func writeSettings(ctx context.Context, s logical.Storage, set *settings) error {
	return writeJSON(ctx, s, settingsKey, set, "settings")
}

// readJSON decodes the entry at key into out, reporting whether there was one.
func readJSON(ctx context.Context, s logical.Storage, key string, out any, what string) (bool, error) {
	entry, err := s.Get(ctx, key)
	if err != nil {
		return false, fmt.Errorf("reading %s: %w", what, err)
	}
	if entry == nil {
		return false, nil
	}
	if err := entry.DecodeJSON(out); err != nil {
		return false, fmt.Errorf("decoding %s: %w", what, err)
	}
	return true, nil
}

func writeJSON(ctx context.Context, s logical.Storage, key string, v any, what string) error {
	entry, err := logical.StorageEntryJSON(key, v)
	if err != nil {
		return fmt.Errorf("encoding %s: %w", what, err)
	}
	if err := s.Put(ctx, entry); err != nil {
		return fmt.Errorf("storing %s: %w", what, err)
	}
	return nil
}

func quote(s string) string { return fmt.Sprintf("%q", s) }
