package backend

import (
	"context"
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/vault/sdk/helper/locksutil"
	"github.com/hashicorp/vault/sdk/logical"
	"github.com/jonboulle/clockwork"
	"golang.org/x/sync/singleflight"
)

// cacheDeps is everything the token cache uses from its mount, given
// explicitly: the cache knows when to mint, requestToken how.
type cacheDeps struct {
	// ctx lives as long as the mount: mints and background refreshes run
	// in it, so a reader that disconnects does not cancel a mint other
	// readers wait for.
	ctx     context.Context
	storage logical.Storage
	clock   clockwork.Clock
	logger  hclog.Logger
	// requestToken asks the partner for one token with cfg's credentials.
	requestToken func(ctx context.Context, name string, cfg *Config) (*mintResult, error)
	// writable reports whether this node may write storage; only such a
	// node mints (WriteSafeReplicationState).
	writable func() bool
	// What every mint is reported to.
	metrics   *metrics
	lastMints *lastMints
	events    func(eventType, name, providerName string)
	// limits paces background refreshes per partner endpoint.
	limits *refreshLimits
	// delays is the recent delays leases leave room for; a refresh timer
	// that fires late adds to them.
	delays *delayWatch
}

// tokenCache holds one token per config. Memory answers cached reads
// without a storage round trip; storage (seal-wrapped, replicated) shares
// the token with every node and survives plugin reloads and restarts.
type tokenCache struct {
	cacheDeps

	mu      sync.RWMutex
	entries map[string]*cacheEntry

	// flights coalesces concurrent mints of one config into one request.
	flights singleflight.Group
	// locks orders, per name, config writes against the commit of a mint,
	// so a token minted with replaced credentials is never stored.
	locks []*locksutil.LockEntry
	// work counts what runs in the background for the mount: shared
	// mints, which outlive a reader that gives up, background refreshes and
	// verifying mints, so that stop can wait for them. Only start adds to it.
	work sync.WaitGroup
}

func newTokenCache(deps cacheDeps) *tokenCache {
	return &tokenCache{cacheDeps: deps, entries: map[string]*cacheEntry{}, locks: locksutil.CreateLocks()}
}

// lock is name's lock, held by config writes and by the commit of a mint.
func (c *tokenCache) lock(name string) *locksutil.LockEntry {
	return locksutil.LockForKey(c.locks, name)
}

func (c *tokenCache) lookup(name string) *cacheEntry {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return c.entries[name]
}

// install makes e the current entry for its name. Callers hold the name's lock.
func (c *tokenCache) install(e *cacheEntry) {
	c.mu.Lock()
	old := c.entries[e.name]
	c.entries[e.name] = e
	c.mu.Unlock()
	if old != nil {
		c.cancelRefresh(old)
	}
}

// drop forgets what memory holds for name; the next read loads it again.
func (c *tokenCache) drop(name string) {
	c.mu.Lock()
	old := c.entries[name]
	delete(c.entries, name)
	c.mu.Unlock()
	if old != nil {
		c.cancelRefresh(old)
	}
}

// start runs f in the background unless the mount is stopping, and
// reports whether it did. Checking the mount's context under mu orders
// every start before stop's Wait: stop takes mu only after the context is
// cancelled, so a start that finds it live added to work before stop waits.
func (c *tokenCache) start(f func()) bool {
	c.mu.RLock()
	defer c.mu.RUnlock()
	if c.ctx.Err() != nil {
		return false
	}
	c.work.Go(f)
	return true
}

// stop cancels every scheduled refresh and waits for the work started
// before the mount's context, which the caller cancels first, ended; the
// cancelled context cuts mints in flight short.
func (c *tokenCache) stop() {
	c.mu.Lock()
	for name, e := range c.entries {
		c.cancelRefresh(e)
		delete(c.entries, name)
	}
	c.mu.Unlock()
	c.work.Wait()
}

// current returns the entry for name, from memory or else from storage.
func (c *tokenCache) current(ctx context.Context, name string) (*cacheEntry, error) {
	if e := c.lookup(name); e != nil {
		return e, nil
	}
	lock := c.lock(name)
	lock.Lock()
	defer lock.Unlock()
	if e := c.lookup(name); e != nil {
		return e, nil
	}
	cfg, err := readConfig(ctx, c.storage, name)
	if err != nil {
		return nil, err
	}
	if cfg == nil {
		return nil, errNoConfig
	}
	tok, err := readToken(ctx, c.storage, name)
	if err != nil {
		return nil, err
	}
	if tok != nil && tok.ConfigID != cfg.ID {
		tok = nil // minted with credentials that have since been replaced
	}
	e := &cacheEntry{name: name, config: cfg, token: tok}
	c.install(e)
	return e, nil
}

