package backend

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/hashicorp/vault/sdk/framework"
	"github.com/hashicorp/vault/sdk/logical"
)

const (
	secretTokenType = "partner_token"

	// internalEnd and internalPeriod are the keys, in the internal data
	// of leases granted by v0.1.0, of the instant the lease was granted
	// until and of its renewal period in seconds. Leases now carry
	// neither (leaseEndOf, periodOf): Vault stores a lease's internal data
	// with every lease, on integrated storage in the Raft log.
	internalEnd    = "lease_end"
	internalPeriod = "lease_period"
)

// secretToken is the lease type of token/<name> reads.
//
// A lease is renewable (unless the config sets lease_renewable=false or
// lease_mode=none), but no renewal takes it past the end it was granted
// until, the token's safe end: that end is its max TTL, its TTL is a
// shorter renewal period (Config.renewalPeriod), and Renew answers with at
// most the period and the time left to the end. Being renewable is what
// Vault Proxy needs to cache a read: it passes non-renewable leases through
// ("pass-through response; secret not renewable"), and serves a cached one
// to every read of the app until its renewer gives up near the lease's
// end, when the next read fetches the new token. Vault Agent templates
// renew the lease the same way and read again at that point
// (consul-template dependency/vault_read.go: Fetch calls renewSecret, whose
// LifetimeWatcher ends when renewals stop extending the lease; a
// non-renewable lease instead sleeps 85-95% of it, leaseCheckWait in
// dependency/vault_common.go).
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
	end, err := leaseEndOf(req.Secret)
	if err != nil {
		return nil, err
	}
	now := b.clock.Now()
	left := (end.Sub(now) - b.delays.recent(now)).Truncate(time.Second)
	if left < minLease {
		return logical.ErrorResponse("the partner token behind this lease is about to be replaced: read token/%v again for the next one", req.Secret.InternalData["config"]), nil
	}
	ttl := left
	if period := periodOf(req.Secret); period > 0 && period < ttl {
		ttl = period
	}
	if inc := req.Secret.Increment; inc > 0 && inc < ttl {
		ttl = max(inc, minLease)
	}
	resp := &logical.Response{Secret: req.Secret}
	resp.Secret.TTL = ttl
	return resp, nil
}

// periodOf is a lease's renewal period: its TTL, which the first answer
// set to the period (or to less, for a lease shorter than one) and every
// renewal since to at most that. Leases granted by v0.1.0 carry it in their
// internal data, which comes back from Vault through JSON, so the number
// may be a float or a json.Number.
func periodOf(secret *logical.Secret) time.Duration {
	switch v := secret.InternalData[internalPeriod].(type) {
	case int64:
		return time.Duration(v) * time.Second
	case float64:
		return time.Duration(v) * time.Second
	case json.Number:
		n, _ := v.Int64()
		return time.Duration(n) * time.Second
	}
	return secret.TTL
}

// leaseEndOf is the end a lease was granted until: its issue time plus its
// max TTL, which is also where Vault (and OpenBao) caps every renewal
// (framework.CalculateTTL from the lease's IssueTime). Vault issues the
// lease a moment after the engine computed it, less than the delays the
// lease was already shortened by (delayWatch) and its truncation to whole
// seconds. Leases granted by v0.1.0 carry their end in their internal data,
// which then counts.
func leaseEndOf(secret *logical.Secret) (time.Time, error) {
	if s, ok := secret.InternalData[internalEnd].(string); ok {
		end, err := time.Parse(time.RFC3339Nano, s)
		if err != nil {
			return time.Time{}, fmt.Errorf("the lease's %s %q is not a time: %w", internalEnd, s, err)
		}
		return end, nil
	}
	if secret.IssueTime.IsZero() || secret.MaxTTL <= 0 {
		return time.Time{}, fmt.Errorf("the lease has no issue time and max TTL to renew within")
	}
	return secret.IssueTime.Add(secret.MaxTTL), nil
}

// revokeToken deliberately does nothing and always succeeds. Every reader's
// lease points at the same shared partner token, so revoking one lease (or
// the expiry of the Vault token that created it) must not end the token for
// the others; and a revoke that can fail leaves leases stuck, blocking even
// `vault secrets disable`. The partner token expires on its own.
func (b *backend) revokeToken(context.Context, *logical.Request, *framework.FieldData) (*logical.Response, error) {
	return nil, nil
}
