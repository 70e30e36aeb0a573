package backend

import (
	"fmt"
	"time"

	"github.com/hashicorp/vault/sdk/logical"
)

// The ways token/<name> can be read (config field lease_mode).
const (
	// leaseModePerRead makes every read a Vault lease: right for Vault Agent
	// templates and Vault Proxy's cache, which read once per lease.
	leaseModePerRead = "per_read"
	// leaseModeNone returns the token with no lease, for readers that read
	// on every request: a lease per read would pile up in Vault's expiration
	// manager, each costing Vault memory (BENCHMARKS.md, Lease growth).
	leaseModeNone = "none"
)

func (c *Config) leaseMode() string {
	if c.LeaseMode == "" {
		return leaseModePerRead
	}
	return c.LeaseMode
}

func validateLeaseMode(mode string) error {
	switch mode {
	case "", leaseModePerRead, leaseModeNone:
		return nil
	}
	return fmt.Errorf("lease_mode must be %s (a Vault lease per read) or %s (no lease; ttl and rotation_period tell when to read again), not %q",
		leaseModePerRead, leaseModeNone, mode)
}

// refuseUnleasedCaps refuses a write that leaves a lease_mode=none config
// with a ttl or max_ttl it set or switched on: they cap a lease, and these
// reads get none (the ttl a read returns follows the token, rereadTTL). A
// config stored with both before this rule keeps working, the caps doing
// nothing, and writes that touch neither (a secret rotation) still apply.
// given reports whether the write named a field.
func refuseUnleasedCaps(old, cfg *Config, given func(field string) bool) error {
	if cfg.leaseMode() != leaseModeNone {
		return nil
	}
	switched := old == nil || old.leaseMode() != leaseModeNone
	for _, limit := range []struct {
		field string
		value time.Duration
	}{{"ttl", cfg.TTL}, {"max_ttl", cfg.MaxTTL}} {
		if limit.value > 0 && (switched || given(limit.field)) {
			return fmt.Errorf("%s (%s) caps a lease, and with lease_mode=none reads get no lease: the ttl they return is the seconds "+
				"until the token is worth reading again, set by its lifetime and refresh_fraction; write %s=0 with lease_mode=none",
				limit.field, limit.value, limit.field)
		}
	}
	return nil
}

// rereadTTL is, for an unleased read at now, how long until it is worth
// reading again: until the refresh-ahead point, when a new token is
// minted, or once that has passed, until the token's safe end less guard.
// It is in whole seconds and at least 1, and ttl + 1 s (consul-template's
// cushion, below) still ends before the token expires: lease() only
// serves a token that clears minLease after guard, which needs a lifetime
// of at least 2 s, and then the margin is at least 1 s.
func (c *Config) rereadTTL(tok *storedToken, now time.Time, guard time.Duration) time.Duration {
	ttl := c.leaseEnd(tok).Sub(now) - guard
	if refresh := c.refreshAt(tok, guard).Sub(now); refresh >= minLease && refresh < ttl {
		ttl = refresh
	}
	return max(ttl.Truncate(time.Second), minLease)
}

// unleasedResponse shapes a token for lease_mode=none: no Secret, so Vault
// keeps no lease, with ttl and rotation_period as Vault's database static
// roles return them. consul-template (Vault Agent's template engine) then
// re-reads the secret after ttl + 1 s instead of its default lease of five
// minutes: its leaseCheckWait uses `ttl` plus one second for any secret with
// no lease ID that carries rotation_period, and retries a ttl of 0
// (github.com/hashicorp/consul-template dependency/vault_common.go, v0.41).
func (b *backend) unleasedResponse(e *cacheEntry, now time.Time, guard time.Duration) *logical.Response {
	resp := &logical.Response{Data: tokenData(e.token)}
	resp.Data["ttl"] = int64(e.config.rereadTTL(e.token, now, guard) / time.Second)
	resp.Data["rotation_period"] = int64(e.token.lifetime().Round(time.Second) / time.Second)
	return resp
}
