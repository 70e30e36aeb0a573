package backend

import (
	"context"
	"errors"
	"time"

	"github.com/google/uuid"
	"github.com/hashicorp/vault/sdk/logical"
)

// What requests ask of the token cache: a token to lease, a forced
// refresh, a verified or plain config write, a delete. Every mint among
// them goes through shareMint or callPartner and every token through commit.

// get returns the entry for name holding a token that can be leased now
// for at least minLease after guard, minting one only if no such token
// exists; minted tells whether the token comes from a mint this read waited
// for.
func (c *tokenCache) get(ctx context.Context, name string, guard time.Duration) (e *cacheEntry, minted bool, err error) {
	servable := func(e *cacheEntry, now time.Time) bool { return e.config.servable(e.token, now, guard) }
	for attempt := 0; ; attempt++ {
		e, err := c.current(ctx, name)
		if err != nil {
			return nil, false, err
		}
		if servable(e, c.clock.Now()) {
			c.metrics.cacheHits.WithLabelValues(name, e.config.Provider).Inc()
			c.noteRead(e)
			return e, false, nil
		}
		c.metrics.cacheMisses.WithLabelValues(name, e.config.Provider).Inc()
		if !c.writable() {
			// Vault forwards the request to the active node (of the
			// primary cluster, from a performance secondary), which mints.
			// Minting here first would mint twice.
			return nil, false, logical.ErrReadOnly
		}
		e, err = c.shareMint(ctx, e, func(cur *cacheEntry, now time.Time) bool { return !servable(cur, now) })
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

// forceRefresh mints a new token for name on demand (refresh/<name>). It
// joins a mint already in flight, and mints nothing when the current token
// is younger than minInterval, so a fleet asking at once causes one request
// to the partner.
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
			return nil, false, logical.ErrReadOnly
		}
		if attempt == 0 {
			c.metrics.forcedRefresh.WithLabelValues(name, seen.config.Provider).Inc()
		}
		if fresh(seen, c.clock.Now()) {
			return seen, false, nil
		}
		e, err = c.shareMint(ctx, seen, func(cur *cacheEntry, now time.Time) bool { return !fresh(cur, now) })
		if errors.Is(err, errConfigChanged) && attempt == 0 {
			continue
		}
		if err != nil {
			return nil, false, err
		}
		return e, !e.token.same(seen.token), nil
	}
}

// verify mints a token with cfg, a config not yet stored, under the
// writer's ctx, so a writer that gives up stops it. replaceConfig keeps
// its token and records it; a failure is recorded only for a name whose
// config is stored, so a refused write of a new name leaves nothing.
func (c *tokenCache) verify(ctx context.Context, name string, cfg *Config) (*mintResult, error) {
	done, ok := c.track()
	if !ok {
		return nil, errStopping
	}
	defer done()
	res, err := c.callPartner(ctx, name, cfg)
	if err != nil {
		lock := c.lock(name)
		lock.Lock()
		c.recordIfStored(name, res.report)
		lock.Unlock()
		return nil, err
	}
	return res, nil
}

// replaceConfig applies a config write under name's lock: merge turns the
// stored config (nil when there is none) into the new one, which is stored
// under a new ID. The token minted with the old settings is dropped
// everywhere: other nodes see the new ID and ignore it even before the
// delete reaches them. verified, when not nil, is the mint that verified
// the new config: its token is committed rather than minting again.
func (c *tokenCache) replaceConfig(ctx context.Context, name string, merge func(stored *Config) (*Config, error), verified *mintResult) (*cacheEntry, error) {
	lock := c.lock(name)
	lock.Lock()
	e, err := func() (*cacheEntry, error) {
		defer lock.Unlock()
		stored, err := readConfig(ctx, c.storage, name)
		if err != nil {
			return nil, err
		}
		cfg, err := merge(stored)
		if err != nil {
			if verified != nil && stored != nil {
				// The verified token is not stored, but its mint was
				// made: a stored config's history records it.
				c.record(name, verified.report)
			}
			return nil, err
		}
		id, err := uuid.NewRandom()
		if err != nil {
			return nil, err
		}
		cfg.ID = id.String()
		if err := writeConfig(ctx, c.storage, name, cfg); err != nil {
			return nil, err
		}
		if err := c.forget(ctx, name); err != nil {
			return nil, err
		}
		if verified == nil {
			return &cacheEntry{name: name, config: cfg}, nil
		}
		return c.commit(name, cfg, verified)
	}()
	if err == nil && verified != nil {
		// Sent once the lock is released, as for every mint.
		c.events(eventTokenMinted, name, e.config.Provider)
	}
	return e, err
}

// removeConfig deletes name's config, its token and what metrics/ and
// status/ report about it; a config write keeps those, as the history of
// the name.
func (c *tokenCache) removeConfig(ctx context.Context, name string) error {
	lock := c.lock(name)
	lock.Lock()
	defer lock.Unlock()
	if err := deleteConfig(ctx, c.storage, name); err != nil {
		return err
	}
	c.metrics.forget(name)
	c.statuses.forget(name)
	return c.forget(ctx, name)
}

// forget removes name's token from memory and storage. Callers hold the
// name's lock.
func (c *tokenCache) forget(ctx context.Context, name string) error {
	c.drop(name)
	return deleteToken(ctx, c.storage, name)
}
