package backend

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/vault/sdk/helper/locksutil"
	"github.com/hashicorp/vault/sdk/logical"
	"github.com/jonboulle/clockwork"
	"golang.org/x/sync/singleflight"

	"github.com/partnertoken/vault-plugin-secrets-partnertoken/provider"
)

const tokenPrefix = "token/"

// errNoConfig is returned for a name nobody configured.
var errNoConfig = errors.New("no such config")

// errConfigChanged is returned by a mint whose config was rewritten while
// the partner was answering; its token is thrown away.
var errConfigChanged = errors.New("config changed during the mint")

// storedToken is a minted token as kept in storage and in memory.
type storedToken struct {
	AccessToken string            `json:"access_token"`
	TokenType   string            `json:"token_type"`
	Extra       map[string]string `json:"extra,omitempty"`
	IssuedAt    time.Time         `json:"issued_at"`
	ExpiresAt   time.Time         `json:"expires_at"`
	// ConfigID is the ID of the config that minted it.
	ConfigID string `json:"config_id"`
}

func (t *storedToken) lifetime() time.Duration { return t.ExpiresAt.Sub(t.IssuedAt) }

// same reports whether t and o are the same mint, wherever they were loaded from.
func (t *storedToken) same(o *storedToken) bool {
	return t != nil && o != nil && t.ConfigID == o.ConfigID && t.IssuedAt.Equal(o.IssuedAt) && t.AccessToken == o.AccessToken
}

// entry is what memory holds for one config. Its config and token never
// change: a mint or a config write replaces the entry.
type entry struct {
	name   string
	config *Config
	token  *storedToken // nil when no token is cached

	// read is set once a reader got this token: only tokens in use are
	// refreshed ahead, so an idle config costs no mints.
	read atomic.Bool
	// refreshing is set while a background refresh of this entry waits for
	// its turn or runs, so the timer and the periodic function never both
	// queue one.
	refreshing atomic.Bool

	mu       sync.Mutex // guards the refresh schedule and refusal below
	timer    clockwork.Timer
	failures int
	retryAt  time.Time
	dropped  bool
	// refused is the partner's refusal of these credentials, remembered
	// until refusedUntil; a config write replaces the entry and clears it.
	refused      error
	refusedUntil time.Time
	// waitErr is the partner's last answer that asked for a wait (429 or
	// 503 with Retry-After, Dinie's X-RateLimit-Reset), remembered until
	// waitUntil; a config write replaces the entry and clears it.
	waitErr   error
	waitUntil time.Time
}

// tokenCache holds one token per config. Memory answers cached reads
// without a storage round trip; storage (seal-wrapped, replicated) shares
// the token with every node and survives plugin reloads and restarts.
type tokenCache struct {
	b *backend

	mu      sync.RWMutex
	entries map[string]*entry

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
	// mints counts requests to partners in flight, which may outlive the
	// request that started them; stopping refuses new ones, so cleanup
	// can wait for the last.
	mints    sync.WaitGroup
	mintsMu  sync.Mutex
	stopping bool
	// statuses holds a *mintStatus per config name.
	statuses sync.Map
}

func newTokenCache(b *backend) *tokenCache {
	return &tokenCache{b: b, entries: map[string]*entry{}, locks: locksutil.CreateLocks()}
}

func (c *tokenCache) lock(name string) *locksutil.LockEntry {
	return locksutil.LockForKey(c.locks, name)
}

func (c *tokenCache) lookup(name string) *entry {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return c.entries[name]
}

