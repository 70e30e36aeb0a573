package backend

import (
	"context"
	"fmt"
	"time"

	"github.com/hashicorp/vault/sdk/framework"
	"github.com/hashicorp/vault/sdk/logical"
)

const (
	secretTokenType = "partner_token"

	// internalEnd is the key, in a lease's internal data, of the instant
	// the lease was granted until: no renewal goes past it.
	internalEnd = "lease_end"
)

// secretToken is the lease type of token/<name> reads.
//
// A lease is renewable (unless the config sets lease_renewable=false), but a
// renewal never extends it: its max TTL is its TTL, the time to the token's
// safe end, and Renew answers with at most the time left to that end. That
// is what Vault Proxy needs to cache a read (it passes non-renewable leases
// through, "pass-through response; secret not renewable") and then serve one
// lease to every read of the app until the lease ends, when its renewer
// stops, the entry is evicted and the next read fetches the new token.
// Vault Agent templates renew a renewable secret and read it again when a
// renewal no longer extends it (consul-template dependency/vault_read.go,
// renewSecret with api.LifetimeWatcher: it stops once the lease left is
// within its grace of 10-20% of the lease), so they pick up the next token
// before this one ends, as with a non-renewable lease, which they re-read
// after 85-95% of it (leaseCheckWait).
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

// renewToken keeps a lease for the time left to the end it was granted
// until, less the delays seen recently, and refuses once less than
// minLease is left: the reader must read token/<name> again for the next
// token. It never extends a lease.
func (b *backend) renewToken(_ context.Context, req *logical.Request, _ *framework.FieldData) (*logical.Response, error) {
	if req.Secret == nil {
		return nil, fmt.Errorf("renewal without a lease")
	}
	end, err := leaseEndOf(req.Secret.InternalData)
	if err != nil {
		return nil, err
	}
	now := b.clock.Now()
	left := (end.Sub(now) - b.delays.recent(now)).Truncate(time.Second)
	if left < minLease {
		return logical.ErrorResponse("the partner token behind this lease is about to be replaced: read token/%v again for the next one", req.Secret.InternalData["config"]), nil
	}
	resp := &logical.Response{Secret: req.Secret}
	resp.Secret.TTL = left
	if inc := req.Secret.Increment; inc > 0 && inc < left {
		resp.Secret.TTL = inc
	}
	return resp, nil
}

// leaseEndOf reads the end a lease was granted until. Leases granted
// before renewals existed have none and were not renewable.
func leaseEndOf(internal map[string]any) (time.Time, error) {
	s, ok := internal[internalEnd].(string)
	if !ok {
		return time.Time{}, fmt.Errorf("the lease has no %s: it was not granted as renewable", internalEnd)
	}
	end, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return time.Time{}, fmt.Errorf("the lease's %s %q is not a time: %w", internalEnd, s, err)
	}
	return end, nil
}

// revokeToken deliberately does nothing and always succeeds. Every reader's
// lease points at the same shared partner token, so revoking one lease (or
// the expiry of the Vault token that created it) must not end the token for
// the others; and a revoke that can fail leaves leases stuck, blocking even
// `vault secrets disable`. The partner token expires on its own.
func (b *backend) revokeToken(context.Context, *logical.Request, *framework.FieldData) (*logical.Response, error) {
	return nil, nil
}
