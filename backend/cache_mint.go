package backend

import (
	"context"
	"errors"
	"time"
)

// How the token cache mints: one mint per config shared by every caller,
// recorded in metrics and status/<name> only while the config is stored,
// and committed under the name's lock only if the config that minted is
// still the stored one.

// shareMint replaces the token of seen's config, unless needed says that a
// mint that finished meanwhile made it unnecessary. Concurrent callers share
// one request to the partner; a caller that gives up does not cancel it.
func (c *tokenCache) shareMint(ctx context.Context, seen *cacheEntry, needed func(cur *cacheEntry, now time.Time) bool) (*cacheEntry, error) {
	key := seen.name + "\x00" + seen.config.ID
	type answer struct {
		mintOutcome
		err error
		// minted is set for the caller whose own function minted.
		minted bool
	}
	answers := make(chan answer, 1)
	started := c.start(func() {
		var a answer
		v, err, _ := c.flights.Do(key, func() (any, error) {
			if cur := c.lookup(seen.name); cur != nil && cur.config.ID == seen.config.ID && !needed(cur, c.clock.Now()) {
				return mintOutcome{entry: cur, recorded: true}, nil
			}
			a.minted = true
			return c.mintAndCommit(seen)
		})
		a.mintOutcome, _ = v.(mintOutcome)
		a.err = err
		answers <- a
		// Sent once the flight is over and every caller has its answer:
		// readers waiting on a mint never wait on the events system.
		if a.minted && a.event != "" {
			c.events(a.event, seen.name, seen.config.Provider)
		}
	})
	if !started {
		return nil, errStopping
	}
	select {
	case a := <-answers:
		// The other callers, and a caller whose own flight found that a
		// mint which ended meanwhile made its own unnecessary, were served
		// by another's mint: they count as coalesced, so coalesced reads and
		// mints add up to the misses. A shared read is counted only while
		// the name's config is stored, as the mint is.
		if !a.minted && a.recorded {
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

// shareAttempt is shareMint for a caller that may have claimed the
// outage's next attempt (claimAttempt): the attempt ends with the caller's
// wait, whatever its end, so the next caller may claim one.
func (c *tokenCache) shareAttempt(ctx context.Context, seen *cacheEntry, claimed bool, needed func(cur *cacheEntry, now time.Time) bool) (*cacheEntry, error) {
	if claimed {
		defer seen.releaseAttempt()
	}
	return c.shareMint(ctx, seen, needed)
}

// mintOutcome is what a shared mint gives each of its callers, and the
// event the caller that minted sends for it.
type mintOutcome struct {
	entry *cacheEntry
	// recorded is false when the name's config was deleted before the mint
	// ended: nothing of the mint is recorded, not even a shared read.
	recorded bool
	event    string
}

// mintAndCommit asks the partner for a token for seen's config and commits
// it to storage and memory. A refusal is remembered on the entry for the
// config's refusal_backoff, so readers do not hammer the partner with a bad
// secret; a partner's requested wait is honoured the same way; and a
// partner found down is asked again one request at a time, on the
// outage's back-off (claimAttempt decides who may ask).
func (c *tokenCache) mintAndCommit(seen *cacheEntry) (mintOutcome, error) {
	name, cfg := seen.name, seen.config
	if err := seen.refusal(c.clock.Now()); err != nil {
		return mintOutcome{recorded: true}, err
	}
	if err := seen.partnerWait(c.clock.Now()); err != nil {
		c.metrics.retryAfterHeld.WithLabelValues(name, cfg.Provider).Inc()
		return mintOutcome{recorded: true}, err
	}
	down := seen.outageSnapshot()
	attempts := retryWithinTimeout
	if down != nil {
		attempts = oneAttempt
	}
	res, err := c.timedMint(c.ctx, name, cfg, attempts)
	lock := c.lock(name)
	if err != nil {
		lock.Lock()
		out := mintOutcome{recorded: c.recordIfStored(name, res.report)}
		lock.Unlock()
		now := c.clock.Now()
		if seen.rememberFailure(err, now, c.outageBackoff) {
			out.event = eventCredentialsRefused
		}
		if o := seen.outageSnapshot(); o != nil {
			if down == nil {
				c.logger.Warn("partner down: reads that need a mint fail at once until the next attempt", "config", name,
					"provider", cfg.Provider, "next_attempt_at", rfc3339(o.next), "error", err.Error())
			}
			return out, seen.outageError(now)
		}
		return out, mintError(name, err)
	}
	lock.Lock()
	e, err := c.commit(name, cfg, res)
	lock.Unlock()
	if err != nil {
		return mintOutcome{recorded: !errors.Is(err, errConfigDeleted)}, err
	}
	if down != nil {
		c.logger.Info("partner answers again", "config", name, "provider", cfg.Provider,
			"down_since", rfc3339(down.since), "failed_attempts", down.failures)
	}
	return mintOutcome{entry: e, recorded: true, event: eventTokenMinted}, nil
}

// outageBackoff is the wait after an outage's failures'th failed attempt,
// up to the mount's outage_backoff_max (read when an attempt fails, so a
// settings write applies from the next failure on).
func (c *tokenCache) outageBackoff(failures int) time.Duration {
	backoffMax := defaultOutageBackoffMax
	if s, err := readSettings(c.ctx, c.storage); err == nil {
		backoffMax = s.OutageBackoffMax
	}
	return outageWait(failures, backoffMax, c.jitter())
}

// timedMint has the partner mint a token with cfg's credentials
// (requestToken), within cfg's timeout and the mount's lifetime, and logs
// how it went. The result carries its report, also when err is set: the
// caller records it once it knows the config is still stored.
func (c *tokenCache) timedMint(ctx context.Context, name string, cfg *Config, attempts mintAttempts) (*mintResult, error) {
	ctx, cancel := context.WithTimeout(ctx, cfg.Timeout)
	defer cancel()
	defer context.AfterFunc(c.ctx, cancel)()
	start := c.clock.Now()
	res, err := c.requestToken(ctx, name, cfg, attempts)
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
	c.lastMints.of(name).record(r.at, r.err)
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
	e := &cacheEntry{name: name, config: latest, token: stored, loadedAt: c.clock.Now()}
	c.install(e)
	return e, nil
}
