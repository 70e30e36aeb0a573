package backend

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/hashicorp/vault/sdk/framework"
	"github.com/hashicorp/vault/sdk/logical"
)

func pathToken(b *backend) []*framework.Path {
	return []*framework.Path{{
		Pattern: "token/" + framework.GenericNameRegex("name"),
		DisplayAttrs: &framework.DisplayAttributes{
			OperationPrefix: operationPrefix,
			OperationSuffix: "token",
		},
		Fields: map[string]*framework.FieldSchema{
			"name": nameField("Name of the config whose token to read."),
		},
		Operations: map[logical.Operation]framework.OperationHandler{
			logical.ReadOperation: &framework.PathOperation{
				Callback: b.pathTokenRead,
				DisplayAttrs: &framework.DisplayAttributes{
					OperationVerb: "read",
				},
				// Every read creates a lease, and only the active node can
				// store one: OpenBao's standbys, which serve reads
				// themselves by default, fail the read with an internal
				// error when registering the lease, and Vault Enterprise's
				// performance standbys send the lease to the active node
				// anyway. So the whole read goes there, where the token is
				// in memory and refreshed ahead.
				ForwardPerformanceStandby: true,
				Responses: map[int][]framework.Response{
					http.StatusOK: {{
						Description: "The partner's bearer token, leased until shortly before it expires.",
						Fields:      secretToken(b).Fields,
					}},
				},
			},
		},
		HelpSynopsis: "Read a partner's bearer token, as a Vault lease or (lease_mode=none) without one.",
		HelpDescription: `
Returns the partner's current bearer token: access_token, token_type (always
Bearer), expires_at, and what the partner reports besides (such as scope).

Every reader gets the same cached token; the engine mints a new one only when
none is valid, and refreshes it in the background before it expires. The lease
ends a safety margin before the token expires (see expiry_margin), capped by
the config's ttl and max_ttl and the mount's max_lease_ttl, and shortened by
recent delays and a little jitter. It is renewable (lease_renewable) up to
that end and never past it, so Vault Proxy can cache it; Vault Agent renews
it and reads again when it ends. With lease_mode=none there is no lease: ttl
says in how many seconds to read again (it is not the config's ttl, which
caps leases), rotation_period the token's lifetime.`,
	}}
}

func (b *backend) pathTokenRead(ctx context.Context, req *logical.Request, d *framework.FieldData) (*logical.Response, error) {
	arrived := b.clock.Now()
	name, invalid := configName(d)
	if invalid != nil {
		return invalid, nil
	}
	g, err := b.lease(ctx, name, arrived)
	if errors.Is(err, errNoConfig) {
		return nil, noSuchConfig(req.MountPoint, name)
	}
	if err != nil {
		return nil, err
	}
	// Every time a lease's end depends on, for whoever has to explain a
	// reader holding an expired token (tests/agent_test.go prints these).
	// Trace, and only built when written: a line per read costs the plugin
	// and Vault CPU on every read (see PluginLogger).
	if logger := b.Logger(); logger.IsTrace() {
		logger.Trace("leasing token", "config", name, "request_id", req.ID, "ttl", g.ttl.String(), "guard", g.guard.String(),
			"arrived_at", rfc3339Nano(arrived), "leased_at", rfc3339Nano(g.at),
			"minted_at", rfc3339Nano(g.entry.token.IssuedAt), "expires_at", rfc3339Nano(g.entry.token.ExpiresAt))
	}
	if g.entry.config.leaseMode() == leaseModeNone {
		return b.unleasedResponse(g.entry, g.at, g.guard), nil
	}
	resp := b.tokenResponse(g)
	b.metrics.leasesIssued.WithLabelValues(name, g.entry.config.Provider).Inc()
	// A lease nobody renews lives its TTL (a renewable lease's renewal
	// period), and readers at rates that matter here do not renew.
	b.leaseRates.note(name, g.entry.config.Provider, g.at, resp.Secret.TTL, b.Logger())
	return resp, nil
}