// install makes e the current entry for its name. Callers hold the name's lock.
func (c *tokenCache) install(e *entry) {
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

// errStopping is returned by a mint asked for while the mount shuts down.
var errStopping = errors.New("the mount is shutting down")

// mintStarts counts a mint in flight, unless the cache is stopping.
func (c *tokenCache) mintStarts() bool {
	c.mintsMu.Lock()
	defer c.mintsMu.Unlock()
	if c.stopping {
		return false
	}
	c.mints.Add(1)
	return true
}

// stop cancels every scheduled refresh and waits for running ones and for
// mints in flight, which the mount's cancelled context cuts short.
func (c *tokenCache) stop() {
	c.mintsMu.Lock()
	c.stopping = true
	c.mintsMu.Unlock()
	c.mu.Lock()
	for name, e := range c.entries {
		c.cancelRefresh(e)
		delete(c.entries, name)
	}
	c.mu.Unlock()
	c.timers.Wait()
	c.background.Wait()
	c.mints.Wait()
}

// current returns the entry for name, from memory or else from storage.
func (c *tokenCache) current(ctx context.Context, name string) (*entry, error) {
	if e := c.lookup(name); e != nil {
		return e, nil
	}
	lock := c.lock(name)
	lock.Lock()
	defer lock.Unlock()
	if e := c.lookup(name); e != nil {
		return e, nil
	}
	cfg, err := readConfig(ctx, c.b.storage, name)
	if err != nil {
		return nil, err
	}
	if cfg == nil {
		return nil, errNoConfig
	}
	tok, err := readToken(ctx, c.b.storage, name)
	if err != nil {
		return nil, err
	}
	if tok != nil && tok.ConfigID != cfg.ID {
		tok = nil // minted with credentials that have since been replaced
	}
	e := &entry{name: name, config: cfg, token: tok}
	c.install(e)
	return e, nil
}

// get returns the entry for name holding a token that can be leased now
// for at least minLease after guard, minting one only if no such token
// exists; minted tells whether the token comes from a mint this read waited
// for.
func (c *tokenCache) get(ctx context.Context, name string, guard time.Duration) (e *entry, minted bool, err error) {
	for attempt := 0; ; attempt++ {
		e, err := c.current(ctx, name)
		if err != nil {
			return nil, false, err
		}
		if e.config.servable(e.token, c.b.clock.Now(), guard) {
			c.b.metrics.cacheHits.WithLabelValues(name, e.config.Provider).Inc()
			c.noteRead(e)
			return e, false, nil
		}
		c.b.metrics.cacheMisses.WithLabelValues(name, e.config.Provider).Inc()
		if !c.b.WriteSafeReplicationState() {
			// Vault forwards the request to the active node (of the
			// primary cluster, from a performance secondary), which mints.
			// Minting here first would mint twice.
			return nil, false, logical.ErrReadOnly
		}
		e, err = c.mint(ctx, e, func(cur *entry, now time.Time) bool {
			return !cur.config.servable(cur.token, now, guard)
		})
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

// mint replaces the token of seen's config, unless needed says that a mint
// that finished meanwhile made it unnecessary. Concurrent callers share one
// request to the partner; a caller that gives up does not cancel it.
func (c *tokenCache) mint(ctx context.Context, seen *entry, needed func(cur *entry, now time.Time) bool) (*entry, error) {
	key := seen.name + "\x00" + seen.config.ID
	// Only the first caller's function runs; the others share its result.
	leader := false
	ch := c.flights.DoChan(key, func() (any, error) {
		leader = true
		if cur := c.lookup(seen.name); cur != nil && cur.config.ID == seen.config.ID && !needed(cur, c.b.clock.Now()) {
			return cur, nil
		}
		return c.mintNow(seen)
	})
	select {
	case res := <-ch:
		if !leader {
			c.b.metrics.coalescedReads.WithLabelValues(seen.name, seen.config.Provider).Inc()
		}
		if res.Err != nil {
			return nil, res.Err
		}
		return res.Val.(*entry), nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// mintNow asks the partner for a token and commits it to storage and
// memory. A refusal is remembered on the entry for the config's
// refusal_backoff, so readers do not hammer the partner with a bad secret.
func (c *tokenCache) mintNow(seen *entry) (*entry, error) {
	name, cfg := seen.name, seen.config
	// Counted as a whole, commit included, so cleanup waits for all of it.
	if !c.mintStarts() {
		return nil, errStopping
	}
	defer c.mints.Done()
	if err := seen.refusal(c.b.clock.Now()); err != nil {
		return nil, err
	}
	if err := seen.partnerWait(c.b.clock.Now()); err != nil {
		c.b.metrics.retryAfterHeld.WithLabelValues(name, cfg.Provider).Inc()
		return nil, err
	}
	start := c.b.clock.Now()
	res, err := c.b.mint(c.b.ctx, name, cfg)
	took := c.b.clock.Since(start)
	c.b.metrics.mintDone(cfg, name, took, err)
	c.status(name).record(c.b.clock.Now(), err)
	if err != nil {
		c.b.Logger().Warn("mint failed", "config", name, "provider", cfg.Provider, "status", statusOf(err), "duration", took.String(), "error", err.Error())
		if perr, ok := provider.AsError(err); ok && perr.Refused() {
			seen.rememberRefusal(mintError(name, err), c.b.clock.Now().Add(cfg.RefusalBackoff))
			c.b.sendEvent(eventCredentialsRefused, name, cfg.Provider)
		}
		if perr, ok := provider.AsError(err); ok && asksToWait(perr) {
			seen.rememberWait(perr, c.b.clock.Now().Add(perr.RetryAfter))
		}
		return nil, mintError(name, err)
	}
	e, err := c.commit(name, cfg, res, took)
	if err != nil {
		return nil, err
	}
	// Sent once the lock is released: a slow events system must not hold
	// up the readers and writers of every name that shares the lock.
	c.b.sendEvent(eventTokenMinted, name, cfg.Provider)
	return e, nil
}

// commit stores a minted token and makes it current, unless the config was
// rewritten while the partner was answering.
func (c *tokenCache) commit(name string, cfg *Config, res *mintResult, took time.Duration) (*entry, error) {
	stored := newStoredToken(res.token, cfg.ID)
	lock := c.lock(name)
	lock.Lock()
	defer lock.Unlock()
	// The storage context is the mount's: the partner may have used up the
	// request's budget, and the token must not be lost for want of time.
	latest, err := readConfig(c.b.ctx, c.b.storage, name)
	if err != nil {
		return nil, err
	}
	if latest == nil || latest.ID != cfg.ID {
		c.b.Logger().Info("discarding token: config was rewritten during the mint", "config", name)
		return nil, errConfigChanged
	}
	if res.usedNext {
		// The partner retired the old secret: promote the next one. The ID
		// stays, since the token was minted with the secret the config now holds.
		latest.ClientSecret, latest.NextClientSecret = latest.NextClientSecret, ""
		if err := writeConfig(c.b.ctx, c.b.storage, name, latest); err != nil {
			return nil, err
		}
		cfg = latest
		c.b.Logger().Info("promoted next_client_secret to client_secret", "config", name, "provider", cfg.Provider)
	}
	if err := writeToken(c.b.ctx, c.b.storage, name, stored); err != nil {
		return nil, err
	}
	e := &entry{name: name, config: cfg, token: stored}
	c.install(e)
	c.b.Logger().Info("minted token", "config", name, "provider", cfg.Provider, "duration", took.String(),
		"lifetime", stored.lifetime().Round(time.Second).String(), "expires_at", stored.ExpiresAt.UTC().Format(time.RFC3339), "expiry_source", res.token.ExpirySource)
	return e, nil
}

func newStoredToken(tok *provider.Token, configID string) *storedToken {
	return &storedToken{
		AccessToken: tok.AccessToken,
		TokenType:   tok.TokenType,
		Extra:       tok.Extra,
		IssuedAt:    tok.IssuedAt,
		ExpiresAt:   tok.ExpiresAt,
		ConfigID:    configID,
	}
}

// rememberRefusal makes mints of this entry fail fast with err until until.
func (e *entry) rememberRefusal(err error, until time.Time) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.refused, e.refusedUntil = err, until
}

// refusal is the remembered refusal, if it is still in force at now.
func (e *entry) refusal(now time.Time) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.refused == nil || !now.Before(e.refusedUntil) {
		return nil
	}
	return logical.CodedError(http.StatusBadGateway, fmt.Sprintf("%s (remembered: no new attempt for another %s; fix the config's credentials to try at once)",
		e.refused.Error(), e.refusedUntil.Sub(now).Round(time.Second)))
}

// asksToWait reports whether the partner's answer named a time before
// which it will not serve this client: rate limiting (429) or a planned
// outage (503) with Retry-After, or Dinie's X-RateLimit-Reset.
func asksToWait(perr *provider.Error) bool {
	return perr.RetryAfter > 0 && (perr.Status == http.StatusTooManyRequests || perr.Status == http.StatusServiceUnavailable)
}

// rememberWait makes mints of this entry fail fast until until, without
// asking the partner, who said it would not answer before then.
func (e *entry) rememberWait(perr *provider.Error, until time.Time) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.waitErr, e.waitUntil = perr, until
}

// partnerWait is the remembered wait, if it is still in force at now.
func (e *entry) partnerWait(now time.Time) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.waitErr == nil || !now.Before(e.waitUntil) {
		return nil
	}
	perr, _ := provider.AsError(e.waitErr)
	return logical.CodedError(http.StatusBadGateway, fmt.Sprintf(
		"minting a token for config %q: the %s token endpoint answered HTTP %d and asked to wait until %s; no new request for another %s (a config write clears the wait)",
		e.name, perr.Partner, perr.Status, e.waitUntil.UTC().Format(time.RFC3339), e.waitUntil.Sub(now).Round(time.Second)))
}

// refresh mints a new token for name on demand. It joins a mint already in
// flight, and mints nothing when the current token is younger than
// minInterval, so a fleet asking at once causes one request to the partner.
func (c *tokenCache) refresh(ctx context.Context, name string, minInterval time.Duration) (e *entry, minted bool, err error) {
	for attempt := 0; ; attempt++ {
		seen, err := c.current(ctx, name)
		if err != nil {
			return nil, false, err
		}
		if !c.b.WriteSafeReplicationState() {
			return nil, false, logical.ErrReadOnly
		}
		if attempt == 0 {
			c.b.metrics.forcedRefresh.WithLabelValues(name, seen.config.Provider).Inc()
		}
		fresh := func(cur *entry, now time.Time) bool {
			return cur.token != nil && now.Sub(cur.token.IssuedAt) < minInterval
		}
		if fresh(seen, c.b.clock.Now()) {
			return seen, false, nil
		}
		e, err = c.mint(ctx, seen, func(cur *entry, now time.Time) bool { return !fresh(cur, now) })
		if errors.Is(err, errConfigChanged) && attempt == 0 {
			continue
		}
		if err != nil {
			return nil, false, err
		}
		return e, !e.token.same(seen.token), nil
	}
}

// noteRead records that a reader got e's token. The first read arms the
// refresh-ahead timer.
func (c *tokenCache) noteRead(e *entry) {
	if e.read.Load() || !e.read.CompareAndSwap(false, true) {
		return
	}
	c.schedule(e, e.config.refreshAt(e.token, c.b.delays.recent(c.b.clock.Now())))
}

// schedule arms e's refresh for at.
func (c *tokenCache) schedule(e *entry, at time.Time) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.dropped {
		return
	}
	if e.timer != nil && e.timer.Stop() {
		c.timers.Done()
	}
	c.timers.Add(1)
	e.timer = c.b.clock.AfterFunc(at.Sub(c.b.clock.Now()), func() {
		defer c.timers.Done()
		// A timer that fires late measures how starved the machine is.
		now := c.b.clock.Now()
		c.b.delays.observe(now, now.Sub(at))
		c.refreshAhead(e)
	})
}

