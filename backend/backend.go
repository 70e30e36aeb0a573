// Package backend is the partnertoken secrets engine: partner credentials
// under config/<name>, their bearer tokens as Vault leases under token/<name>.
package backend

import (
	"context"
	"errors"
	"math/rand/v2"
	"net/http"
	"strings"
	"sync/atomic"

	"github.com/hashicorp/go-cleanhttp"
	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/vault/sdk/framework"
	"github.com/hashicorp/vault/sdk/logical"
	"github.com/jonboulle/clockwork"

	"github.com/partnertoken/vault-plugin-secrets-partnertoken/provider"
)

// Version is reported to Vault (`vault plugin list`, `vault secrets list
// -detailed`). The build sets it with -ldflags.
var Version = "v0.0.0-dev"

const backendHelp = `
The partnertoken secrets engine keeps partner API client credentials and hands
out the partners' short-lived bearer tokens as Vault leases. One token is
minted per config and shared by every reader; it is refreshed before it
expires and kept in storage so restarts do not mint again.

Write credentials to config/<name>, read the token from token/<name>.
`

// Options replace the backend's collaborators in tests.
type Options struct {
	// Providers replaces the built-in providers.
	Providers provider.Registry
	Clock     clockwork.Clock
	// Retry replaces the waits between attempts of one mint.
	Retry *retryPolicy
	// Jitter replaces the random draw that spreads lease ends.
	Jitter func() float64
}

// backend is one mount: the paths, and the parts they call.
type backend struct {
	*framework.Backend

	providers provider.Registry
	clock     clockwork.Clock
	client    *http.Client
	minter    *minter
	cache     *tokenCache
	metrics   *metrics
	statuses  *mintStatuses
	guard     *dialGuard
	// delays remembers recent delays that leases must leave room for.
	delays delayWatch
	// leaseRates measures each config's leased reads.
	leaseRates leaseRates
	// jitter draws in [0, 1) how much of the jitter share a lease loses.
	jitter func() float64

	// ctx lives as long as the mount; background refreshes run in it so a
	// reader that disconnects does not cancel a mint other readers wait for.
	ctx    context.Context
	cancel context.CancelFunc
	// noEvents is set once the server said it has no events system.
	noEvents atomic.Bool
}

// Factory builds the backend for Vault.
func Factory(ctx context.Context, conf *logical.BackendConfig) (logical.Backend, error) {
	b := newBackend(Options{})
	if err := b.attach(ctx, conf); err != nil {
		return nil, err
	}
	return b, nil
}

// attach connects the backend to its mount: Vault's system view
// (remembering the answers asked on every request) and storage, which the
// token cache and the mount's settings live in. It ends with the
// framework's own Setup.
func (b *backend) attach(ctx context.Context, conf *logical.BackendConfig) error {
	if conf.StorageView == nil {
		return errors.New("the backend config carries no storage view")
	}
	if conf.System != nil {
		wrapped := *conf
		wrapped.System = newSystemView(conf.System)
		conf = &wrapped
	}
	if err := b.Setup(ctx, conf); err != nil {
		return err
	}
	b.guard.storage = conf.StorageView
	b.cache = newTokenCache(cacheDeps{
		ctx:      b.ctx,
		storage:  conf.StorageView,
		clock:    b.clock,
		logger:   b.Logger(),
		mint:     b.minter.mintRotating,
		writable: b.WriteSafeReplicationState,
		metrics:  b.metrics,
		statuses: b.statuses,
		events:   b.sendEvent,
		limits:   &refreshLimits{storage: conf.StorageView, tokenURL: b.tokenURL},
		delays:   &b.delays,
	})
	return nil
}

