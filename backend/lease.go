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

// leaseEnd is when every lease on tok has ended.
func (c *Config) leaseEnd(tok *storedToken) time.Time {
	return tok.ExpiresAt.Add(-c.margin(tok.lifetime()))
}

// leaseTTL is the lease a reader gets at now: the time left until the
// lease end, capped by the config's ttl and max_ttl and by the mount's
// maximum, in whole seconds as Vault would truncate it anyway.
func (c *Config) leaseTTL(tok *storedToken, now time.Time, mountMax time.Duration) time.Duration {
	ttl := c.leaseEnd(tok).Sub(now)
	for _, limit := range []time.Duration{c.TTL, c.MaxTTL, mountMax} {
		if limit > 0 && ttl > limit {
			ttl = limit
		}
	}
	return ttl.Truncate(time.Second)
}

// servable reports whether tok can still be leased for at least minLease.
func (c *Config) servable(tok *storedToken, now time.Time) bool {
	return tok != nil && c.leaseEnd(tok).Sub(now) >= minLease
}

// refreshAt is when a replacement for tok is minted in the background:
// once refresh_fraction of its lifetime has passed, and in any case a little
// before every lease on it has ended, so readers never have to wait.
//
// Vault Agent re-reads a non-renewable lease after 85% to 95% of it. A token
// read just after its mint can therefore be re-read slightly before the
// refresh (85% of a lease of 90% of the lifetime is 76.5%); that re-read gets
// the same, still valid token with a short lease, and the one after it the
// new token. Refreshing earlier than 80% would cost more than one mint in 30
// per day for hour-long tokens.
func (c *Config) refreshAt(tok *storedToken) time.Time {
	life := tok.lifetime()
	fraction := c.RefreshFraction
	if fraction <= 0 {
		fraction = defaultRefreshFraction
	}
	byFraction := time.Duration(float64(life) * fraction)
	beforeLeasesEnd := time.Duration(float64(life-c.margin(life)) * lastRefreshShare)
	return tok.IssuedAt.Add(min(byFraction, beforeLeasesEnd))
}
