package backend

import (
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/partnertoken/vault-plugin-secrets-partnertoken/internal/egress"
	"github.com/partnertoken/vault-plugin-secrets-partnertoken/internal/provider"
)

// A partner that is down, as a config's cache entry remembers it: what
// holds the reads that need a mint, who makes the next attempt, and when.

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
// a timeout, or a 5xx that named no time to come back, after the mint's
// own retries. Until next, mints of the config are answered at
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
// second, doubling up to backoffMax, less up to half of it at random
// (jitter in [0, 1)), so configs and nodes that found a partner down
// together do not all try again at the same instant. It never exceeds
// backoffMax.
func outageWait(failures int, backoffMax time.Duration, jitter float64) time.Duration {
	d := backoffMax
	if shift := max(failures-1, 0); shift < 32 && outageFirstWait<<shift < backoffMax {
		d = outageFirstWait << shift
	}
	return d - time.Duration(jitter*float64(d/2))
}

// partnerDown reports whether a failed mint's err says the partner is down:
// no answer or a timeout (status_class network), or a 5xx that did not say
// when to come back (asksToWait). An address the mount does not allow is
// the operator's to fix, not the partner's outage.
func partnerDown(err error) bool {
	perr, ok := provider.AsError(err)
	if !ok || !perr.Transient() || errors.Is(err, egress.ErrRefused) {
		return false
	}
	return perr.Status == 0 || perr.Status >= 500 && !asksToWait(perr)
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
// claims it and makes it through shareAttempt, which releases it after;
// every other caller is held, answered at once with the outage, never
// waiting on a mint that is known to fail. A forced caller that finds an
// attempt in flight joins it (shareMint) without claiming.
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

// outageSnapshot is a copy of the remembered outage, nil when none is: a
// mint during one is a single request (oneAttempt).
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

// outageHoldLocked describes the outage at now, for a caller it holds or
// for the callers of the attempt that just failed. Callers hold e.mu.
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
