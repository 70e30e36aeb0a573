package backend

import (
	"context"
	"sync"

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
	requestToken func(ctx context.Context, name string, cfg *Config, attempts mintAttempts) (*mintResult, error)
	// jitter draws in [0, 1) how much of its back-off an outage's next
	// attempt waits less.
	jitter func() float64
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
	// invalidations counts the names another node wrote (invalidate), so
	// an entry loaded from storage while one arrived is not kept: it may
	// hold what the write replaced. Guarded by mu.
	invalidations uint64

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
	c.replaced(old, e)
}

// installLoaded installs e, loaded from storage after the count of
// invalidations was seen, unless another arrived since: e then serves the
// read that loaded it only, and the next read loads again. Callers hold
// the name's lock.
func (c *tokenCache) installLoaded(e *cacheEntry, seen uint64) {
	c.mu.Lock()
	if c.invalidations != seen {
		c.mu.Unlock()
		return
	}
	old := c.entries[e.name]
	c.entries[e.name] = e
	c.mu.Unlock()
	c.replaced(old, e)
}

// replaced follows e's install in place of old (nil if none): old stops
// refreshing, and the token gauges show e's token.
func (c *tokenCache) replaced(old, e *cacheEntry) {
	if old != nil {
		c.cancelRefresh(old)
	}
	if e.token == nil {
		c.metrics.tokenGone(e.name)
	} else {
		c.metrics.tokenCurrent(e.name, e.config.Provider, e.token, e.config.refreshAt(e.token, c.delays.allowance(c.clock.Now())))
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
	c.metrics.tokenGone(name)
}

// invalidate drops name after another node wrote its config or token: the
// next read loads them from storage, where the write already is, and a
// load under way keeps its entry out of memory.
func (c *tokenCache) invalidate(name string) {
	c.mu.Lock()
	c.invalidations++
	c.mu.Unlock()
	c.drop(name)
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
	c.mu.RLock()
	seen := c.invalidations
	c.mu.RUnlock()
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
	c.metrics.configStored(name, cfg.Provider)
	e := &cacheEntry{name: name, config: cfg, token: tok, loadedAt: c.clock.Now()}
	c.installLoaded(e, seen)
	return e, nil
}
