package backend

import (
	"context"

	"github.com/hashicorp/vault/sdk/framework"
	"github.com/hashicorp/vault/sdk/logical"
)

const secretTokenType = "partner_token"

// secretToken is the lease type of token/<name> reads.
//
// It has no Renew: renewing a lease cannot extend the partner's token, so
// the lease is not renewable and Vault Agent re-reads it instead (a
// renewable lease would make Agent renew and keep an expiring token).
func secretToken(b *backend) *framework.Secret {
	return &framework.Secret{
		Type: secretTokenType,
		Fields: map[string]*framework.FieldSchema{
			"access_token": {Type: framework.TypeString, Description: "Bearer token for the partner's API."},
			"token_type":   {Type: framework.TypeString, Description: "Always Bearer."},
			"expires_at":   {Type: framework.TypeString, Description: "When the partner stops accepting the token (RFC 3339)."},
		},
		Revoke: b.revokeToken,
	}
}

// revokeToken deliberately does nothing and always succeeds. Every reader's
// lease points at the same shared partner token, so revoking one lease (or
// the expiry of the Vault token that created it) must not end the token for
// the others; and a revoke that can fail leaves leases stuck, blocking even
// `vault secrets disable`. The partner token expires on its own.
func (b *backend) revokeToken(context.Context, *logical.Request, *framework.FieldData) (*logical.Response, error) {
	return nil, nil
}
