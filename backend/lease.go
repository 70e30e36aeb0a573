package backend

import (
	"fmt"
	"time"
)

const (
	// minLease is the shortest lease handed to a reader. Vault turns a TTL
	// of 0 into the mount's default (32 days by default), so a token that
	// cannot be leased at least this long is replaced before it is served.
	minLease = time.Second

	// minServedLease is the shortest lease a cached token is served with;
	// a token with less left is replaced first. consul-template (Vault
	// Agent's template engine) drops a Vault read that completes in the same
	// wall-clock second as the one before: its "index" is
	// time.Now().Unix() (dependency/dependency.go, respWithMetadata) and a
	// read with an unchanged index is "no new data (index was the same)"
	// (watch/view.go, fetch). A 1 s lease made the Agent re-read within the
	// second, and if that read got the new token it was dropped: the Agent
	// slept 85-95% of the new lease with the expired token in the file (issue
	// 16). With 2 s, a non-renewable lease is re-read after at least 1.7 s;
	// a renewable one, whose TTL is then at most its lease less a second
	// (tokenResponse), is renewed and re-read at least a second later.
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
// lease end less guard (the delays the answer may still meet on its way
// to the reader, see delayWatch), capped by the config's ttl and max_ttl and
// by the mount's maximum, shortened by up to the lease slack less a second
// (jitter in [0, 1)) so that the leases on one token do not all end, and
// are not all revoked, at the same instant, and truncated to whole seconds
// as Vault would truncate it anyway. Every step only shortens the lease, so
// it never ends after the token's safe end; it is below minLease when the
// token cannot be leased at all.
func (c *Config) leaseTTL(tok *storedToken, now time.Time, guard, mountMax time.Duration, jitter float64) time.Duration {
	ttl := c.leaseEnd(tok).Sub(now) - guard
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

// leaseSlack is the most leaseTTL takes off a lease besides guard: its
// jitter (up to jitterShare of the margin) and the truncation to whole
// seconds together, and never less than that one second of truncation.
// shortestLease counts it, so the refresh ahead comes before any lease on
// the token can end: a lease read a moment after the mint and truncated by
// almost a second once ended, and Vault Proxy let it go, just before the
// refresh, and Proxy read the old token once more
// (TestProxyServesManyReadsFromOneLeasePerToken under load).
func (c *Config) leaseSlack(lifetime time.Duration) time.Duration {
	return max(time.Duration(jitterShare*float64(c.margin(lifetime))), time.Second)
}

// servable reports whether tok can still be served from the cache at now:
// leased for at least minServedLease after guard.
func (c *Config) servable(tok *storedToken, now time.Time, guard time.Duration) bool {
	return tok != nil && c.leaseEnd(tok).Sub(now)-guard >= minServedLease
}

// refreshAt is when a replacement for tok is minted in the background:
// once refresh_fraction of its lifetime has passed, and in any case a little
// before every lease on it has ended (sooner by guard, the recent delays
// that shorten leases), so readers never have to wait.
//
// Vault Agent re-reads a non-renewable lease after 85% to 95% of it
// (consul-template dependency/vault_common.go, leaseCheckWait). A token
// read just after its mint can therefore be re-read slightly before the
// refresh (85% of a lease of 90% of the lifetime is 76.5%); that re-read gets
// the same, still valid token with a short lease, and the one after it the
// new token. Refreshing earlier than 80% would cost more than one mint in 30
// per day for hour-long tokens.
//
// Leases are jittered (leaseTTL): the refresh also comes before the
// shortest lease a fresh token can get ends.
func (c *Config) refreshAt(tok *storedToken, guard time.Duration) time.Time {
	life := tok.lifetime()
	fraction := c.RefreshFraction
	if fraction <= 0 {
		fraction = defaultRefreshFraction
	}
	return tok.IssuedAt.Add(min(time.Duration(float64(life)*fraction), time.Duration(float64(c.shortestLease(tok, guard))*lastRefreshShare)))
}

// shortestLease is the earliest end, counted from tok's mint, of any lease
// on it: its safe end, less guard and the lease slack (jitter and
// truncation).
func (c *Config) shortestLease(tok *storedToken, guard time.Duration) time.Duration {
	life := tok.lifetime()
	return max(life-c.margin(life)-guard-c.leaseSlack(life), 0)
}

// renewalPeriod is the TTL of a renewable lease on tok, and the most a
// renewal extends it by; its max TTL is the lease's end.
//
// Vault Proxy's cache and Agent templates hold a renewable lease through
// api.LifetimeWatcher, which renews at once and then every 2/3 of the
// lease duration plus a third of its grace (10-20% of the lease), and gives
// up, making Proxy evict the read and Agent read again, once a renewal
// returns no more than 4 graces: at most 0.8 of a period before the
// lease's end (vault/api lifetime_watcher.go, doRenewWithOptions,
// calculateSleepDuration, calculateGrace). A lease granted with its whole
// time as TTL would be let go after 70% of it, before the refresh ahead on
// a fresh token, so Proxy would come back for the old token and then again
// for the new one. A period no longer than the time between the refresh
// ahead and the shortest lease's end makes the holder read again only
// after the refresh: one read per token lifetime. It is at least a
// twentieth of the lifetime, for configs whose refresh comes late.
func (c *Config) renewalPeriod(tok *storedToken, guard time.Duration) time.Duration {
	refresh := c.refreshAt(tok, guard).Sub(tok.IssuedAt)
	return max((c.shortestLease(tok, guard) - refresh).Truncate(time.Second), (tok.lifetime() / 20).Truncate(time.Second), minLease)
}

// renewable reports whether reads get renewable leases.
func (c *Config) renewable() bool {
	return c.leaseMode() == leaseModePerRead && !c.LeaseNotRenewable
}