// grant is the lease one read gets: ttl from at, after guard.
type grant struct {
	entry      *cacheEntry
	ttl, guard time.Duration
	at         time.Time
}

// lease finds the token for a read that arrived at arrived and the lease
// it gets, at least minLease long and ending before the token's safe end
// even after the delays the answer may meet on its way to the reader.
//
// The lease is counted from the request's arrival: the time the read
// already spent in the engine (waiting for a CPU, a lock, storage) is taken
// off it, and so is the longest such delay seen recently (delayWatch), since
// whatever slowed the engine down also slows the answer on its way back
// through Vault, and the reader counts its lease only from when the answer
// arrives. Under load the floor a token must clear to be served grows with
// those delays, so a token near its end is replaced rather than leased
// past it.
func (b *backend) lease(ctx context.Context, name string, arrived time.Time) (*grant, error) {
	guard := b.delays.recent(arrived)
	for attempt := 0; ; attempt++ {
		e, minted, err := b.cache.get(ctx, name, guard)
		if err != nil {
			return nil, err
		}
		now := b.clock.Now()
		if !minted {
			// A mint's wait is the partner's, not the machine's: only
			// cached reads measure how slow the engine is.
			b.delays.observe(now, now.Sub(arrived))
			guard = max(guard, now.Sub(arrived))
		}
		guard = max(guard, b.delays.recent(now))
		ttl := e.config.leaseTTL(e.token, now, guard, b.System().MaxLeaseTTL(), b.jitter())
		// A fresh token is served if it can be leased at all; a cached one
		// only with minServedLease left (see there).
		if ttl >= minServedLease || (minted && ttl >= minLease) {
			return &grant{entry: e, ttl: ttl, guard: guard, at: now}, nil
		}
		if minted || attempt > 0 {
			return nil, tooShortToLease(name, e, now, guard)
		}
		// Time passed, or the guard grew, since the token was found
		// servable: look again, which mints.
	}
}

// tooShortToLease is the 502 for a token that cannot be leased for
// minLease even right after its mint: leasing it anyway would let the lease
// outlive the token, and every read would mint again.
func tooShortToLease(name string, e *cacheEntry, now time.Time, guard time.Duration) error {
	tok := e.token
	life := tok.lifetime()
	return logical.CodedError(http.StatusBadGateway, fmt.Sprintf(
		"the partner's token for config %q lives %s, too short to lease: after the %s expiry margin, "+
			"the %s the mint and the answer took and %s kept for delays, less than %s was left before it expires; "+
			"ask the partner for longer-lived tokens or lower expiry_margin",
		name, life.Round(10*time.Millisecond), e.config.margin(life), now.Sub(tok.IssuedAt).Round(10*time.Millisecond),
		guard.Round(10*time.Millisecond), minLease))
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

// tokenResponse shapes a cached token as a lease that ends g.ttl from now.
// A renewable lease (the default) starts with the config's renewal period
// and renewals extend it by as much, never past that end (renewToken).
func (b *backend) tokenResponse(g *grant) *logical.Response {
	cfg, tok := g.entry.config, g.entry.token
	internal := map[string]any{"config": g.entry.name}
	ttl := g.ttl
	if cfg.renewable() {
		// A TTL of at most the lease less a second: the holder's first
		// renewal, at once, then returns the whole TTL (left is truncated
		// to whole seconds), so its LifetimeWatcher does not give up at
		// once and re-read within the same second (see minServedLease).
		period := cfg.renewalPeriod(tok, g.guard)
		ttl = min(max(g.ttl-time.Second, minLease), period)
	}
	resp := b.Secret(secretTokenType).Response(tokenData(tok), internal)
	resp.Secret.TTL = ttl
	resp.Secret.MaxTTL = g.ttl
	resp.Secret.Renewable = cfg.renewable()
	return resp
}

func rfc3339Nano(t time.Time) string { return t.UTC().Format(time.RFC3339Nano) }
