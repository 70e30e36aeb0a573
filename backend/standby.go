package backend

import (
	"context"
	"time"

	"github.com/hashicorp/vault/sdk/logical"
)

// What a standby answers itself. OpenBao's standbys (by default, on
// integrated storage) and Vault Enterprise's performance standbys run the
// engine for reads, on a replica of the mount's storage; Vault's community
// standbys run no plugin and forward every request. A read without a lease
// (lease_mode=none) registers nothing, so a standby answers it from its
// replica while the token there is servable by the rules the active node
// applies; everything else it hands to the active node (errHandOver),
// which alone mints, writes and registers leases
// (docs/how-it-works.md#reads-served-by-standbys).

// standby reports whether this node is a standby that runs the engine: one
// that may not write storage. The answer is the framework's, from the
// replication state the system view remembers briefly.
func (b *backend) standby() bool { return !b.WriteSafeReplicationState() }

// readReplica answers a read of token/<name> on a standby: from the
// replica when the config is unleased and its token servable after the
// delay allowance, which the read's own time in the engine may raise, as
// on the active node (lease); else errHandOver.
func (b *backend) readReplica(ctx context.Context, name string, arrived time.Time) (*logical.Response, error) {
	allowance := b.delays.allowance(arrived)
	e, err := b.cache.fromReplica(ctx, name, allowance)
	if err != nil {
		return nil, err
	}
	now := b.clock.Now()
	b.delays.observe(now, now.Sub(arrived))
	allowance = max(allowance, now.Sub(arrived), b.delays.allowance(now))
	if !e.config.servable(e.token, now, allowance) {
		return nil, errHandOver
	}
	b.metrics.standbyReads.WithLabelValues(name, e.config.Provider).Inc()
	return b.unleasedResponse(e, now, allowance), nil
}
