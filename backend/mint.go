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

	"github.com/partnertoken/vault-plugin-secrets-partnertoken/internal/signing"
	"github.com/partnertoken/vault-plugin-secrets-partnertoken/provider"
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
	client    *http.Client
	// clients hold the clients of configs with TLS material of their own.
	clients *configClients
	expiry  expiryLog
	clock   clockwork.Clock
	retry   retryPolicy
	logger  func() hclog.Logger
}

// mintRotating asks the partner for one token within ctx, which carries the
// config's timeout. A refused current secret is retried once with the next
// one during a rotation.
func (m *minter) mintRotating(ctx context.Context, name string, cfg *Config) (*mintResult, error) {
	p, ok := m.providers[cfg.Provider]
	if !ok {
		return nil, fmt.Errorf("config %q uses provider %q, which this version of the plugin does not have", name, cfg.Provider)
	}
	m.expiry.warn(m.logger(), name, cfg, m.clock.Now())
	key, err := cfg.currentKey()
	if err != nil {
		return nil, err
	}
	tok, err := m.mintRetrying(ctx, name, p, cfg, cfg.ClientSecret, key)
	if perr, ok := provider.AsError(err); ok && perr.Refused() && cfg.NextClientSecret != "" {
		m.logger().Warn("current client secret refused; trying next_client_secret", "config", name, "provider", cfg.Provider, "status", perr.Status)
		tok, err = m.mintRetrying(ctx, name, p, cfg, cfg.NextClientSecret, key)
		if err == nil {
			return &mintResult{token: tok, secret: cfg.NextClientSecret, usedNext: true, key: cfg.PrivateKey}, nil
		}
	}
	if perr, ok := provider.AsError(err); ok && perr.Refused() && cfg.NextPrivateKey != "" && signsWithKey(p.Spec(), cfg) {
		m.logger().Warn("current private key refused; trying next_private_key", "config", name, "provider", cfg.Provider, "status", perr.Status)
		next, nextErr := cfg.nextKey()
		if nextErr != nil {
			return nil, nextErr
		}
		tok, err = m.mintRetrying(ctx, name, p, cfg, cfg.ClientSecret, next)
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

// mintRetrying makes attempts with one secret until one succeeds, one fails
// for good or the budget is spent. Network errors, timeouts, 408, 429 and
// 5xx are retried with exponential backoff and jitter (a 429 waits as long
// as the partner asks); refusals are not.
func (m *minter) mintRetrying(ctx context.Context, name string, p provider.Provider, cfg *Config, secret string, key *signing.Key) (*provider.Token, error) {
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
	}
	attempts := 0
	var last error
	tok, err := backoff.Retry(ctx, func() (*provider.Token, error) {
		attempts++
		start := m.clock.Now()
		tok, err := provider.Mint(ctx, p, req) // one attempt
		if err != nil {
			last = err
			m.logger().Debug("mint attempt failed", "config", name, "provider", cfg.Provider, "attempt", attempts,
				"status", partnerStatus(err), "duration", m.clock.Since(start).String(), "error", err.Error())
			return nil, retryable(err)
		}
		return tok, nil
	},
		backoff.WithBackOff(m.retry.backOff()),
		backoff.WithMaxElapsedTime(cfg.Timeout),
	)
	if err == nil {
		return tok, nil
	}
	if last == nil {
		return nil, err
	}
	var later *retryLater
	switch {
	case errors.As(err, &later) && later.wait > 0:
		return nil, fmt.Errorf("%w (the partner asked to wait %s before trying again, beyond the %s timeout)", last, later.wait, cfg.Timeout)
	case attempts > 1:
		return nil, fmt.Errorf("gave up after %d attempts within the %s timeout: %w", attempts, cfg.Timeout, last)
	case errors.Is(ctx.Err(), context.DeadlineExceeded):
		return nil, fmt.Errorf("%w (within the %s timeout)", last, cfg.Timeout)
	default:
		return nil, last
	}
}

// retryLater carries a partner's requested wait to the retry loop while
// keeping the partner's error for the final message.
type retryLater struct {
	partner *provider.Error
	wait    time.Duration
}

func (r *retryLater) Error() string { return r.partner.Error() }

func (r *retryLater) Unwrap() []error {
	return []error{r.partner, &backoff.RetryAfterError{Duration: r.wait}}
}

// retryable classifies a failed attempt for the retry loop.
func retryable(err error) error {
	perr, ok := provider.AsError(err)
	switch {
	case errors.Is(err, errAddressRefused):
		// The mount does not allow the address: it will not allow it on
		// the next attempt either.
		return backoff.Permanent(err)
	case !ok, !perr.Temporary():
		// Refusals and unusable answers: the same request fails again.
		return backoff.Permanent(err)
	case perr.RetryAfter > 0:
		return &retryLater{partner: perr, wait: min(perr.RetryAfter, maxRetryAfter)}
	default:
		return err
	}
}
