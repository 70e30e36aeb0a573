package backend

import (
	"sync/atomic"
	"time"
)

// mountMaxTTLRefresh is how long the mount's max_lease_ttl is remembered.
// In an external plugin every System() call is a gRPC round trip to Vault;
// asking on every cached read would double its cost. Vault caps each lease at
// the mount's maximum anyway: asking at all only spares readers the
// "TTL exceeded the effective max_ttl" warning, so a tune may take this long
// to show in leases.
const mountMaxTTLRefresh = 30 * time.Second

// mountMaxTTL caches the mount's max_lease_ttl without a lock on the read
// path; two readers refreshing it at once both store the same answer.
type mountMaxTTL struct {
	value   atomic.Int64 // time.Duration
	fetched atomic.Int64 // Unix nanoseconds; 0 until first fetched
}

func (b *backend) mountMaxTTL() time.Duration {
	m := &b.maxTTL
	now := time.Now().UnixNano()
	if fetched := m.fetched.Load(); fetched == 0 || now-fetched > int64(mountMaxTTLRefresh) {
		m.value.Store(int64(b.System().MaxLeaseTTL()))
		m.fetched.Store(now)
	}
	return time.Duration(m.value.Load())
}
