package backend

import "time"

const (
	// minLease is the shortest lease handed to a reader. Vault turns a TTL
	// of 0 into the mount's default (32 days by default), so a token that
	// cannot be leased at least this long is replaced before it is served.
	minLease = time.Second

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

// leaseEnd is when every lease on tok has ended: its safe end.
func (c *Config) leaseEnd(tok *storedToken) time.Time {
	return tok.ExpiresAt.Add(-c.margin(tok.lifetime()))
}

// leaseTTL is the lease a reader gets at now: the time left until the
// lease end less guard (the delays the answer may still meet on its way
// to the reader, see delayWatch), capped by the config's ttl and max_ttl and
// by the mount's maximum, shortened by up to jitterShare of the margin
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
	if spread := time.Duration(jitter * jitterShare * float64(c.margin(tok.lifetime()))); ttl > minLease && spread > 0 {
		ttl -= min(spread, ttl-minLease)
	}
	return ttl.Truncate(time.Second)
}

// servable reports whether tok can still be leased for at least minLease
// at now, after guard.
func (c *Config) servable(tok *storedToken, now time.Time, guard time.Duration) bool {
	return tok != nil && c.leaseEnd(tok).Sub(now)-guard >= minLease
}

// refreshAt is when a replacement for tok is minted in the background:
// once refresh_fraction of its lifetime has passed, and in any case a little
// before every lease on it has ended (sooner by guard, the recent delays
// that shorten leases), so readers never have to wait.
//
// Vault Agent re-reads a non-renewable lease after 85% to 95% of it. A token
// read just after its mint can therefore be re-read slightly before the
// refresh (85% of a lease of 90% of the lifetime is 76.5%); that re-read gets
// the same, still valid token with a short lease, and the one after it the
// new token. Refreshing earlier than 80% would cost more than one mint in 30
// per day for hour-long tokens.
func (c *Config) refreshAt(tok *storedToken, guard time.Duration) time.Time {
	life := tok.lifetime()
	fraction := c.RefreshFraction
	if fraction <= 0 {
		fraction = defaultRefreshFraction
	}
	byFraction := time.Duration(float64(life) * fraction)
	beforeLeasesEnd := time.Duration(float64(max(life-c.margin(life)-guard, 0)) * lastRefreshShare)
	return tok.IssuedAt.Add(min(byFraction, beforeLeasesEnd))
}
