package backend

import (
	"context"

	"github.com/google/uuid"
)

// What config writes and deletes ask of the token cache: a mint that
// verifies credentials before they are stored, the write itself and the
// delete, each under the name's lock.

// verify mints a token with cfg, a config not yet stored, under the
// writer's ctx, so a writer that gives up stops it. It runs as background
// work, so that cleanup waits for it. replaceConfig keeps its token and
// records it; a failure is recorded only for a name whose config is
// stored, so a refused write of a new name leaves nothing.
func (c *tokenCache) verify(ctx context.Context, name string, cfg *Config) (res *mintResult, err error) {
	done := make(chan struct{})
	if !c.start(func() {
		defer close(done)
		res, err = c.timedMint(ctx, name, cfg, retryWithinTimeout)
	}) {
		return nil, errStopping
	}
	<-done
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
		c.metrics.configStored(name, cfg.Provider)
		if err := c.discardToken(ctx, name); err != nil {
			return nil, err
		}
		if verified == nil {
			return &cacheEntry{name: name, config: cfg, loadedAt: c.clock.Now()}, nil
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
	c.metrics.deleteSeries(name)
	c.lastMints.remove(name)
	return c.discardToken(ctx, name)
}

// discardToken removes name's token from memory and storage. Callers hold the
// name's lock.
func (c *tokenCache) discardToken(ctx context.Context, name string) error {
	c.drop(name)
	return deleteToken(ctx, c.storage, name)
}
