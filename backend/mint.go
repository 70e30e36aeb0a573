package backend

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"time"

	"github.com/cenkalti/backoff/v5"
	"github.com/hashicorp/go-hclog"
	"github.com/jonboulle/clockwork"

	"github.com/partnertoken/vault-plugin-secrets-partnertoken/internal/egress"
	"github.com/partnertoken/vault-plugin-secrets-partnertoken/internal/provider"
	"github.com/partnertoken/vault-plugin-secrets-partnertoken/internal/signing"
)

const (
	// maxRetryAfter bounds the wait a partner can ask for between attempts.
	maxRetryAfter = time.Minute
)

// retryPolicy shapes the waits between attempts of one mint. Tests shorten it.
type retryPolicy struct {
	initial, max time.Duration
}

var defaultRetryPolicy = retryPolicy{initial: 250 * time.Millisecond, max: 5 * time.Second}

func (p retryPolicy) backOff() backoff.BackOff {
	b := backoff.NewExponentialBackOff()
	b.InitialInterval = p.initial
	b.MaxInterval = p.max
	b.Multiplier = 2
	b.RandomizationFactor = 0.5 // jitter, so a fleet of nodes does not retry in step
	b.Reset()
	return b
}

// mintResult is a token and the credentials that minted it.
type mintResult struct {
	token *provider.Token
	// secret is the client secret the partner took.
	secret string
	// usedNext is set when the current secret was refused and
	// next_client_secret minted the token: the rotation happened at the
	// partner, and the config should promote the next secret.
	usedNext bool
	// key is the private key (PEM) of the request, and usedNextKey says
	// it is next_private_key, which the partner took when it refused the
	// current one: the config should promote it.
	key         string
	usedNextKey bool
	// report is how the mint went, recorded when it commits.
	report mintReport
}

// minter asks partners for tokens: it knows how to mint, never when (that
// is the token cache's part) and nothing of Vault's storage.
type minter struct {
	providers provider.Registry
	// client is the mount's; clients hold those of configs with TLS
	// material of their own.
	client  *http.Client
	clients *configClients
	expiry  expiryLog
	clock   clockwork.Clock
	retry   retryPolicy
	logger  hclog.Logger
}

// mintAttempts says how many requests one mint may send.
type mintAttempts bool

const (
	// retryWithinTimeout retries transient failures within the config's
	// timeout: a partner's passing failure never reaches a reader.
	retryWithinTimeout mintAttempts = true
	// oneAttempt sends a single request: the partner is known to be down,
	// and the outage's back-off spaces the attempts (cacheEntry.down).
	oneAttempt mintAttempts = false
)

// tryCredentials asks the partner for one token with the config's current
// secret and key and, during a rotation, when the partner refuses them,
// with the next secret or the next key. ctx carries the config's timeout.
func (m *minter) tryCredentials(ctx context.Context, name string, cfg *Config, attempts mintAttempts) (*mintResult, error) {
	p, ok := m.providers[cfg.Provider]
	if !ok {
		return nil, fmt.Errorf("config %q uses provider %q, which this version of the plugin does not have", name, cfg.Provider)
	}
	m.expiry.warn(m.logger, name, cfg, m.clock.Now())
	key, err := cfg.currentKey()
	if err != nil {
		return nil, err
	}
	tok, err := m.retryAttempts(ctx, name, p, cfg, cfg.ClientSecret, key, attempts)
	if perr, ok := provider.AsError(err); ok && perr.Refused() && cfg.NextClientSecret != "" {
		m.logger.Warn("current client secret refused; trying next_client_secret", "config", name, "provider", cfg.Provider, "status", perr.Status)
		tok, err = m.retryAttempts(ctx, name, p, cfg, cfg.NextClientSecret, key, attempts)
		if err == nil {
			return &mintResult{token: tok, secret: cfg.NextClientSecret, usedNext: true, key: cfg.PrivateKey}, nil
		}
	}
	if perr, ok := provider.AsError(err); ok && perr.Refused() && cfg.NextPrivateKey != "" && signsWithKey(p.Spec(), cfg) {
		m.logger.Warn("current private key refused; trying next_private_key", "config", name, "provider", cfg.Provider, "status", perr.Status)
		next, nextErr := cfg.nextKey()
		if nextErr != nil {
			return nil, nextErr
		}
		tok, err = m.retryAttempts(ctx, name, p, cfg, cfg.ClientSecret, next, attempts)
		if err == nil {
			return &mintResult{token: tok, secret: cfg.ClientSecret, key: cfg.NextPrivateKey, usedNextKey: true}, nil
		}
	}
	if err != nil {
		return nil, err
	}
	return &mintResult{token: tok, secret: cfg.ClientSecret, key: cfg.PrivateKey}, nil
}

