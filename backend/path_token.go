package backend

import (
	"context"
	"errors"
	"net/http"
	"time"

	"github.com/hashicorp/vault/sdk/framework"
	"github.com/hashicorp/vault/sdk/logical"
)

const operationPrefix = "partnertoken"

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
		HelpSynopsis: "Read a partner's bearer token as a non-renewable lease.",
		HelpDescription: `
Returns the partner's current bearer token: access_token, token_type (always
Bearer), expires_at, and what the partner reports besides (such as scope).

Every reader gets the same cached token; the engine mints a new one only when
none is valid, and refreshes it in the background before it expires. The lease
ends a safety margin before the token expires (see expiry_margin), capped by
the config's ttl and max_ttl and the mount's max_lease_ttl. It is not
renewable: read again when it ends, as Vault Agent does.`,
	}}
}

func (b *backend) pathTokenRead(ctx context.Context, req *logical.Request, d *framework.FieldData) (*logical.Response, error) {
	name, invalid := configName(d)
	if invalid != nil {
		return invalid, nil
	}
	e, err := b.cache.get(ctx, name)
	if errors.Is(err, errNoConfig) {
		return nil, noSuchConfig(req.MountPoint, name)
	}
	if err != nil {
		return nil, err
	}
	return b.tokenResponse(e), nil
}

// tokenResponse shapes a cached token as a non-renewable lease.
func (b *backend) tokenResponse(e *entry) *logical.Response {
	tok := e.token
	data := make(map[string]any, len(tok.Extra)+3)
	for k, v := range tok.Extra {
		data[k] = v
	}
	data["access_token"] = tok.AccessToken
	data["token_type"] = tok.TokenType
	data["expires_at"] = tok.ExpiresAt.UTC().Format(time.RFC3339)

	resp := b.Secret(secretTokenType).Response(data, map[string]any{"config": e.name})
	ttl := e.config.leaseTTL(tok, b.clock.Now(), b.System().MaxLeaseTTL())
	resp.Secret.TTL = max(ttl, minLease)
	resp.Secret.MaxTTL = resp.Secret.TTL
	return resp
}
