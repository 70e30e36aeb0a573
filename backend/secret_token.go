package backend

import (
	"context"
	"errors"

	"github.com/hashicorp/vault/sdk/framework"
	"github.com/hashicorp/vault/sdk/logical"
)

const secretTokenType = "partner_token"

// secretToken is the lease type of token/<name> reads.
//
// A lease is renewable (unless the config sets lease_renewable=false or
// lease_mode=none), but no renewal takes it past the end it was granted
// until, the token's safe end: that end is its max TTL, its TTL a shorter
// renewal period (Config.renewalPeriod), and a renewal keeps it for at most
// the period and the time left to the end (renewalTTL). Being renewable is
// what Vault Proxy needs to cache a read
// (docs/how-it-works.md#renewal-periods-and-vault-proxy).
func secretToken(b *backend) *framework.Secret {
	return &framework.Secret{
		Type: secretTokenType,
		Fields: map[string]*framework.FieldSchema{
			"access_token": {Type: framework.TypeString, Description: "Bearer token for the partner's API."},
			"token_type":   {Type: framework.TypeString, Description: "Always Bearer."},
			"expires_at":   {Type: framework.TypeString, Description: "When the partner stops accepting the token (RFC 3339)."},
		},
		Renew:  b.renewToken,
		Revoke: b.revokeToken,
	}
}

// renewToken answers a renewal with the TTL renewalTTL allows, or, once
// the lease is about to end, with the reader's cue to read token/<name>
// again for the next token.
func (b *backend) renewToken(_ context.Context, req *logical.Request, _ *framework.FieldData) (*logical.Response, error) {
	if req.Secret == nil {
		return nil, errors.New("renewal without a lease")
	}
	ttl, err := b.renewalTTL(req.Secret)
	if errors.Is(err, errLeaseEnding) {
		return logical.ErrorResponse("the partner token behind this lease is about to be replaced: read token/%v again for the next one", req.Secret.InternalData["config"]), nil
	}
	if err != nil {
		return nil, err
	}
	resp := &logical.Response{Secret: req.Secret}
	resp.Secret.TTL = ttl
	return resp, nil
}

// revokeToken deliberately does nothing and always succeeds. Every reader's
// lease points at the same shared partner token, so revoking one lease (or
// the expiry of the Vault token that created it) must not end the token for
// the others; and a revoke that can fail leaves leases stuck, blocking even
// `vault secrets disable`. The partner token expires on its own.
func (b *backend) revokeToken(context.Context, *logical.Request, *framework.FieldData) (*logical.Response, error) {
	return nil, nil
}