// cancelRefresh stops e's refresh timer for good.
func (c *tokenCache) cancelRefresh(e *entry) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.dropped = true
	if e.timer != nil && e.timer.Stop() {
		c.timers.Done()
	}
	e.timer = nil
}

// refreshAhead replaces e's token in the background while readers keep
// getting it. A failure is retried with backoff for as long as the token
// can still be served; after that, readers mint themselves.
func (c *tokenCache) refreshAhead(e *entry) {
	c.background.Add(1)
	defer c.background.Done()
	if err := c.refreshNow(e); err != nil && !errors.Is(err, errConfigChanged) {
		now := c.b.clock.Now()
		e.mu.Lock()
		e.failures++
		wait := min(time.Second<<min(e.failures-1, 6), time.Minute)
		e.retryAt = now.Add(wait)
		if e.retryAt.Before(e.waitUntil) {
			// Not before the partner said it would answer again.
			e.retryAt = e.waitUntil
		}
		retryAt := e.retryAt
		e.mu.Unlock()
		c.b.sendEvent(eventRefreshFailed, e.name, e.config.Provider)
		if e.config.servable(e.token, retryAt, c.b.delays.recent(now)) {
			c.b.Logger().Warn("refresh ahead failed; still serving the current token", "config", e.name,
				"provider", e.config.Provider, "retry_in", wait.String(), "error", err.Error())
			c.schedule(e, retryAt)
		} else {
			c.b.Logger().Warn("refresh ahead failed; the next read will mint", "config", e.name,
				"provider", e.config.Provider, "error", err.Error())
		}
	}
}

