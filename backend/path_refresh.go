package backend

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/hashicorp/vault/sdk/framework"
	"github.com/hashicorp/vault/sdk/logical"
)

// refreshMinInterval is the least time between two forced mints of one
// config: a fleet that finds its token rejected all at once causes one
// request to the partner, not one per instance.
const refreshMinInterval = 5 * time.Second

func pathRefresh(b *backend) []*framework.Path {
	return []*framework.Path{{
		Pattern: "refresh/" + framework.GenericNameRegex("name"),
		DisplayAttrs: &framework.DisplayAttributes{
			OperationPrefix: operationPrefix,
			OperationSuffix: "token",
		},
		Fields: map[string]*framework.FieldSchema{
			"name": nameField("Name of the config whose token to replace."),
		},
		Operations: map[logical.Operation]framework.OperationHandler{
			logical.UpdateOperation: &framework.PathOperation{
				Callback: b.pathRefreshWrite,
				DisplayAttrs: &framework.DisplayAttributes{
					OperationVerb: "refresh",
				},
				// On a performance standby the write must go to the active
				// node before the partner is called, or it would mint twice.
				ForwardPerformanceStandby:   true,
				ForwardPerformanceSecondary: true,
			},
		},
		HelpSynopsis: "Force a new token, for when the partner rejected the current one early.",
		HelpDescription: fmt.Sprintf(`
Mints a new token for the config and drops the current one; read token/<name>
again afterwards. Requests that arrive while a mint is in flight share it, and
a token younger than %s is kept, so a fleet calling this at once causes one
request to the partner. While the partner is down, it makes the next attempt
at once, whatever the back-off says. Grant it separately from token/<name>:
it needs the update capability.`, refreshMinInterval),
	}}
}

func (b *backend) pathRefreshWrite(ctx context.Context, req *logical.Request, d *framework.FieldData) (*logical.Response, error) {
	name, invalid := configName(d)
	if invalid != nil {
		return invalid, nil
	}
	e, minted, err := b.cache.forceRefresh(ctx, name, refreshMinInterval)
	if errors.Is(err, errNoConfig) {
		return nil, noSuchConfig(req.MountPoint, name)
	}
	if err != nil {
		return nil, err
	}
	resp := &logical.Response{Data: map[string]any{
		"refreshed":  minted,
		"minted_at":  e.token.IssuedAt.UTC().Format(time.RFC3339),
		"expires_at": e.token.ExpiresAt.UTC().Format(time.RFC3339),
	}}
	if !minted {
		resp.AddWarning(fmt.Sprintf("kept the current token: it was minted less than %s ago", refreshMinInterval))
	}
	return resp, nil
}
