package backend

import (
	"errors"
	"fmt"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/vault/sdk/logical"
	"github.com/jonboulle/clockwork"

	"github.com/partnertoken/vault-plugin-secrets-partnertoken/internal/egress"
	"github.com/partnertoken/vault-plugin-secrets-partnertoken/internal/provider"
)

// cacheEntry is what memory holds for one config. Its config and token
// never change: a mint or a config write replaces the entry.
type cacheEntry struct {
	name   string
	config *Config
	token  *storedToken // nil when no token is cached

	// inUse is set once a reader got this token: only tokens in use are
	// refreshed ahead, so an idle config costs no mints.
	inUse atomic.Bool
	// refreshing is set while a background refresh of this entry waits for
	// its turn or runs, so the timer and the periodic function never both
	// queue one.
	refreshing atomic.Bool

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

const (
	// outageFirstWait is the wait after the mint that found a partner
	// down; it doubles with every failed attempt, up to the mount's
	// outage_backoff_max.
	outageFirstWait = time.Second
	// defaultOutageBackoffMax is outage_backoff_max when the mount's
	// settings do not set it.
	defaultOutageBackoffMax = 30 * time.Second
)

// outage is a partner that stopped answering a config's mints: no answer,
// a timeout, or a 5xx (408, 429) that named no time to come back, after
// the mint's own retries. Until next, mints of the config are answered at
// once, without asking the partner; then one attempt at a time asks again,
// a single request each, and its failure sets the next. See
// docs/how-it-works.md#when-a-partner-is-down.
type outage struct {
	since    time.Time
	failures int   // failed attempts, the mint that found the partner down included
	last     error // the last failure, redacted as every partner error is
	next     time.Time
	// attempting is set while the one attempt asks the partner.
	attempting bool
}

// outageWait is the wait after an outage's failures'th failed attempt: a
// second, doubling up to max, less up to half of it at random (jitter in
// [0, 1)), so configs and nodes that found a partner down together do not
// all try again at the same instant. It never exceeds max.
func outageWait(failures int, max time.Duration, jitter float64) time.Duration {
	d := max
	if shift := failures - 1; shift < 32 && outageFirstWait<<shift < max {
		d = outageFirstWait << shift
	}
	return d - time.Duration(jitter*float64(d/2))
}

// partnerDown reports whether a failed mint's err says the partner is down:
// no answer, a timeout, or a transient failure (a 5xx, 408, 429) that did
// not say when to come back (asksToWait). An address the mount does not
// allow is the operator's to fix, not the partner's outage.
func partnerDown(err error) bool {
	perr, ok := provider.AsError(err)
	return ok && perr.Transient() && !asksToWait(perr) && !errors.Is(err, egress.ErrRefused)
}

// rememberOutage records a failed attempt at a partner that is down, and
// when the next one is due.
func (e *cacheEntry) rememberOutage(err error, now time.Time, backoff func(failures int) time.Duration) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.down == nil {
		e.down = &outage{since: now}
	}
	e.down.failures++
	e.down.last = err
	e.down.next = now.Add(backoff(e.down.failures))
	e.down.attempting = false
}

// claimAttempt decides whether a caller that needs a mint of this entry's
// config may ask the partner now. Without a remembered outage it may:
// claimed is false, and the mint goes as usual, retries included. During
// one, the caller that finds the next attempt due (or any, with force)
// claims it, makes it and calls releaseAttempt after; every other caller
// is held, answered at once with the outage, never waiting on a mint that
// is known to fail. A forced caller that finds an attempt in flight joins
// it (shareMint) without claiming.
func (e *cacheEntry) claimAttempt(now time.Time, force bool) (claimed bool, held error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	switch {
	case e.down == nil:
		return false, nil
	case e.down.attempting && force:
		return false, nil
	case e.down.attempting, !force && now.Before(e.down.next):
		return false, e.outageHoldLocked(now)
	}
	e.down.attempting = true
	return true, nil
}

// releaseAttempt ends an attempt claimAttempt granted, whatever became of
// it: a failure has set the next attempt, a success replaced the entry.
func (e *cacheEntry) releaseAttempt() {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.down != nil {
		e.down.attempting = false
	}
}

// partnerIsDown reports whether an outage is remembered: an attempt during
// it is a single request, the outage's back-off spacing the attempts.
func (e *cacheEntry) partnerIsDown() bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.down != nil
}

// outageSnapshot is a copy of the remembered outage, nil when none is.
func (e *cacheEntry) outageSnapshot() *outage {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.down == nil {
		return nil
	}
	o := *e.down
	return &o
}

// outageHold is the answer to a mint asked for during an outage before its
// next attempt is due, or while it is in flight: a 502 that names the
// partner, the last error and when the next attempt is due.
type outageHold struct{ message string }

func (h *outageHold) Error() string { return h.message }

// Code makes it a logical.HTTPCodedError, which Vault answers with its status.
func (h *outageHold) Code() int { return http.StatusBadGateway }

// outageHold describes the outage at now, for a caller it holds or for the
// callers of the attempt that just failed. Callers hold e.mu.
func (e *cacheEntry) outageHoldLocked(now time.Time) *outageHold {
	o := e.down
	partner := e.config.Provider
	if perr, ok := provider.AsError(o.last); ok {
		partner = perr.Partner
	}
	attempts := "1 attempt"
	if o.failures > 1 {
		attempts = fmt.Sprintf("%d attempts", o.failures)
	}
	next := "the next attempt is in flight"
	if !o.attempting {
		next = fmt.Sprintf("next attempt at %s, in %s", rfc3339(o.next), max(o.next.Sub(now), 0).Round(time.Second))
	}
	return &outageHold{message: fmt.Sprintf(
		"minting a token for config %q: the %s token endpoint is down, %s failed since %s, the last: %s; %s (refresh/%s tries at once, a config write clears this)",
		e.name, partner, attempts, rfc3339(o.since), o.last.Error(), next, e.name)}
}

// outageError is outageHoldLocked for callers that do not hold e.mu.
func (e *cacheEntry) outageError(now time.Time) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.down == nil {
		return nil
	}
	return e.outageHoldLocked(now)
}