func newBackend(opts Options) *backend {
	b := &backend{
		providers: opts.Providers,
		clock:     opts.Clock,
		metrics:   newMetrics(),
		statuses:  &mintStatuses{},
		guard:     &dialGuard{},
	}
	if b.providers == nil {
		b.providers = provider.Builtin()
	}
	if b.clock == nil {
		b.clock = clockwork.NewRealClock()
	}
	logger := func() hclog.Logger { return b.Logger() }
	b.client = newHTTPClient(logger, b.guard)
	b.minter = &minter{providers: b.providers, client: b.client, clock: b.clock, retry: defaultRetryPolicy, logger: logger}
	b.jitter = rand.Float64
	if opts.Jitter != nil {
		b.jitter = opts.Jitter
	}
	if opts.Retry != nil {
		b.minter.retry = *opts.Retry
	}
	b.ctx, b.cancel = context.WithCancel(context.Background())

	b.Backend = &framework.Backend{
		Help:        strings.TrimSpace(backendHelp),
		BackendType: logical.TypeLogical,
		PathsSpecial: &logical.Paths{
			// Credentials and the tokens minted from them are encrypted
			// again with the seal where the server seal-wraps (Vault
			// Enterprise with a seal that supports it).
			SealWrapStorage: []string{configPrefix, tokenPrefix},
		},
		// token/ first: the framework tries the paths in order, and token
		// reads outnumber every other request.
		Paths: framework.PathAppend(
			pathToken(b),
			pathConfig(b),
			pathRefresh(b),
			pathProviders(b),
			pathStatus(b),
			pathMetrics(b),
			pathSettings(b),
		),
		Secrets:        []*framework.Secret{secretToken(b)},
		PeriodicFunc:   b.periodicFunc,
		Invalidate:     b.invalidate,
		Clean:          b.cleanup,
		RunningVersion: Version,
	}
	return b
}

// tokenURL is where cfg's tokens are requested from; empty for a provider
// this version of the plugin does not have.
func (b *backend) tokenURL(cfg *Config) string {
	p, ok := b.providers[cfg.Provider]
	if !ok {
		return ""
	}
	return cfg.effectiveTokenURL(p.Spec())
}

// maxResponseHeaderBytes bounds the header block of a partner's answer, as
// provider.MaxBodySize bounds its body: a token answer's headers are a few
// hundred bytes, and Go's default (10 MiB) would let a partner, or
// something in front of it, hold that much of Vault's memory per request.
const maxResponseHeaderBytes = 64 << 10

// newHTTPClient is the client every partner request goes through. Redirects
// are refused: following one would send the credentials to a URL the
// operator never configured (a 307 re-sends the body, custom auth headers
// survive any redirect). guard connects only where the mount allows.
func newHTTPClient(logger func() hclog.Logger, guard *dialGuard) *http.Client {
	transport := cleanhttp.DefaultPooledTransport()
	transport.DialContext = guard.dialContext
	transport.Proxy = guard.proxy
	transport.MaxResponseHeaderBytes = maxResponseHeaderBytes
	return &http.Client{
		Transport:     loggingTransport{next: transport, logger: logger},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}

// invalidate keeps memory in step with storage written elsewhere: on
// performance standbys and replicated clusters Vault calls it for every key
// another node changes.
func (b *backend) invalidate(_ context.Context, key string) {
	switch {
	case key == settingsKey:
		b.settingsChanged()
	case strings.HasPrefix(key, configPrefix):
		b.cache.drop(strings.TrimPrefix(key, configPrefix))
	case strings.HasPrefix(key, tokenPrefix):
		b.cache.drop(strings.TrimPrefix(key, tokenPrefix))
	}
}

// settingsChanged makes the parts that remember the mount's settings load
// them again.
func (b *backend) settingsChanged() {
	b.cache.limits.reset()
	b.guard.reset()
}

// cleanup runs when the mount is unmounted or the plugin reloads: nothing
// of this backend may outlive it, neither a mint nor a pooled connection.
func (b *backend) cleanup(context.Context) {
	b.cancel()
	b.cache.stop()
	b.client.CloseIdleConnections()
}

// periodicFunc runs about once a minute on the node that may write storage.
// It refreshes tokens that readers use and that are due, as a backstop for
// the timer armed on the first read (a node that just became active, a
// timer that fired while a refresh failed).
func (b *backend) periodicFunc(context.Context, *logical.Request) error {
	b.cache.refreshDue()
	return nil
}
