package backend

import (
	"context"
	"errors"
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
				// Not forwarded as a whole (ForwardPerformanceStandby is
				// per operation, lease_mode per config): a standby that
				// serves reads answers an unleased read from its replica
				// and hands a leased one to the active node, the only one
				// that can store its lease (readReplica).
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
	if b.standby() {
		return b.readReplica(ctx, name, arrived)
	}
	g, err := b.lease(ctx, name, arrived)
	if errors.Is(err, errNoConfig) {
		return nil, noSuchConfig(req.MountPoint, name)
	}
	if err != nil {
		return nil, err
	}
	// Every time a lease's end depends on, for whoever has to explain a
	// reader holding an expired token (tests/timeline_test.go prints these).
	// Trace, and only built when written: a line per read costs the plugin
	// and Vault CPU on every read (see PluginLogger).
	if logger := b.Logger(); logger.IsTrace() {
		logger.Trace("leasing token", "config", name, "request_id", req.ID, "ttl", g.ttl.String(), "delay_allowance", g.allowance.String(),
			"arrived_at", rfc3339Nano(arrived), "leased_at", rfc3339Nano(g.at),
			"minted_at", rfc3339Nano(g.entry.token.IssuedAt), "expires_at", rfc3339Nano(g.entry.token.ExpiresAt))
	}
	if g.entry.config.leaseMode() == leaseModeNone {
		return b.unleasedResponse(g.entry, g.at, g.allowance), nil
	}
	resp := b.leasedResponse(g)
	b.metrics.leaseIssued(name, g.entry.config.Provider, resp.Secret.TTL)
	// A lease nobody renews lives its TTL (a renewable lease's renewal
	// period), and readers at rates that matter here do not renew.
	b.leaseRates.note(name, g.entry.config.Provider, g.at, resp.Secret.TTL, b.Logger())
	return resp, nil
}

func rfc3339Nano(t time.Time) string { return t.UTC().Format(time.RFC3339Nano) }
