package backend

import (
	"context"

	"github.com/hashicorp/vault/sdk/framework"
	"github.com/hashicorp/vault/sdk/logical"

	"github.com/partnertoken/vault-plugin-secrets-partnertoken/internal/signing"
)

const pathJWKSHelpDesc = `
The public keys of the config's private keys, to register at the partner:
jwks is a JWK Set (RFC 7517) holding the current key and, during a rotation,
the next one, each with its kid, alg and use "sig"; public_keys gives each
as PEM too, for partners that ask for a key file. Nothing private is ever
in it, so it can be granted to whoever registers keys at the partner
without access to config/<name>.
`

func pathJWKS(b *backend) []*framework.Path {
	return []*framework.Path{{
		Pattern: "config/" + framework.GenericNameRegex("name") + "/jwks$",
		DisplayAttrs: &framework.DisplayAttributes{
			OperationPrefix: operationPrefix,
			OperationSuffix: "jwks",
		},
		Fields: map[string]*framework.FieldSchema{
			"name": nameField("Name of the config."),
		},
		Operations: map[logical.Operation]framework.OperationHandler{
			logical.ReadOperation: &framework.PathOperation{
				Callback: b.pathJWKSRead,
				DisplayAttrs: &framework.DisplayAttributes{
					OperationVerb: "read",
				},
			},
		},
		HelpSynopsis:    "The public keys of a config's private keys, as a JWKS and as PEM.",
		HelpDescription: pathJWKSHelpDesc,
	}}
}

func (b *backend) pathJWKSRead(ctx context.Context, req *logical.Request, d *framework.FieldData) (*logical.Response, error) {
	name, invalid := configName(d)
	if invalid != nil {
		return invalid, nil
	}
	cfg, err := readConfig(ctx, req.Storage, name)
	if err != nil {
		return nil, err
	}
	if cfg == nil {
		return nil, noSuchConfig(req.MountPoint, name)
	}
	var keys []*signing.Key
	publicKeys := []map[string]any{}
	for _, stored := range []struct {
		status string
		load   func() (*signing.Key, error)
	}{{"current", cfg.currentKey}, {"next", cfg.nextKey}} {
		k, err := stored.load()
		if err != nil {
			return nil, err
		}
		if k == nil {
			continue
		}
		keys = append(keys, k)
		publicKeys = append(publicKeys, map[string]any{
			"kid": k.ID, "algorithm": k.Algorithm, "status": stored.status, "public_key_pem": k.PublicPEM(),
		})
	}
	jwks, err := signing.JWKS(keys...)
	if err != nil {
		return nil, err
	}
	resp := &logical.Response{Data: map[string]any{"jwks": jwks, "public_keys": publicKeys}}
	if len(keys) == 0 {
		resp.AddWarning("config " + quote(name) + " holds no private key: write generate_private_key=true (or private_key) to it first")
	}
	return resp, nil
}
