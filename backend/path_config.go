package backend

import (
	"context"
	"fmt"
	"maps"
	"net/http"
	"strings"
	"time"

	"github.com/hashicorp/vault/sdk/framework"
	"github.com/hashicorp/vault/sdk/logical"
)

const pathConfigHelpSyn = `Store a partner's client credentials and how its tokens are leased.`

const pathConfigHelpDesc = `
Each config holds one partner client: the provider kind, where its token
endpoint is (a documented environment or token_url), the client id and the
client secret. The secret is write-only: reads show only that it is set.

Writes merge with the stored config. Changing provider or the effective
token URL (token_url, or environment to one with another URL) requires
client_secret in the same write; such a write, and any change of
environment, drops a stored next_client_secret unless it supplies one, so
a stored secret is never sent to an endpoint it was not written for. Every write and delete
drops the cached token: the next read mints with the new settings.
`

func pathConfig(b *backend) []*framework.Path {
	// Creating and updating a config are one write: it merges with what is
	// stored, if anything.
	write := &framework.PathOperation{
		Callback: b.pathConfigWrite,
		DisplayAttrs: &framework.DisplayAttributes{
			OperationVerb: "write",
		},
		// verify=true calls the partner before the storage write;
		// forwarding first keeps it to one call.
		ForwardPerformanceStandby:   true,
		ForwardPerformanceSecondary: true,
	}
	return []*framework.Path{
		{
			Pattern: "config/" + framework.GenericNameRegex("name"),
			DisplayAttrs: &framework.DisplayAttributes{
				OperationPrefix: operationPrefix,
				OperationSuffix: "config",
			},
			Fields:         configFields(b.providers),
			ExistenceCheck: b.pathConfigExists,
			Operations: map[logical.Operation]framework.OperationHandler{
				logical.CreateOperation: write,
				logical.UpdateOperation: write,
				logical.ReadOperation: &framework.PathOperation{
					Callback: b.pathConfigRead,
					DisplayAttrs: &framework.DisplayAttributes{
						OperationVerb: "read",
					},
				},
				logical.DeleteOperation: &framework.PathOperation{
					Callback: b.pathConfigDelete,
					DisplayAttrs: &framework.DisplayAttributes{
						OperationVerb: "delete",
					},
				},
			},
			HelpSynopsis:    pathConfigHelpSyn,
			HelpDescription: pathConfigHelpDesc,
		},
		{
			Pattern: "config/?$",
			DisplayAttrs: &framework.DisplayAttributes{
				OperationPrefix: operationPrefix,
				OperationSuffix: "configs",
			},
			Operations: map[logical.Operation]framework.OperationHandler{
				logical.ListOperation: &framework.PathOperation{
					Callback: b.pathConfigList,
					DisplayAttrs: &framework.DisplayAttributes{
						OperationVerb: "list",
					},
				},
			},
			HelpSynopsis:    "List the configured partners.",
			HelpDescription: "Lists the names of all configs of this mount.",
		},
	}
}

func (b *backend) pathConfigExists(ctx context.Context, req *logical.Request, d *framework.FieldData) (bool, error) {
	name, invalid := configName(d)
	if invalid != nil {
		return false, nil // the handler refuses the name
	}
	cfg, err := readConfig(ctx, req.Storage, name)
	return cfg != nil, err
}

