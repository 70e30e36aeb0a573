package backend

import (
	"sync/atomic"
	"time"

	"github.com/hashicorp/vault/sdk/helper/consts"
	"github.com/hashicorp/vault/sdk/logical"
)

// In an external plugin every SystemView call is a gRPC round trip back to
// Vault. Two of them would otherwise run on every cached token read: the
// SDK framework asks for the replication state before any operation of a
// path declared with Operations (to forward it from performance standbys),
// and the lease needs the mount's max_lease_ttl. Both answers are
// remembered briefly (docs/how-it-works.md#asking-vault-less-on-every-read).
const (
	// replicationStateRefresh bounds how long a change of the node's
	// replication state goes unseen. Vault sets a mount up anew when a
	// node changes role, so in practice it never changes under a backend.
	replicationStateRefresh = time.Second
	// maxLeaseTTLRefresh is how long a tune of max_lease_ttl may take to
	// show in leases. Vault caps each lease at the mount's maximum anyway:
	// asking at all only spares readers its "TTL exceeded" warning.
	maxLeaseTTLRefresh = 30 * time.Second
)

// systemView is Vault's SystemView with the answers asked on every request
// remembered; every other call goes to Vault.
type systemView struct {
	logical.SystemView
	replicationState remembered[consts.ReplicationState]
	maxLeaseTTL      remembered[time.Duration]
}

func newSystemView(sys logical.SystemView) *systemView {
	return &systemView{
		SystemView:       sys,
		replicationState: remembered[consts.ReplicationState]{ttl: replicationStateRefresh, fetch: sys.ReplicationState},
		maxLeaseTTL:      remembered[time.Duration]{ttl: maxLeaseTTLRefresh, fetch: sys.MaxLeaseTTL},
	}
}

func (s *systemView) ReplicationState() consts.ReplicationState { return s.replicationState.get() }

func (s *systemView) MaxLeaseTTL() time.Duration { return s.maxLeaseTTL.get() }

// remembered is a value fetched at most once per ttl, without a lock on the
// read path: two readers refreshing it at once both store an answer.
type remembered[T any] struct {
	ttl   time.Duration
	fetch func() T
	last  atomic.Pointer[fetched[T]]
}

type fetched[T any] struct {
	value T
	at    time.Time
}

func (r *remembered[T]) get() T {
	now := time.Now()
	if f := r.last.Load(); f != nil && now.Sub(f.at) < r.ttl {
		return f.value
	}
	f := &fetched[T]{value: r.fetch(), at: now}
	r.last.Store(f)
	return f.value
}
