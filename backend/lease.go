package backend

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"time"

	"github.com/hashicorp/vault/sdk/logical"
)

// What a read of token/<name> is leased as: the lease a read gets (lease),
// its answer with a Vault lease or, with lease_mode=none, without one, and
// what a renewal keeps a lease for. The timing rules they apply are in
// lease_rules.go; the delay allowance that shortens every lease is
// delayWatch, below.

// grant is the lease one read gets: ttl from at, shortened by allowance.
type grant struct {
	entry          *cacheEntry
	ttl, allowance time.Duration
	at             time.Time
}

// lease finds the token for a read that arrived at arrived and the lease
// it gets, at least minLease long and ending before the token's safe end
// even after the delays the answer may meet on its way to the reader: the
// lease is counted from the request's arrival, and shortened by the delay
// allowance, which the read's own time in the engine may raise
// (docs/how-it-works.md#leases-and-delays).
func (b *backend) lease(ctx context.Context, name string, arrived time.Time) (*grant, error) {
	tally := readTally{metrics: b.metrics, name: name}
	defer tally.done()
	allowance := b.delays.allowance(arrived)
	for attempt := 0; ; attempt++ {
		e, minted, err := b.cache.get(ctx, name, allowance, &tally)
		if err != nil {
			return nil, err
		}
		now := b.clock.Now()
		if !minted {
			// A mint's wait is the partner's, not the machine's: only
			// cached reads measure how slow the engine is.
			b.delays.observe(now, now.Sub(arrived))
			allowance = max(allowance, now.Sub(arrived))
		}
		allowance = max(allowance, b.delays.allowance(now))
		ttl := e.config.leaseTTL(e.token, now, allowance, b.System().MaxLeaseTTL(), b.jitter())
		// A fresh token is served if it can be leased at all; a cached one
		// only with minServedLease left (see there).
		if ttl >= minServedLease || (minted && ttl >= minLease) {
			return &grant{entry: e, ttl: ttl, allowance: allowance, at: now}, nil
		}
		if minted || attempt > 0 {
			return nil, tooShortToLease(name, e, now, allowance)
		}
		// Time passed, or the allowance grew, since the token was found
		// servable: look again, which mints.
	}
}

// tooShortToLease is the 502 for a token that cannot be leased for
// minLease even right after its mint: leasing it anyway would let the lease
// outlive the token, and every read would mint again.
func tooShortToLease(name string, e *cacheEntry, now time.Time, allowance time.Duration) error {
	tok := e.token
	life := tok.lifetime()
	return logical.CodedError(http.StatusBadGateway, fmt.Sprintf(
		"the partner's token for config %q lives %s, too short to lease: after the %s expiry margin, "+
			"the %s the mint and the answer took and %s kept for delays, less than %s was left before it expires; "+
			"ask the partner for longer-lived tokens or lower expiry_margin",
		name, life.Round(10*time.Millisecond), e.config.margin(life), now.Sub(tok.IssuedAt).Round(10*time.Millisecond),
		allowance.Round(10*time.Millisecond), minLease))
}

// tokenData is what every read returns of tok: never the config's secrets.
func tokenData(tok *storedToken) map[string]any {
	data := make(map[string]any, len(tok.Extra)+5)
	for k, v := range tok.Extra {
		data[k] = v
	}
	data["access_token"] = tok.AccessToken
	data["token_type"] = tok.TokenType
	data["expires_at"] = tok.ExpiresAt.UTC().Format(time.RFC3339)
	return data
}

// leasedResponse shapes a cached token as a lease that ends g.ttl from now.
// A renewable lease (the default) starts with the config's renewal period
// and renewals keep it for as much, never past that end (renewalTTL).
func (b *backend) leasedResponse(g *grant) *logical.Response {
	cfg, tok := g.entry.config, g.entry.token
	internal := map[string]any{"config": g.entry.name}
	ttl := g.ttl
	if cfg.renewable() {
		// A TTL of at most the lease less a second: the holder's first
		// renewal, at once, then returns the whole TTL (left is truncated
		// to whole seconds), so its LifetimeWatcher does not give up at
		// once and re-read within the same second
		// (docs/how-it-works.md#the-two-second-floor).
		period := cfg.renewalPeriod(tok, g.allowance)
		ttl = min(max(g.ttl-time.Second, minLease), period)
	}
	resp := b.Secret(secretTokenType).Response(tokenData(tok), internal)
	resp.Secret.TTL = ttl
	resp.Secret.MaxTTL = g.ttl
	resp.Secret.Renewable = cfg.renewable()
	return resp
}

// The ways token/<name> can be read (config field lease_mode).
const (
	// leaseModePerRead makes every read a Vault lease: right for Vault Agent
	// templates and Vault Proxy's cache, which read once per lease.
	leaseModePerRead = "per_read"
	// leaseModeNone returns the token with no lease, for readers that read
	// on every request: a lease per read would pile up in Vault's expiration
	// manager (docs/how-it-works.md#why-lease_modenone-exists).
	leaseModeNone = "none"
)

func (c *Config) leaseMode() string {
	if c.LeaseMode == "" {
		return leaseModePerRead
	}
	return c.LeaseMode
}

func validateLeaseMode(mode string) error {
	switch mode {
	case "", leaseModePerRead, leaseModeNone:
		return nil
	}
	return fmt.Errorf("lease_mode must be %s (a Vault lease per read) or %s (no lease; ttl and rotation_period tell when to read again), not %q",
		leaseModePerRead, leaseModeNone, mode)
}

