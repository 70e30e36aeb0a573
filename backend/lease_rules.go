package backend

import (
	"fmt"
	"time"
)

// The timing rules of a token's leases: when every lease on it ends, how
// long a read is leased, when it is refreshed, how long a renewal keeps a
// lease. Each rule only ever shortens a lease, so no lease outlives the
// token's safe end; why each number is what it is:
// docs/how-it-works.md#why-the-lease-is-shaped-as-it-is.

const (
	// minLease is the shortest lease handed to a reader. Vault turns a TTL
	// of 0 into the mount's default (32 days by default), so a token that
	// cannot be leased at least this long is replaced before it is served.
	minLease = time.Second

	// minServedLease is the shortest lease a cached token is served with;
	// a token with less left is replaced first, so Vault Agent never
	// re-reads within the second it read in
	// (docs/how-it-works.md#the-two-second-floor).
	minServedLease = 2 * time.Second

	// The safety margin between the end of a reader's lease and the token's
	// expiry, when the config does not set expiry_margin: 10% of the
	// lifetime, kept between these bounds.
	minAutoMargin = 5 * time.Second
	maxAutoMargin = 5 * time.Minute

	// lastRefreshShare is the latest point, as a share of the time until
	// every lease on a token has ended, at which it is refreshed: the rest is
	// left for the mint itself.
	lastRefreshShare = 0.95

	// jitterShare is the largest share of the margin a lease is shortened
	// by at random, so leases taken at the same time end spread out.
	jitterShare = 0.5
)

