package backend

import (
	"context"
	"errors"
	"net/url"
	"sync"
	"time"

	"github.com/hashicorp/vault/sdk/logical"
	"github.com/jonboulle/clockwork"
	"golang.org/x/time/rate"
)

// Refresh ahead: a token that readers use is replaced in the background
// before its leases end, by a timer armed on its first read and by the
// periodic sweep (refreshDue) as a backstop; a failure is retried with
// back-off (the outage's while the partner is down), and each partner
// endpoint sees at most refresh_rate of them a second.

// noteRead records that a reader got e's token. The first read arms the
// refresh-ahead timer.
func (c *tokenCache) noteRead(e *cacheEntry) {
	if e.inUse.Load() || !e.inUse.CompareAndSwap(false, true) {
		return
	}
	c.schedule(e, e.config.refreshAt(e.token, c.delays.allowance(c.clock.Now())))
}

// schedule arms e's refresh for at.
func (c *tokenCache) schedule(e *cacheEntry, at time.Time) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.dropped {
		return
	}
	if e.timer != nil {
		e.timer.Stop()
	}
	e.timer = c.clock.AfterFunc(at.Sub(c.clock.Now()), func() {
		// A timer that fires late measures how starved the machine is.
		now := c.clock.Now()
		c.delays.observe(now, now.Sub(at))
		c.start(func() { c.refreshInBackground(e) })
	})
}

// cancelRefresh stops e's refresh timer for good.
func (c *tokenCache) cancelRefresh(e *cacheEntry) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.dropped = true
	if e.timer != nil {
		e.timer.Stop()
	}
	e.timer = nil
}

// refreshInBackground replaces e's token in the background while readers keep
// getting it. A failure is tried again for as long as the token can still
// be served, on one schedule with the reads: while the partner is down, at
// the outage's next attempt; otherwise with back-off, not before a wait
// the partner asked for or a refusal's end. After that, reads mint
// themselves (or, while the partner is down, make the attempts).
func (c *tokenCache) refreshInBackground(e *cacheEntry) {
	err := c.refreshIfCurrent(e)
	if err == nil || errors.Is(err, errConfigChanged) {
		return
	}
	now := c.clock.Now()
	failed := !errors.Is(err, errAttemptNotDue)
	e.mu.Lock()
	switch {
	case e.down != nil:
		// An attempt in flight sets the next one when it fails: look
		// again a second from now.
		e.retryAt = latest(e.down.next, now.Add(outageFirstWait))
	case failed:
		e.failures++
		e.retryAt = latest(now.Add(min(time.Second<<min(e.failures-1, 6), time.Minute)), e.waitUntil, e.refusedUntil)
	}
	retryAt := e.retryAt
	e.mu.Unlock()
	servable := e.config.servable(e.token, retryAt, c.delays.allowance(now))
	if failed {
		c.events(eventRefreshFailed, e.name, e.config.Provider)
		if servable {
			c.logger.Warn("refresh ahead failed; still serving the current token", "config", e.name,
				"provider", e.config.Provider, "retry_in", retryAt.Sub(now).String(), "error", err.Error())
		} else {
			c.logger.Warn("refresh ahead failed; the next read will mint", "config", e.name,
				"provider", e.config.Provider, "error", err.Error())
		}
	}
	if servable {
		c.schedule(e, retryAt)
	}
}

// latest is the latest of times.
func latest(times ...time.Time) time.Time {
	var out time.Time
	for _, t := range times {
		if t.After(out) {
			out = t
		}
	}
	return out
}

// errAttemptNotDue holds a background refresh during an outage whose next
// attempt is not due, or is in flight: not a failure of its own.
var errAttemptNotDue = errors.New("the partner is down and its next attempt is not due")

// refreshIfCurrent mints a replacement for e's token if it is still current.
func (c *tokenCache) refreshIfCurrent(e *cacheEntry) error {
	if c.lookup(e.name) != e || !c.writable() || !e.refreshing.CompareAndSwap(false, true) {
		return nil
	}
	defer e.refreshing.Store(false)
	// Ask Vault before the partner: the plugin process of a Vault server
	// that was killed lives on with its timers, and must not mint a token
	// it cannot store (its storage calls fail); nor is a config rewritten
	// since the timer was armed refreshed with the old credentials.
	latest, err := readConfig(c.ctx, c.storage, e.name)
	if err != nil {
		return err
	}
	if latest == nil || latest.ID != e.config.ID {
		return errConfigChanged
	}
	if err := c.limits.wait(c.ctx, e.config); err != nil {
		return err
	}
	claimed, held := e.claimAttempt(c.clock.Now(), false)
	if held != nil {
		return errAttemptNotDue
	}
	c.metrics.refreshAhead.WithLabelValues(e.name, e.config.Provider).Inc()
	_, err = c.shareAttempt(c.ctx, e, claimed, func(cur *cacheEntry, _ time.Time) bool { return cur.token.same(e.token) })
	return err
}

// refreshDue refreshes every token in use whose refresh time has passed
// and that is not waiting to retry a failure, and waits for them.
func (c *tokenCache) refreshDue() {
	now := c.clock.Now()
	allowance := c.delays.allowance(now)
	c.mu.RLock()
	var due []*cacheEntry
	for _, e := range c.entries {
		if e.token == nil || !e.inUse.Load() || now.Before(e.config.refreshAt(e.token, allowance)) {
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

	finished := make(chan struct{}, len(due))
	started := 0
	for _, e := range due {
		if c.start(func() {
			c.refreshInBackground(e)
			finished <- struct{}{}
		}) {
			started++
		}
	}
	for range started {
		<-finished
	}
}

// refreshLimits holds one rate limiter per partner endpoint host.
type refreshLimits struct {
	storage logical.Storage
	clock   clockwork.Clock
	// tokenURL is where a config's tokens are requested from; its host
	// names the endpoint.
	tokenURL func(*Config) string

	mu       sync.Mutex
	rate     float64 // 0 until loaded from storage
	limiters map[string]*rate.Limiter
}

func (l *refreshLimits) reset() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.rate, l.limiters = 0, nil
}

// wait blocks a background refresh of cfg's token until its partner
// endpoint may see it. The limiter is asked with the engine's clock, and
// the wait is on it too.
func (l *refreshLimits) wait(ctx context.Context, cfg *Config) error {
	tokenURL := l.tokenURL(cfg)
	if tokenURL == "" {
		return nil // a provider this version does not have: the mint fails anyway
	}
	limiter, err := l.limiter(ctx, tokenURL)
	if err != nil {
		return err
	}
	now := l.clock.Now()
	turn := limiter.ReserveN(now, 1)
	delay := turn.DelayFrom(now)
	if delay == 0 {
		return nil
	}
	timer := l.clock.NewTimer(delay)
	defer timer.Stop()
	select {
	case <-timer.Chan():
		return nil
	case <-ctx.Done():
		turn.CancelAt(l.clock.Now())
		return ctx.Err()
	}
}

func (l *refreshLimits) limiter(ctx context.Context, tokenURL string) (*rate.Limiter, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.rate == 0 {
		s, err := readSettings(ctx, l.storage)
		if err != nil {
			return nil, err
		}
		l.rate, l.limiters = s.RefreshRate, map[string]*rate.Limiter{}
	}
	host := tokenURL
	if u, err := url.Parse(tokenURL); err == nil {
		host = u.Host
	}
	limiter, ok := l.limiters[host]
	if !ok {
		limiter = rate.NewLimiter(rate.Limit(l.rate), max(1, int(l.rate)))
		l.limiters[host] = limiter
	}
	return limiter, nil
}