func (b *backend) pathConfigRead(ctx context.Context, req *logical.Request, d *framework.FieldData) (*logical.Response, error) {
	name, invalid := configName(d)
	if invalid != nil {
		return invalid, nil
	}
	cfg, err := readConfig(ctx, req.Storage, name)
	if err != nil {
		return nil, err
	}
	if cfg == nil {
		return nil, nil
	}
	data := map[string]any{
		"provider":               cfg.Provider,
		"environment":            cfg.Environment,
		"token_url":              cfg.TokenURL,
		"client_id":              cfg.ClientID,
		"client_secret_set":      cfg.ClientSecret != "",
		"next_client_secret_set": cfg.NextClientSecret != "",
		"refusal_backoff":        int64(cfg.RefusalBackoff / time.Second),
		"ttl":                    int64(cfg.TTL / time.Second),
		"max_ttl":                int64(cfg.MaxTTL / time.Second),
		"timeout":                int64(cfg.Timeout / time.Second),
		"refresh_fraction":       cfg.RefreshFraction,
		"expiry_margin":          int64(cfg.ExpiryMargin / time.Second),
		"lease_mode":             cfg.leaseMode(),
		"lease_renewable":        !cfg.LeaseNotRenewable,
	}
	if tokenURL := b.tokenURL(cfg); tokenURL != "" {
		data["effective_token_url"] = tokenURL
	}
	maps.Copy(data, describeCredentials(cfg))
	maps.Copy(data, cfg.Options)
	return &logical.Response{Data: data}, nil
}

func (b *backend) pathConfigList(ctx context.Context, req *logical.Request, _ *framework.FieldData) (*logical.Response, error) {
	names, err := listConfigs(ctx, req.Storage)
	if err != nil {
		return nil, err
	}
	return logical.ListResponse(names), nil
}

func (b *backend) pathConfigDelete(ctx context.Context, _ *logical.Request, d *framework.FieldData) (*logical.Response, error) {
	name, invalid := configName(d)
	if invalid != nil {
		return invalid, nil
	}
	if err := b.cache.removeConfig(ctx, name); err != nil {
		return nil, err
	}
	b.leaseRates.remove(name)
	b.clients.drop(name)
	return nil, nil
}

func (b *backend) pathConfigWrite(ctx context.Context, req *logical.Request, d *framework.FieldData) (*logical.Response, error) {
	name, invalid := configName(d)
	if invalid != nil {
		return invalid, nil
	}
	if unknown := unknownFields(req.Data, d.Schema); len(unknown) > 0 {
		return logical.ErrorResponse("unknown field(s) %s; `vault path-help %s` lists the fields of a config",
			strings.Join(unknown, ", "), req.MountPoint+req.Path), nil
	}
	merge := func(stored *Config) (*Config, error) {
		hosts, err := b.allowlist.current(ctx)
		if err != nil {
			return nil, err
		}
		cfg, err := mergeConfig(b.providers, stored, d, hosts, b.clock.Now())
		if err != nil {
			return nil, invalidWrite{err}
		}
		return cfg, nil
	}

	var verified *mintResult
	if d.Get("verify").(bool) {
		// The partner is called before taking the name's lock, which
		// reads of other names share, and under the writer's context, so
		// a writer that gives up stops it.
		old, err := readConfig(ctx, req.Storage, name)
		if err != nil {
			return nil, err
		}
		cfg, err := merge(old)
		if err != nil {
			return writeRefusal(err)
		}
		if verified, err = b.cache.verify(ctx, name, cfg); err != nil {
			return logical.ErrorResponse("verify: nothing was stored: %s", err.Error()), nil
		}
		merge = func(stored *Config) (*Config, error) {
			// As a read's mint does: the write verified must be the one
			// applied to the config as it is now.
			if configID(stored) != configID(old) {
				return nil, logical.CodedError(http.StatusConflict, fmt.Sprintf(
					"config %q was rewritten or deleted while this write verified it; nothing was stored: write again", name))
			}
			return cfg, nil
		}
	}

	e, err := b.cache.replaceConfig(ctx, name, merge, verified)
	if err != nil {
		return writeRefusal(err)
	}
	var resp *logical.Response
	if verified != nil {
		resp = &logical.Response{Data: map[string]any{
			"verified":   true,
			"expires_at": e.token.ExpiresAt.UTC().Format(time.RFC3339),
		}}
		if cut := e.config.marginCut(e.token.lifetime()); cut != "" {
			resp.AddWarning(cut)
		}
	}
	return deprecationNotice(b.providers[e.config.Provider].Spec(), resp), nil
}
