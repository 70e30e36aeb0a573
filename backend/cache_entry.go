package backend

import (
	"fmt"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/vault/sdk/logical"
	"github.com/jonboulle/clockwork"

	"github.com/partnertoken/vault-plugin-secrets-partnertoken/internal/provider"
)

// cacheEntry is what memory holds for one config. Its config and token
// never change: a mint or a config write replaces the entry.
type cacheEntry struct {
	name   string
	config *Config
	token  *storedToken // nil when no token is cached
	// loadedAt is when the entry was read from storage or made by a mint
	// or a config write: on a standby, how old its copy of the replica is.
	loadedAt time.Time

	// inUse is set once a reader got this token: only tokens in use are
	// refreshed ahead, so an idle config costs no mints.
	inUse atomic.Bool
	// refreshing is set while a background refresh of this entry waits for
	// its turn or runs, so the timer and the periodic function never both
	// queue one.
	refreshing atomic.Bool
	// handedOver is set once a standby handed the active node a read of
	// this token due for its refresh ahead (fromReplica).
	handedOver atomic.Bool

	mu    sync.Mutex // guards the refresh schedule and what is remembered below
	timer clockwork.Timer
	// failures counts the failed background refreshes that found the
	// partner up (a storage error, an unusable answer); retryAt is when
	// the next is due, the outage's next attempt while the partner is down.
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
	// down is the partner's outage as the mints of this config met it; a
	// commit or a config write replaces the entry and ends it.
	down *outage
}

// rememberRefusal makes mints of this entry fail fast with err until until.
func (e *cacheEntry) rememberRefusal(err error, until time.Time) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.refused, e.refusedUntil = err, until
}

// refusal is the remembered refusal, if it is still in force at now.
func (e *cacheEntry) refusal(now time.Time) error {
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
func (e *cacheEntry) rememberWait(perr *provider.Error, until time.Time) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.waitErr, e.waitUntil = perr, until
}

// partnerWait is the remembered wait, if it is still in force at now.
func (e *cacheEntry) partnerWait(now time.Time) error {
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

// rememberFailure keeps what a failed mint of this entry's config says
// about the next attempt: a refusal of the credentials holds every mint
// for refusal_backoff, a partner's requested wait until it has passed, and
// a partner that is down every mint but one attempt at a time, the next
// backoff(failures) after this one. An answer that shows the partner up
// ends the outage: the refusal or the wait it brings governs instead.
func (e *cacheEntry) rememberFailure(err error, now time.Time, backoff func(failures int) time.Duration) (refused bool) {
	perr, ok := provider.AsError(err)
	if !ok {
		return false
	}
	if partnerDown(err) {
		e.rememberOutage(err, now, backoff)
		return false
	}
	e.mu.Lock()
	e.down = nil
	e.mu.Unlock()
	if perr.Refused() {
		e.rememberRefusal(mintError(e.name, err), now.Add(e.config.RefusalBackoff))
	}
	if asksToWait(perr) {
		e.rememberWait(perr, now.Add(perr.RetryAfter))
	}
	return perr.Refused()
}