// unleasedResponse shapes a token for lease_mode=none: no Secret, so Vault
// keeps no lease, with ttl and rotation_period as Vault's database static
// roles return them, which Vault Agent reads as when to read again
// (docs/how-it-works.md#reads-without-a-lease).
func (b *backend) unleasedResponse(e *cacheEntry, now time.Time, allowance time.Duration) *logical.Response {
	resp := &logical.Response{Data: tokenData(e.token)}
	resp.Data["ttl"] = int64(e.config.rereadTTL(e.token, now, allowance) / time.Second)
	resp.Data["rotation_period"] = int64(e.token.lifetime().Round(time.Second) / time.Second)
	return resp
}

const (
	// internalEnd and internalPeriod are the keys, in the internal data
	// of leases granted by v0.1.0, of the instant the lease was granted
	// until and of its renewal period in seconds. Leases now carry
	// neither (leaseEndOf, periodOf): Vault stores a lease's internal data
	// with every lease, on integrated storage in the Raft log.
	internalEnd    = "lease_end"
	internalPeriod = "lease_period"
)

// renewalTTL is what a renewal of secret keeps it for: the time left to
// the end it was granted until, less the delay allowance, at most its
// renewal period and the increment asked for; errLeaseEnding once less
// than minLease is left. It never extends a lease.
func (b *backend) renewalTTL(secret *logical.Secret) (time.Duration, error) {
	end, err := leaseEndOf(secret)
	if err != nil {
		return 0, err
	}
	now := b.clock.Now()
	left := (end.Sub(now) - b.delays.allowance(now)).Truncate(time.Second)
	if left < minLease {
		return 0, errLeaseEnding
	}
	ttl := left
	if period := periodOf(secret); period > 0 && period < ttl {
		ttl = period
	}
	if inc := secret.Increment; inc > 0 && inc < ttl {
		ttl = max(inc, minLease)
	}
	return ttl, nil
}

// periodOf is a lease's renewal period: its TTL, which the first answer
// set to the period (or to less, for a lease shorter than one) and every
// renewal since to at most that. Leases granted by v0.1.0 carry it in their
// internal data, which comes back from Vault through JSON, so the number
// may be a float or a json.Number.
func periodOf(secret *logical.Secret) time.Duration {
	switch v := secret.InternalData[internalPeriod].(type) {
	case int64:
		return time.Duration(v) * time.Second
	case float64:
		return time.Duration(v) * time.Second
	case json.Number:
		n, _ := v.Int64()
		return time.Duration(n) * time.Second
	}
	return secret.TTL
}

// leaseEndOf is the end a lease was granted until: its issue time plus its
// max TTL, which is also where Vault (and OpenBao) caps every renewal
// (framework.CalculateTTL from the lease's IssueTime). Vault issues the
// lease a moment after the engine computed it, less than the delays the
// lease was already shortened by (delayWatch) and its truncation to whole
// seconds. Leases granted by v0.1.0 carry their end in their internal data,
// which then counts.
func leaseEndOf(secret *logical.Secret) (time.Time, error) {
	if s, ok := secret.InternalData[internalEnd].(string); ok {
		end, err := time.Parse(time.RFC3339Nano, s)
		if err != nil {
			return time.Time{}, fmt.Errorf("the lease's %s %q is not a time: %w", internalEnd, s, err)
		}
		return end, nil
	}
	if secret.IssueTime.IsZero() || secret.MaxTTL <= 0 {
		return time.Time{}, errors.New("the lease has no issue time and max TTL to renew within")
	}
	return secret.IssueTime.Add(secret.MaxTTL), nil
}

const (
	// delayWindow is how long an observed delay keeps shortening leases: the
	// longest delay of the current and the previous window counts.
	delayWindow = time.Minute
	// maxDelayAllowance bounds what one pathological stall can take off every
	// lease for the next minute or two.
	maxDelayAllowance = 30 * time.Second
)

// delayWatch remembers the longest delay the engine saw recently between a
// cached read's arrival and its answer, or between a refresh timer's due
// time and its firing: the delay allowance every lease is shortened by, so
// a lease still ends before the token does on a starved machine
// (docs/how-it-works.md#leases-and-delays).
type delayWatch struct {
	mu sync.Mutex
	// start is the beginning of the current window; cur and prev are the
	// longest delays of the current and the previous window.
	start     time.Time
	cur, prev time.Duration
}

// observe records a delay seen at now.
func (w *delayWatch) observe(now time.Time, d time.Duration) {
	if d <= 0 {
		return
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	w.roll(now)
	w.cur = max(w.cur, min(d, maxDelayAllowance))
}

// allowance is the longest delay observed in the current or previous window.
func (w *delayWatch) allowance(now time.Time) time.Duration {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.roll(now)
	return max(w.cur, w.prev)
}

func (w *delayWatch) roll(now time.Time) {
	switch elapsed := now.Sub(w.start); {
	case w.start.IsZero() || elapsed >= 2*delayWindow || elapsed < 0:
		w.start, w.cur, w.prev = now, 0, 0
	case elapsed >= delayWindow:
		w.start, w.prev, w.cur = w.start.Add(delayWindow), w.cur, 0
	}
}
