package backend

import (
	"context"

	"github.com/hashicorp/vault/sdk/framework"
	"github.com/hashicorp/vault/sdk/logical"

	"github.com/partnertoken/vault-plugin-secrets-partnertoken/internal/provider"
)

func pathProviders(b *backend) []*framework.Path {
	return []*framework.Path{{
		Pattern: "providers/?$",
		DisplayAttrs: &framework.DisplayAttributes{
			OperationPrefix: operationPrefix,
			OperationSuffix: "providers",
		},
		Operations: map[logical.Operation]framework.OperationHandler{
			logical.ReadOperation: &framework.PathOperation{
				Callback: b.pathProvidersRead,
				DisplayAttrs: &framework.DisplayAttributes{
					OperationVerb: "list",
				},
			},
		},
		HelpSynopsis:    "Describe the provider kinds a config can use.",
		HelpDescription: "Lists every registered provider with its documented environments (and their token URLs), the config fields it adds, and, for a partner API kept only for existing integrations, the partner's deprecation notice.",
	}}
}

func (b *backend) pathProvidersRead(context.Context, *logical.Request, *framework.FieldData) (*logical.Response, error) {
	providers := map[string]any{}
	for _, name := range b.providers.Names() {
		providers[name] = describeProvider(b.providers[name].Spec())
	}
	return &logical.Response{Data: map[string]any{
		"keys":      b.providers.Names(),
		"providers": providers,
	}}, nil
}

func describeProvider(spec provider.Spec) map[string]any {
	envs := map[string]any{}
	for _, env := range spec.Environments {
		envs[env.Name] = map[string]any{"token_url": env.TokenURL, "aliases": env.Aliases}
	}
	fields := map[string]any{}
	for _, f := range spec.Fields {
		field := map[string]any{"description": f.Description}
		if f.Default != "" {
			field["default"] = f.Default
		}
		if len(f.Allowed) > 0 {
			field["allowed"] = f.Allowed
		}
		fields[f.Name] = field
	}
	desc := map[string]any{
		"display_name":       spec.DisplayName,
		"description":        spec.Description,
		"docs":               spec.Docs,
		"environments":       envs,
		"fields":             fields,
		"token_url_required": len(spec.Environments) == 0,
	}
	if spec.DefaultLifetime > 0 {
		desc["default_lifetime"] = int64(spec.DefaultLifetime.Seconds())
	}
	if spec.Deprecation != "" {
		desc["deprecated"] = spec.Deprecation
	}
	return desc
}

// deprecationNotice adds the partner's deprecation notice, if its API has
// one, to the answer of a config write as a Vault warning, so nobody builds
// a new integration on it unaware. resp may be nil.
func deprecationNotice(spec provider.Spec, resp *logical.Response) *logical.Response {
	if spec.Deprecation == "" {
		return resp
	}
	if resp == nil {
		resp = &logical.Response{}
	}
	resp.AddWarning("provider " + spec.Name + ": " + spec.Deprecation)
	return resp
}
