package backend

import (
	"context"
	"errors"
	"time"
)

// What token reads and forced refreshes ask of the token cache: a token
// that can be leased now, or a new one. Every mint among them goes through
// shareMint, so concurrent requests share one.

// get returns the entry for name holding a token that can be leased now
// for at least minLease after allowance, minting one only if no such token
// exists; minted tells whether the token comes from a mint this read waited
// for. While the partner is down, a read that needs a mint makes the
// outage's next attempt if it is due and none is in flight, and otherwise
// is answered at once with the outage. Every look at the cache is noted on
// tally.
func (c *tokenCache) get(ctx context.Context, name string, allowance time.Duration, tally *readTally) (e *cacheEntry, minted bool, err error) {
	servable := func(e *cacheEntry, now time.Time) bool { return e.config.servable(e.token, now, allowance) }
	for attempt := 0; ; attempt++ {
		e, err := c.current(ctx, name)
		if err != nil {
			return nil, false, err
		}
		ok := servable(e, c.clock.Now())
		tally.look(e, ok)
		if ok {
			c.noteRead(e)
			return e, false, nil
		}
		if !c.writable() {
			// Vault forwards the request to the active node (of the
			// primary cluster, from a performance secondary), which mints.
			// Minting here first would mint twice.
			return nil, false, errHandOver
		}
		claimed, held := e.claimAttempt(c.clock.Now(), false)
		if held != nil {
			c.metrics.outageRefusedReads.WithLabelValues(name, e.config.Provider).Inc()
			return nil, false, held
		}
		e, err = c.shareAttempt(ctx, e, claimed, func(cur *cacheEntry, now time.Time) bool { return !servable(cur, now) })
		if errors.Is(err, errConfigChanged) && attempt == 0 {
			continue
		}
		if err != nil {
			return nil, false, err
		}
		c.noteRead(e)
		return e, true, nil
	}
}

// fromReplica returns name's entry for a standby to answer an unleased
// read from, or errHandOver when the active node must answer it: the
// config is not in the replica (it may not have arrived yet: the active
// node tells), its reads are leased, its token is missing or not servable
// after allowance, or the token is due for its refresh ahead and this
// standby has not yet handed one of its reads over. The active node
// refreshes ahead only tokens it saw read, and it may see no other read of
// this one: that read makes it refresh while the standbys keep serving
// the token, so none of their readers waits for a mint.
func (c *tokenCache) fromReplica(ctx context.Context, name string, allowance time.Duration) (*cacheEntry, error) {
	e, err := c.current(ctx, name)
	if errors.Is(err, errNoConfig) {
		return nil, errHandOver
	}
	if err != nil {
		return nil, err
	}
	now := c.clock.Now()
	switch {
	case e.config.leaseMode() != leaseModeNone, !e.config.servable(e.token, now, allowance):
		return nil, errHandOver
	case !now.Before(e.config.refreshAt(e.token, allowance)) && e.handedOver.CompareAndSwap(false, true):
		return nil, errHandOver
	}
	return e, nil
}

// readTally counts one read of token/<name> as a cache hit or a miss, once
// however many looks at the cache the read takes: a miss if any look found
// no token it could lease, counted at that look, before the read waits for
// a mint (and before a delete that removes the name's series meanwhile);
// else a hit, counted when the read is done.
type readTally struct {
	metrics  *metrics
	name     string
	provider string // of the config looked at; "" before the first look
	missed   bool
}

func (t *readTally) look(e *cacheEntry, servable bool) {
	t.provider = e.config.Provider
	if !servable && !t.missed {
		t.missed = true
		t.metrics.cacheMisses.WithLabelValues(t.name, t.provider).Inc()
	}
}

// done counts a read that looked at the cache and never missed as a hit.
func (t *readTally) done() {
	if t.provider != "" && !t.missed {
		t.metrics.cacheHits.WithLabelValues(t.name, t.provider).Inc()
	}
}

// forceRefresh mints a new token for name on demand (refresh/<name>). It
// joins a mint already in flight, and mints nothing when the current token
// is younger than minInterval, so a fleet asking at once causes one request
// to the partner. While the partner is down it makes the next attempt at
// once.
func (c *tokenCache) forceRefresh(ctx context.Context, name string, minInterval time.Duration) (e *cacheEntry, minted bool, err error) {
	fresh := func(cur *cacheEntry, now time.Time) bool {
		return cur.token != nil && now.Sub(cur.token.IssuedAt) < minInterval
	}
	for attempt := 0; ; attempt++ {
		seen, err := c.current(ctx, name)
		if err != nil {
			return nil, false, err
		}
		if !c.writable() {
			return nil, false, errHandOver
		}
		if attempt == 0 {
			c.metrics.forcedRefresh.WithLabelValues(name, seen.config.Provider).Inc()
		}
		if fresh(seen, c.clock.Now()) {
			return seen, false, nil
		}
		// During an outage, an attempt at once, whatever its back-off says.
		claimed, _ := seen.claimAttempt(c.clock.Now(), true)
		e, err = c.shareAttempt(ctx, seen, claimed, func(cur *cacheEntry, now time.Time) bool { return !fresh(cur, now) })
		if errors.Is(err, errConfigChanged) && attempt == 0 {
			continue
		}
		if err != nil {
			return nil, false, err
		}
		return e, !e.token.same(seen.token), nil
	}
}