// refreshNow mints a replacement for e's token if it is still current.
func (c *tokenCache) refreshNow(e *entry) error {
	if c.lookup(e.name) != e || !c.b.WriteSafeReplicationState() || !e.refreshing.CompareAndSwap(false, true) {
		return nil
	}
	defer e.refreshing.Store(false)
	// Ask Vault before the partner: the plugin process of a Vault server
	// that was killed lives on with its timers, and must not mint a token
	// it cannot store (its storage calls fail); nor is a config rewritten
	// since the timer was armed refreshed with the old credentials.
	latest, err := readConfig(c.b.ctx, c.b.storage, e.name)
	if err != nil {
		return err
	}
	if latest == nil || latest.ID != e.config.ID {
		return errConfigChanged
	}
	if p, ok := c.b.providers[e.config.Provider]; ok {
		if err := c.b.limits.wait(c.b.ctx, e.config.effectiveTokenURL(p.Spec())); err != nil {
			return err
		}
	}
	c.b.metrics.refreshAhead.WithLabelValues(e.name, e.config.Provider).Inc()
	_, err = c.mint(c.b.ctx, e, func(cur *entry, _ time.Time) bool { return cur.token.same(e.token) })
	return err
}

// refreshDue refreshes every token in use whose refresh time has passed
// and that is not waiting to retry a failure, and waits for them.
func (c *tokenCache) refreshDue() {
	now := c.b.clock.Now()
	guard := c.b.delays.recent(now)
	c.mu.RLock()
	var due []*entry
	for _, e := range c.entries {
		if e.token == nil || !e.read.Load() || now.Before(e.config.refreshAt(e.token, guard)) {
			continue
		}
		e.mu.Lock()
		waiting := now.Before(e.retryAt)
		e.mu.Unlock()
		if !waiting {
			due = append(due, e)
		}
	}
	c.mu.RUnlock()

	var wg sync.WaitGroup
	for _, e := range due {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c.refreshAhead(e)
		}()
	}
	wg.Wait()
}

