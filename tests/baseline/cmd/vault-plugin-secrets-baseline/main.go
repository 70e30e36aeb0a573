// Command vault-plugin-secrets-baseline is the ceiling for any external
// secrets plugin in the load benchmark (tests/load, scripts/bench.sh): it
// answers every read of token/<name> with the same fixed leased response,
// without touching storage or any other state.
//
// It is shaped like partnertoken's token/<name> (same path pattern, same
// field, a response of the same fields and about the same size, a no-op
// revoke) and leases the way partnertoken leases by default: renewable,
// with a max TTL of 55 minutes and a TTL that lease/ sets (scripts/bench.sh
// writes the lease_duration partnertoken's read returned). Leases that end
// alike are revoked alike: with a TTL of 55 minutes against partnertoken's
// renewal period of about 4.5 minutes, Vault revoked partnertoken's unrenewed
// leases, a gRPC call into the plugin and storage deletes each, within a run
// and the baseline's only after it. It is served the same way
// (plugin.ServeMultiplex), so what is left between the two is the work
// partnertoken does to find its cached token.
//
// token/<name> is declared with the framework's Callbacks, which is the
// least a plugin can do: for a path declared with Operations (as
// partnertoken's and KV's are), the SDK's framework asks Vault for its
// replication state on every request, to forward it from performance
// standbys; a gRPC round trip unless the plugin remembers the answer, as
// partnertoken does. ops/<name> is the same response through
// Operations, to measure that round trip (the load tool's
// -baseline minimal-ops=baseline/ops/<name>). plain/<name> is the same
// data without a lease (through Callbacks), to measure what registering a
// lease costs Vault on every read.
//
// With PPROF_ADDR in its environment (vault plugin register -env
// PPROF_ADDR=127.0.0.1:6062) it also serves net/http/pprof there.
package main

import (
	"context"
	"strings"
	"sync/atomic"
	"time"

	"github.com/hashicorp/vault/sdk/framework"
	"github.com/hashicorp/vault/sdk/logical"

	"github.com/partnertoken/vault-plugin-secrets-partnertoken/tests/internal/profiledplugin"
)

// Version is what the plugin reports to Vault; register it with the same
// version (scripts/bench.sh does).
const Version = "v1.0.0"

const secretType = "baseline_token"

// leaseMaxTTL is the max TTL of every lease: about what partnertoken hands
// out for an hour-long token (the lifetime less a 5-minute margin). The
// TTL is leaseMaxTTL until lease/ sets it.
const leaseMaxTTL = 55 * time.Minute

// accessToken is as long as the simulator's OAuth2 tokens.
var accessToken = strings.Repeat("b", 40)

func main() { profiledplugin.Serve(factory, nil) }

func factory(ctx context.Context, conf *logical.BackendConfig) (logical.Backend, error) {
	secret := &framework.Secret{
		Type: secretType,
		Fields: map[string]*framework.FieldSchema{
			"access_token": {Type: framework.TypeString},
			"token_type":   {Type: framework.TypeString},
			"expires_at":   {Type: framework.TypeString},
		},
		// Vault caps a renewal at the max TTL counted from the lease's
		// issue.
		Renew: func(_ context.Context, req *logical.Request, _ *framework.FieldData) (*logical.Response, error) {
			return &logical.Response{Secret: req.Secret}, nil
		},
		Revoke: func(context.Context, *logical.Request, *framework.FieldData) (*logical.Response, error) {
			return nil, nil
		},
	}
	var leaseTTL atomic.Int64
	leaseTTL.Store(int64(leaseMaxTTL))
	var b *framework.Backend
	read := func(_ context.Context, _ *logical.Request, d *framework.FieldData) (*logical.Response, error) {
		data := map[string]any{
			"access_token": accessToken,
			"token_type":   "Bearer",
			"expires_at":   "2030-01-01T00:00:00Z",
		}
		resp := b.Secret(secretType).Response(data, map[string]any{"config": d.Get("name").(string)})
		resp.Secret.TTL = time.Duration(leaseTTL.Load())
		resp.Secret.MaxTTL = leaseMaxTTL
		resp.Secret.Renewable = true
		return resp, nil
	}
	setLease := func(_ context.Context, _ *logical.Request, d *framework.FieldData) (*logical.Response, error) {
		ttl := time.Duration(d.Get("ttl").(int)) * time.Second
		if ttl <= 0 || ttl > leaseMaxTTL {
			return logical.ErrorResponse("ttl must be between 1s and %s", leaseMaxTTL), nil
		}
		leaseTTL.Store(int64(ttl))
		return nil, nil
	}
	plain := func(ctx context.Context, req *logical.Request, d *framework.FieldData) (*logical.Response, error) {
		resp, err := read(ctx, req, d)
		resp.Secret = nil
		return resp, err
	}
	fields := map[string]*framework.FieldSchema{
		"name": {Type: framework.TypeLowerCaseString, Required: true},
	}
	b = &framework.Backend{
		Help:        "A fixed leased response at token/<name> (and ops/<name>, and unleased at plain/<name>), its TTL set at lease/, for benchmarks.",
		BackendType: logical.TypeLogical,
		Paths: []*framework.Path{
			{
				Pattern: "token/" + framework.GenericNameRegex("name"),
				Fields:  fields,
				//nolint:staticcheck // Callbacks on purpose: see the package doc.
				Callbacks: map[logical.Operation]framework.OperationFunc{
					logical.ReadOperation: read,
				},
			},
			{
				Pattern: "plain/" + framework.GenericNameRegex("name"),
				Fields:  fields,
				//nolint:staticcheck // Callbacks on purpose: see the package doc.
				Callbacks: map[logical.Operation]framework.OperationFunc{
					logical.ReadOperation: plain,
				},
			},
			{
				Pattern: "ops/" + framework.GenericNameRegex("name"),
				Fields:  fields,
				Operations: map[logical.Operation]framework.OperationHandler{
					logical.ReadOperation: &framework.PathOperation{Callback: read},
				},
			},
			{
				// Last: the framework tries the paths in order, and reads
				// should not pay for this one.
				Pattern: "lease$",
				Fields: map[string]*framework.FieldSchema{
					"ttl": {Type: framework.TypeDurationSecond, Required: true},
				},
				//nolint:staticcheck // Callbacks, as for the reads.
				Callbacks: map[logical.Operation]framework.OperationFunc{
					logical.UpdateOperation: setLease,
				},
			},
		},
		Secrets:        []*framework.Secret{secret},
		RunningVersion: Version,
	}
	if err := b.Setup(ctx, conf); err != nil {
		return nil, err
	}
	return b, nil
}
