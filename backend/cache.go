package backend

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/vault/sdk/helper/locksutil"
	"github.com/hashicorp/vault/sdk/logical"
	"github.com/jonboulle/clockwork"
	"golang.org/x/sync/singleflight"
)

var (
	// errNoConfig is returned for a name nobody configured.
	errNoConfig = errors.New("no such config")
	// errConfigChanged is returned by a mint whose config was rewritten
	// while the partner was answering; its token is thrown away.
	errConfigChanged = errors.New("config changed during the mint")
	// errConfigDeleted is the errConfigChanged of a config deleted while
	// the partner was answering: nothing of the mint is recorded.
	errConfigDeleted = fmt.Errorf("config deleted during the mint: %w", errConfigChanged)
	// errStopping is returned by a mint asked for while the mount shuts down.
	errStopping = errors.New("the mount is shutting down")
)

// cacheDeps is everything the token cache uses from its mount, given
// explicitly: the cache knows when to mint, the mint function how.
type cacheDeps struct {
	// ctx lives as long as the mount: mints and background refreshes run
	// in it, so a reader that disconnects does not cancel a mint other
	// readers wait for.
	ctx     context.Context
	storage logical.Storage
	clock   clockwork.Clock
	logger  hclog.Logger
	// mint asks the partner for one token with cfg's credentials.
	mint func(ctx context.Context, name string, cfg *Config) (*mintResult, error)
	// writable reports whether this node may write storage; only such a
	// node mints (WriteSafeReplicationState).
	writable func() bool
	// What every mint is reported to.
	metrics  *metrics
	statuses *mintStatuses
	events   func(eventType, name, providerName string)
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
	// background counts refreshes running outside any request, and timers
	// the armed refresh timers and their running callbacks, so that cleanup
	// can wait for all of them to end.
	background sync.WaitGroup
	timers     sync.WaitGroup
	// inFlight counts requests to partners in flight, which may outlive the
	// request that started them; stopping refuses new ones, so cleanup
	// can wait for the last.
	inFlight   sync.WaitGroup
	inFlightMu sync.Mutex
	stopping   bool
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

// track counts a mint in flight, unless the cache is stopping; done ends it.
func (c *tokenCache) track() (done func(), ok bool) {
	c.inFlightMu.Lock()
	defer c.inFlightMu.Unlock()
	if c.stopping {
		return nil, false
	}
	c.inFlight.Add(1)
	return c.inFlight.Done, true
}

// stop cancels every scheduled refresh and waits for running ones and for
// mints in flight, which the mount's cancelled context cuts short.
func (c *tokenCache) stop() {
	c.inFlightMu.Lock()
	c.stopping = true
	c.inFlightMu.Unlock()
	c.mu.Lock()
	for name, e := range c.entries {
		c.cancelRefresh(e)
		delete(c.entries, name)
	}
	c.mu.Unlock()
	c.timers.Wait()
	c.background.Wait()
	c.inFlight.Wait()
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
	// Only the first caller's function runs; the others share its result.
	// A caller whose own flight finds that a mint which ended meanwhile made
	// its own unnecessary was served by that mint too: it counts as
	// coalesced as well, so coalesced reads and mints add up to the misses.
	// A shared read is counted only while the name's config is stored, as
	// the mint is.
	minted := false
	ch := c.flights.DoChan(key, func() (any, error) {
		if cur := c.lookup(seen.name); cur != nil && cur.config.ID == seen.config.ID && !needed(cur, c.clock.Now()) {
			return flight{entry: cur, recorded: true}, nil
		}
		minted = true
		e, recorded, err := c.mintAndCommit(seen)
		return flight{entry: e, recorded: recorded}, err
	})
	select {
	case res := <-ch:
		shared := res.Val.(flight)
		if !minted && shared.recorded {
			c.metrics.coalescedReads.WithLabelValues(seen.name, seen.config.Provider).Inc()
		}
		if res.Err != nil {
			return nil, res.Err
		}
		return shared.entry, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// flight is what a shared mint gives each of its callers: the entry, and
// whether the mint was recorded (the name's config was stored when it
// ended), which decides whether a shared read is counted.
type flight struct {
	entry    *cacheEntry
	recorded bool
}

// mintAndCommit asks the partner for a token for seen's config and commits
// it to storage and memory. A refusal is remembered on the entry for the
// config's refusal_backoff, so readers do not hammer the partner with a bad
// secret; a partner's requested wait is honoured the same way. recorded
// is false when the config was deleted before the mint ended.
func (c *tokenCache) mintAndCommit(seen *cacheEntry) (e *cacheEntry, recorded bool, err error) {
	name, cfg := seen.name, seen.config
	// Counted as a whole, commit included, so cleanup waits for all of it.
	done, ok := c.track()
	if !ok {
		return nil, true, errStopping
	}
	defer done()
	if err := seen.refusal(c.clock.Now()); err != nil {
		return nil, true, err
	}
	if err := seen.partnerWait(c.clock.Now()); err != nil {
		c.metrics.retryAfterHeld.WithLabelValues(name, cfg.Provider).Inc()
		return nil, true, err
	}
	res, err := c.callPartner(c.ctx, name, cfg)
	lock := c.lock(name)
	if err != nil {
		lock.Lock()
		recorded := c.recordIfStored(name, res.report)
		lock.Unlock()
		if seen.rememberFailure(err, c.clock.Now()) {
			c.events(eventCredentialsRefused, name, cfg.Provider)
		}
		return nil, recorded, mintError(name, err)
	}
	lock.Lock()
	e, err = c.commit(name, cfg, res)
	lock.Unlock()
	if err != nil {
		return nil, !errors.Is(err, errConfigDeleted), err
	}
	// Sent once the lock is released: a slow events system must not hold
	// up the readers and writers of every name that shares the lock.
	c.events(eventTokenMinted, name, cfg.Provider)
	return e, true, nil
}

// callPartner asks the partner for a token with cfg's credentials, within
// cfg's timeout and the mount's lifetime, and logs how it went. The result
// carries its report, also when err is set: the caller records it, once
// it knows the config is still stored.
func (c *tokenCache) callPartner(ctx context.Context, name string, cfg *Config) (*mintResult, error) {
	ctx, cancel := context.WithTimeout(ctx, cfg.Timeout)
	defer cancel()
	defer context.AfterFunc(c.ctx, cancel)()
	start := c.clock.Now()
	res, err := c.mint(ctx, name, cfg)
	took := c.clock.Since(start)
	report := mintReport{provider: cfg.Provider, took: took, at: c.clock.Now(), err: err}
	if err != nil {
		c.logger.Warn("mint failed", "config", name, "provider", cfg.Provider, "status", partnerStatus(err), "duration", took.String(), "error", err.Error())
		return &mintResult{report: report}, err
	}
	c.logger.Info("minted token", "config", name, "provider", cfg.Provider, "duration", took.String(),
		"lifetime", res.token.Lifetime().Round(time.Second).String(),
		"expires_at", res.token.ExpiresAt.UTC().Format(time.RFC3339), "expiry_source", res.token.ExpirySource)
	res.report = report
	return res, nil
}

// mintReport is what metrics and status/<name> record of one mint.
type mintReport struct {
	provider string
	took     time.Duration
	at       time.Time
	err      error
}

// record reports a mint to metrics and status/<name>. Callers hold the
// name's lock and have seen its config stored: a name that was never
// stored, or was deleted while the partner answered, gets no series and
// no status, so a later config of the name starts from nothing, as
// removeConfig leaves it.
func (c *tokenCache) record(name string, r mintReport) {
	c.metrics.mintDone(r.provider, name, r.took, r.err)
	c.statuses.of(name).record(r.at, r.err)
}

// recordIfStored records a mint that stored no token, if name's config is
// stored, and reports whether it did. Callers hold the name's lock.
func (c *tokenCache) recordIfStored(name string, r mintReport) bool {
	stored, err := readConfig(c.ctx, c.storage, name)
	if err == nil && stored == nil {
		return false
	}
	// A storage failure keeps the record: the name is most likely stored.
	c.record(name, r)
	return true
}

// commit stores a minted token and makes it current, unless cfg is no
// longer the stored config: a token minted with replaced credentials is
// thrown away. When the partner took the next secret and the config still
// holds it as next, the config promotes it; otherwise the token is stored
// only if the config's current secret is the one that minted it. A mint
// that started from an entry loaded before another mint promoted the next
// secret thus neither promotes twice (which would store an empty secret)
// nor stores a token of a secret the config has dropped. Callers hold the
// name's lock.
func (c *tokenCache) commit(name string, cfg *Config, res *mintResult) (*cacheEntry, error) {
	// The storage context is the mount's: the partner may have used up the
	// request's budget, and the token must not be lost for want of time.
	latest, err := readConfig(c.ctx, c.storage, name)
	if err != nil {
		return nil, err
	}
	if latest == nil {
		c.logger.Info("discarding token: config was deleted during the mint", "config", name)
		return nil, errConfigDeleted
	}
	c.record(name, res.report)
	if latest.ID != cfg.ID {
		c.logger.Info("discarding token: config was rewritten during the mint", "config", name)
		return nil, errConfigChanged
	}
	switch {
	case res.usedNext && latest.NextClientSecret == res.secret:
		// The partner retired the old secret: promote the next one. The ID
		// stays, since the token was minted with the secret the config now holds.
		latest.ClientSecret, latest.NextClientSecret = latest.NextClientSecret, ""
		if err := writeConfig(c.ctx, c.storage, name, latest); err != nil {
			return nil, err
		}
		c.logger.Info("promoted next_client_secret to client_secret", "config", name, "provider", latest.Provider)
	case latest.ClientSecret != res.secret:
		c.logger.Info("discarding token: the secret that minted it is no longer the config's", "config", name)
		return nil, errConfigChanged
	}
	switch {
	case res.usedNextKey && latest.NextPrivateKey == res.key:
		// The partner took the next key: it becomes the current one, as
		// the next secret does, and only if it is still the pending one.
		latest.PrivateKey, latest.PrivateKeyID = latest.NextPrivateKey, latest.NextPrivateKeyID
		latest.NextPrivateKey, latest.NextPrivateKeyID = "", ""
		if err := writeConfig(c.ctx, c.storage, name, latest); err != nil {
			return nil, err
		}
		c.logger.Info("promoted next_private_key to private_key", "config", name, "provider", latest.Provider)
	case latest.PrivateKey != res.key:
		c.logger.Info("discarding token: the private key that minted it is no longer the config's", "config", name)
		return nil, errConfigChanged
	}
	stored := newStoredToken(res.token, latest.ID)
	if err := writeToken(c.ctx, c.storage, name, stored); err != nil {
		return nil, err
	}
	e := &cacheEntry{name: name, config: latest, token: stored}
	c.install(e)
	return e, nil
}