// shareMint replaces the token of seen's config, unless needed says that a
// mint that finished meanwhile made it unnecessary. Concurrent callers share
// one request to the partner; a caller that gives up does not cancel it.
func (c *tokenCache) shareMint(ctx context.Context, seen *cacheEntry, needed func(cur *cacheEntry, now time.Time) bool) (*cacheEntry, error) {
	key := seen.name + "\x00" + seen.config.ID
	type answer struct {
		entry *cacheEntry
		err   error
		// minted is set for the caller whose own function minted; the
		// others, and a caller whose flight found that a mint which ended
		// meanwhile made its own unnecessary, were served by another's
		// mint and count as coalesced, so coalesced reads and mints add up
		// to the misses.
		minted bool
	}
	answers := make(chan answer, 1)
	started := c.start(func() {
		var a answer
		var event string
		v, err, _ := c.flights.Do(key, func() (any, error) {
			if cur := c.lookup(seen.name); cur != nil && cur.config.ID == seen.config.ID && !needed(cur, c.clock.Now()) {
				return cur, nil
			}
			a.minted = true
			e, ev, err := c.mintAndCommit(seen)
			event = ev
			return e, err
		})
		a.entry, _ = v.(*cacheEntry)
		a.err = err
		answers <- a
		// Sent once the flight is over and every caller has its answer:
		// readers waiting on a mint never wait on the events system.
		if event != "" {
			c.events(event, seen.name, seen.config.Provider)
		}
	})
	if !started {
		return nil, errStopping
	}
	select {
	case a := <-answers:
		if !a.minted {
			c.metrics.coalescedReads.WithLabelValues(seen.name, seen.config.Provider).Inc()
		}
		if a.err != nil {
			return nil, a.err
		}
		return a.entry, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// mintAndCommit asks the partner for a token for seen's config and commits
// it to storage and memory, and says which event to send for it. A refusal
// is remembered on the entry for the config's refusal_backoff, so readers
// do not hammer the partner with a bad secret; a partner's requested wait
// is honoured the same way.
func (c *tokenCache) mintAndCommit(seen *cacheEntry) (e *cacheEntry, event string, err error) {
	name, cfg := seen.name, seen.config
	if err := seen.refusal(c.clock.Now()); err != nil {
		return nil, "", err
	}
	if err := seen.partnerWait(c.clock.Now()); err != nil {
		c.metrics.retryAfterHeld.WithLabelValues(name, cfg.Provider).Inc()
		return nil, "", err
	}
	res, err := c.mintAndReport(c.ctx, name, cfg)
	if err != nil {
		if seen.rememberFailure(err, c.clock.Now()) {
			event = eventCredentialsRefused
		}
		return nil, event, mintError(name, err)
	}
	lock := c.lock(name)
	lock.Lock()
	defer lock.Unlock()
	if e, err = c.commit(name, cfg, res); err != nil {
		return nil, "", err
	}
	return e, eventTokenMinted, nil
}

// mintAndReport has the partner mint a token with cfg's credentials
// (requestToken), within cfg's timeout and the mount's lifetime, and
// reports it as every mint is reported: metrics, status/<name> and the log.
func (c *tokenCache) mintAndReport(ctx context.Context, name string, cfg *Config) (*mintResult, error) {
	ctx, cancel := context.WithTimeout(ctx, cfg.Timeout)
	defer cancel()
	defer context.AfterFunc(c.ctx, cancel)()
	start := c.clock.Now()
	res, err := c.requestToken(ctx, name, cfg)
	took := c.clock.Since(start)
	c.metrics.mintDone(cfg, name, took, err)
	c.lastMints.of(name).record(c.clock.Now(), err)
	if err != nil {
		c.logger.Warn("mint failed", "config", name, "provider", cfg.Provider, "status", partnerStatus(err), "duration", took.String(), "error", err.Error())
		return nil, err
	}
	c.logger.Info("minted token", "config", name, "provider", cfg.Provider, "duration", took.String(),
		"lifetime", res.token.Lifetime().Round(time.Second).String(),
		"expires_at", res.token.ExpiresAt.UTC().Format(time.RFC3339), "expiry_source", res.token.ExpirySource)
	return res, nil
}

// commit stores a minted token and makes it current, unless cfg is no
// longer the stored config: a token minted with replaced credentials is
// thrown away. When the partner took the next secret, the config promotes
// it. Callers hold the name's lock.
func (c *tokenCache) commit(name string, cfg *Config, res *mintResult) (*cacheEntry, error) {
	// The storage context is the mount's: the partner may have used up the
	// request's budget, and the token must not be lost for want of time.
	latest, err := readConfig(c.ctx, c.storage, name)
	if err != nil {
		return nil, err
	}
	if latest == nil || latest.ID != cfg.ID {
		c.logger.Info("discarding token: config was rewritten during the mint", "config", name)
		return nil, errConfigChanged
	}
	if res.usedNext {
		// The partner retired the old secret: promote the next one. The ID
		// stays, since the token was minted with the secret the config now holds.
		latest.ClientSecret, latest.NextClientSecret = latest.NextClientSecret, ""
		if err := writeConfig(c.ctx, c.storage, name, latest); err != nil {
			return nil, err
		}
		c.logger.Info("promoted next_client_secret to client_secret", "config", name, "provider", latest.Provider)
	}
	stored := newStoredToken(res.token, latest.ID)
	if err := writeToken(c.ctx, c.storage, name, stored); err != nil {
		return nil, err
	}
	e := &cacheEntry{name: name, config: latest, token: stored}
	c.install(e)
	return e, nil
}
