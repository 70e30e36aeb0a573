package backend

import (
	"context"
	"crypto/tls"
	"errors"
	"math/rand/v2"
	"net/http"
	"strings"
	"sync/atomic"

	"github.com/hashicorp/vault/sdk/framework"
	"github.com/hashicorp/vault/sdk/logical"
	"github.com/jonboulle/clockwork"

	"github.com/partnertoken/vault-plugin-secrets-partnertoken/internal/egress"
	"github.com/partnertoken/vault-plugin-secrets-partnertoken/internal/provider"
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

// options replace the backend's collaborators in tests.
type options struct {
	// providers replaces the built-in providers.
	providers provider.Registry
	clock     clockwork.Clock
	// retry replaces the waits between attempts of one mint.
	retry *retryPolicy
	// jitter replaces the random draw that spreads lease ends and an
	// outage's attempts.
	jitter func() float64
}

// backend is one mount: the paths, and the parts they call.
type backend struct {
	*framework.Backend

	providers provider.Registry
	clock     clockwork.Clock
	retry     retryPolicy
	metrics   *metrics
	lastMints *lastMints
	// delays remembers recent delays that leases must leave room for.
	delays delayWatch
	// leaseRates measures each config's leased reads.
	leaseRates leaseRates
	// jitter draws in [0, 1) how much of the jitter share a lease loses,
	// and how much of its back-off an outage's next attempt waits less.
	jitter func() float64

	// Built by attach, once the mount's logger and storage are known.
	allowlist *allowlist
	client    *http.Client
	// clients are the clients of configs with TLS material of their own.
	clients *configClients
	cache   *tokenCache
	// ctx lives as long as the mount; background refreshes run in it so a
	// reader that disconnects does not cancel a mint other readers wait for.
	ctx    context.Context
	cancel context.CancelFunc
	// noEvents is set once the server said it has no events system.
	noEvents atomic.Bool
}

// Factory builds the backend for Vault.
func Factory(ctx context.Context, conf *logical.BackendConfig) (logical.Backend, error) {
	b := newBackend(options{})
	if err := b.attach(ctx, conf); err != nil {
		return nil, err
	}
	return b, nil
}

// attach connects the backend to its mount: Vault's system view
// (remembering the answers asked on every request), the framework's own
// Setup, and then, in one place, the parts that use the mount's logger and
// storage: the allowlist, the HTTP client to partners (which connects only
// where the allowlist allows), the minter and the token cache.
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
	logger := b.Logger()
	b.ctx, b.cancel = context.WithCancel(context.Background())
	b.allowlist = &allowlist{storage: conf.StorageView}
	b.client = egress.NewClient(b.allowlist.current, logger, nil)
	b.clients = &configClients{build: func(tlsConfig *tls.Config) *http.Client {
		return egress.NewClient(b.allowlist.current, logger, tlsConfig)
	}}
	minter := &minter{providers: b.providers, client: b.client, clients: b.clients, clock: b.clock, retry: b.retry, logger: logger}
	b.cache = newTokenCache(cacheDeps{
		ctx:          b.ctx,
		storage:      conf.StorageView,
		clock:        b.clock,
		logger:       logger,
		requestToken: minter.tryCredentials,
		writable:     b.WriteSafeReplicationState,
		metrics:      b.metrics,
		lastMints:    b.lastMints,
		events:       b.sendEvent,
		limits:       &refreshLimits{storage: conf.StorageView, clock: b.clock, tokenURL: b.tokenURL},
		delays:       &b.delays,
		jitter:       b.jitter,
	})
	return nil
}

func newBackend(opts options) *backend {
	b := &backend{
		providers: opts.providers,
		clock:     opts.clock,
		retry:     defaultRetryPolicy,
		jitter:    opts.jitter,
		metrics:   newMetrics(),
		lastMints: &lastMints{},
	}
	if b.providers == nil {
		b.providers = provider.Builtin()
	}
	if b.clock == nil {
		b.clock = clockwork.NewRealClock()
	}
	if opts.retry != nil {
		b.retry = *opts.retry
	}
	if b.jitter == nil {
		b.jitter = rand.Float64
	}

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
			pathJWKS(b),
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

// invalidate keeps memory in step with storage written elsewhere: on
// OpenBao's standbys, performance standbys and replicated clusters the
// server calls it for every key another node changes, once the new value
// is in this node's storage, so a standby serves a refreshed token from
// its next read.
func (b *backend) invalidate(_ context.Context, key string) {
	switch {
	case key == settingsKey:
		b.settingsChanged()
	case strings.HasPrefix(key, configPrefix):
		b.cache.invalidate(strings.TrimPrefix(key, configPrefix))
	case strings.HasPrefix(key, tokenPrefix):
		b.cache.invalidate(strings.TrimPrefix(key, tokenPrefix))
	}
}

// settingsChanged makes the parts that remember the mount's settings load
// them again.
func (b *backend) settingsChanged() {
	b.cache.limits.reset()
	b.allowlist.reset()
}

// cleanup runs when the mount is unmounted or the plugin reloads: nothing
// of this backend may outlive it, neither a mint nor a pooled connection.
func (b *backend) cleanup(context.Context) {
	b.cancel()
	b.cache.stop()
	b.client.CloseIdleConnections()
	b.clients.closeIdle()
}

// periodicFunc runs about once a minute on the node that may write storage.
// It refreshes tokens that readers use and that are due, as a backstop for
// the timer armed on the first read (a node that just became active, a
// timer that fired while a refresh failed).
func (b *backend) periodicFunc(context.Context, *logical.Request) error {
	b.cache.refreshDue()
	return nil
}