// signsWithKey reports whether cfg's requests carry an assertion signed
// with its private key.
func signsWithKey(spec provider.Spec, cfg *Config) bool {
	return spec.Credentials != nil && spec.Credentials(cfg.Options).Key != ""
}

// retryAttempts makes attempts with one secret and key until one succeeds, one fails
// for good or the budget (cfg.Timeout, counted on the engine's clock) is
// spent. Network errors, timeouts, 408, 429 and 5xx are retried with
// exponential backoff and jitter (a 429 or 503 waits as long as the partner
// asks); refusals are not; with oneAttempt, nothing is.
func (m *minter) retryAttempts(ctx context.Context, name string, p provider.Provider, cfg *Config, secret string, key *signing.Key, attempts mintAttempts) (*provider.Token, error) {
	client, err := m.clients.get(name, cfg, m.clock.Now())
	if err != nil {
		return nil, err
	}
	if client == nil {
		client = m.client
	}
	req := &provider.Request{
		TokenURL:     cfg.effectiveTokenURL(p.Spec()),
		ClientID:     cfg.ClientID,
		ClientSecret: secret,
		Key:          key,
		OtherSecrets: slices.DeleteFunc([]string{cfg.ClientSecret, cfg.NextClientSecret}, func(s string) bool { return s == "" || s == secret }),
		Options:      cfg.Options,
		Client:       client,
		Now:          m.clock.Now,
		Logger:       m.logger,
	}
	intervals := m.retry.backOff()
	began := m.clock.Now()
	for attempt := 1; ; attempt++ {
		start := m.clock.Now()
		tok, err := provider.Mint(ctx, p, req)
		if err == nil {
			return tok, nil
		}
		m.logger.Debug("mint attempt failed", "config", name, "provider", cfg.Provider, "attempt", attempt,
			"status", partnerStatus(err), "duration", m.clock.Since(start).String(), "error", err.Error())
		wait, again, asked := retryWait(err, intervals)
		switch {
		case !again || ctx.Err() != nil || attempts == oneAttempt:
			return nil, gaveUp(ctx, err, attempt, cfg.Timeout)
		case m.clock.Since(began)+wait > cfg.Timeout && asked:
			return nil, fmt.Errorf("%w (the partner asked to wait %s before trying again, beyond the %s timeout)", err, wait, cfg.Timeout)
		case m.clock.Since(began)+wait > cfg.Timeout:
			return nil, gaveUp(ctx, err, attempt, cfg.Timeout)
		}
		timer := m.clock.NewTimer(wait)
		select {
		case <-timer.Chan():
		case <-ctx.Done():
			timer.Stop()
			return nil, gaveUp(ctx, err, attempt, cfg.Timeout)
		}
	}
}

// retryWait decides what follows a failed attempt: whether to try again,
// and after how long; asked says the partner named the wait.
func retryWait(err error, intervals backoff.BackOff) (wait time.Duration, again, asked bool) {
	perr, ok := provider.AsError(err)
	switch {
	case errors.Is(err, egress.ErrRefused):
		// The mount does not allow the address: it will not allow it on
		// the next attempt either.
		return 0, false, false
	case !ok, !perr.Transient():
		// Refusals and unusable answers: the same request fails again.
		return 0, false, false
	case perr.RetryAfter > 0:
		intervals.Reset()
		return min(perr.RetryAfter, maxRetryAfter), true, true
	default:
		return intervals.NextBackOff(), true, false
	}
}

// gaveUp is the error of a mint that stopped retrying after last, its
// attempts'th failed attempt: how many there were, or that the budget ran out.
func gaveUp(ctx context.Context, last error, attempts int, timeout time.Duration) error {
	switch {
	case attempts > 1:
		return fmt.Errorf("gave up after %d attempts within the %s timeout: %w", attempts, timeout, last)
	case errors.Is(ctx.Err(), context.DeadlineExceeded):
		return fmt.Errorf("%w (within the %s timeout)", last, timeout)
	default:
		return last
	}
}