// validateLeaseCaps refuses a ttl or max_ttl that no cached read could be
// served under: leaseTTL caps every lease at them, and a cached token is
// served only with a lease of minServedLease (see there), so a shorter cap
// fails every read but the one that mints. Without a lease
// (lease_mode=none) they cap nothing; refuseUnleasedCaps has that case.
func validateLeaseCaps(cfg *Config) error {
	if cfg.leaseMode() != leaseModePerRead {
		return nil
	}
	for _, limit := range []struct {
		field string
		value time.Duration
	}{{"ttl", cfg.TTL}, {"max_ttl", cfg.MaxTTL}} {
		if limit.value > 0 && limit.value < minServedLease {
			return fmt.Errorf("%s must be 0 (no cap) or at least %s, not %s: a cached token is served only with a lease of at least %s, "+
				"so a shorter cap would fail every read but the one that mints", limit.field, minServedLease, limit.value, minServedLease)
		}
	}
	return nil
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

// margin is how long before the token's expiry every lease on it ends, so
// no reader ever holds an expired token. It never exceeds half the token's
// lifetime, so a short-lived token can still be leased.
func (c *Config) margin(lifetime time.Duration) time.Duration {
	m := c.ExpiryMargin
	if m <= 0 {
		m = min(max(lifetime/10, minAutoMargin), maxAutoMargin)
	}
	return min(m, lifetime/2)
}

// marginCut tells, for a token of lifetime, that margin cut the config's
// expiry_margin to half the lifetime, or is "" when it did not. The
// lifetime is known only once a token is minted, so a write cannot refuse
// such a margin; status/<name> and a verify=true write say it instead.
func (c *Config) marginCut(lifetime time.Duration) string {
	if c.ExpiryMargin <= lifetime/2 {
		return ""
	}
	return fmt.Sprintf("expiry_margin (%s) is more than half the token's lifetime (%s): leases on it end %s before it expires, half its lifetime",
		c.ExpiryMargin, lifetime.Round(time.Second), c.margin(lifetime).Round(time.Second))
}

// leaseEnd is when every lease on tok has ended: its safe end.
func (c *Config) leaseEnd(tok *storedToken) time.Time {
	return tok.ExpiresAt.Add(-c.margin(tok.lifetime()))
}

// leaseTTL is the lease a reader gets at now: the time left until the
// lease end less the delay allowance (the delays the answer may still meet
// on its way to the reader, see delayWatch), capped by the config's ttl and
// max_ttl and by the mount's maximum, shortened by up to the lease slack
// less a second (jitter in [0, 1)) so that the leases on one token do not
// all end, and are not all revoked, at the same instant, and truncated to
// whole seconds as Vault would truncate it anyway. Every step only shortens
// the lease, so it never ends after the token's safe end; it is below
// minLease when the token cannot be leased at all.
func (c *Config) leaseTTL(tok *storedToken, now time.Time, allowance, mountMax time.Duration, jitter float64) time.Duration {
	ttl := c.leaseEnd(tok).Sub(now) - allowance
	for _, limit := range []time.Duration{c.TTL, c.MaxTTL, mountMax} {
		if limit > 0 && ttl > limit {
			ttl = limit
		}
	}
	// The jitter leaves a second of the slack to the truncation below.
	if spread := time.Duration(jitter * float64(c.leaseSlack(tok.lifetime())-time.Second)); ttl > minServedLease && spread > 0 {
		ttl -= min(spread, ttl-minServedLease)
	}
	return ttl.Truncate(time.Second)
}

// leaseSlack is the most leaseTTL takes off a lease besides the delay
// allowance: its jitter (up to jitterShare of the margin) and the
// truncation to whole seconds together, and never less than that one
// second of truncation. earliestEndAfterMint counts it, so the refresh
// ahead comes before any lease on the token can end
// (docs/how-it-works.md#the-jitter-and-the-refresh-point).
func (c *Config) leaseSlack(lifetime time.Duration) time.Duration {
	return max(time.Duration(jitterShare*float64(c.margin(lifetime))), time.Second)
}

// servable reports whether tok can still be served from the cache at now:
// leased for at least minServedLease after the delay allowance.
func (c *Config) servable(tok *storedToken, now time.Time, allowance time.Duration) bool {
	return tok != nil && c.leaseEnd(tok).Sub(now)-allowance >= minServedLease
}

// refreshAt is when a replacement for tok is minted in the background:
// once refresh_fraction of its lifetime has passed, and in any case before
// lastRefreshShare of the time to the earliest end of any lease on it
// (sooner by the delay allowance), so readers never have to wait
// (docs/how-it-works.md#refresh-ahead-and-vault-agents-re-reads).
func (c *Config) refreshAt(tok *storedToken, allowance time.Duration) time.Time {
	life := tok.lifetime()
	fraction := c.RefreshFraction
	if fraction <= 0 {
		fraction = defaultRefreshFraction
	}
	return tok.IssuedAt.Add(min(time.Duration(float64(life)*fraction), time.Duration(float64(c.earliestEndAfterMint(tok, allowance))*lastRefreshShare)))
}

// earliestEndAfterMint is the earliest end of any lease on tok, as a
// duration after its mint: its safe end, less the delay allowance and the
// lease slack (jitter and truncation).
func (c *Config) earliestEndAfterMint(tok *storedToken, allowance time.Duration) time.Duration {
	life := tok.lifetime()
	return max(life-c.margin(life)-allowance-c.leaseSlack(life), 0)
}

// renewalPeriod is the TTL of a renewable lease on tok, and the most a
// renewal keeps it for; its max TTL is the lease's end. It is no longer
// than the time between the refresh ahead and the earliest lease end, so
// a holder that renews through api.LifetimeWatcher (Vault Proxy, Agent
// templates) reads again only after the refresh, once per token lifetime,
// and at least a twentieth of the lifetime, for configs whose refresh comes
// late (docs/how-it-works.md#renewal-periods-and-vault-proxy).
func (c *Config) renewalPeriod(tok *storedToken, allowance time.Duration) time.Duration {
	refresh := c.refreshAt(tok, allowance).Sub(tok.IssuedAt)
	return max((c.earliestEndAfterMint(tok, allowance) - refresh).Truncate(time.Second), (tok.lifetime() / 20).Truncate(time.Second), minLease)
}

// renewable reports whether reads get renewable leases.
func (c *Config) renewable() bool {
	return c.leaseMode() == leaseModePerRead && !c.LeaseNotRenewable
}

// rereadTTL is, for an unleased read at now, how long until it is worth
// reading again: until the refresh-ahead point, when a new token is
// minted, or once that has passed, until the token's safe end less the
// delay allowance. It is in whole seconds and at least 1, and ttl + 1 s
// (consul-template's cushion, docs/how-it-works.md#reads-without-a-lease)
// still ends before the token expires: lease only serves a token that
// clears minLease after the allowance, which needs a lifetime of at least
// 2 s, and then the margin is at least 1 s.
func (c *Config) rereadTTL(tok *storedToken, now time.Time, allowance time.Duration) time.Duration {
	ttl := c.leaseEnd(tok).Sub(now) - allowance
	if refresh := c.refreshAt(tok, allowance).Sub(now); refresh >= minLease && refresh < ttl {
		ttl = refresh
	}
	return max(ttl.Truncate(time.Second), minLease)
}