// forget removes name's config and token from memory and storage.
// Callers hold the name's lock.
func (c *tokenCache) forget(ctx context.Context, s logical.Storage, name string) error {
	c.drop(name)
	c.statuses.Delete(name)
	if err := s.Delete(ctx, tokenPrefix+name); err != nil {
		return fmt.Errorf("deleting the cached token of %q: %w", name, err)
	}
	return nil
}

func readToken(ctx context.Context, s logical.Storage, name string) (*storedToken, error) {
	entry, err := s.Get(ctx, tokenPrefix+name)
	if err != nil {
		return nil, fmt.Errorf("reading the cached token of %q: %w", name, err)
	}
	if entry == nil {
		return nil, nil
	}
	var tok storedToken
	if err := entry.DecodeJSON(&tok); err != nil {
		return nil, fmt.Errorf("decoding the cached token of %q: %w", name, err)
	}
	return &tok, nil
}

func writeToken(ctx context.Context, s logical.Storage, name string, tok *storedToken) error {
	entry, err := logical.StorageEntryJSON(tokenPrefix+name, tok)
	if err != nil {
		return fmt.Errorf("encoding the token of %q: %w", name, err)
	}
	if err := s.Put(ctx, entry); err != nil {
		return fmt.Errorf("storing the token of %q: %w", name, err)
	}
	return nil
}
