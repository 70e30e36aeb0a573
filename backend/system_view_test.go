package backend

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/vault/sdk/helper/consts"
	"github.com/hashicorp/vault/sdk/logical"
)

// countingSystemView counts the calls that are gRPC round trips to Vault
// in an external plugin.
type countingSystemView struct {
	*logical.StaticSystemView
	replicationState, maxLeaseTTL atomic.Int64
}

func (s *countingSystemView) ReplicationState() consts.ReplicationState {
	s.replicationState.Add(1)
	return s.StaticSystemView.ReplicationState()
}

func (s *countingSystemView) MaxLeaseTTL() time.Duration {
	s.maxLeaseTTL.Add(1)
	return s.StaticSystemView.MaxLeaseTTL()
}

func TestCachedReadsDoNotAskVaultEachTime(t *testing.T) {
	env := newTestEnv(t)
	env.writeConfig("p", nil)
	sys := &countingSystemView{StaticSystemView: env.system}
	b := newBackend(options{clock: env.clock, jitter: noJitter})
	conf := logical.TestBackendConfig()
	conf.StorageView = env.storage
	conf.System = sys
	conf.Logger = hclog.NewNullLogger()
	if err := b.attach(context.Background(), conf); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Cleanup(context.Background()) })

	const reads = 100
	start := time.Now()
	for range reads {
		resp, err := env.requestTo(b, logical.ReadOperation, "token/p", nil)
		if err != nil || resp.Secret == nil || resp.Secret.MaxTTL != 55*time.Minute {
			t.Fatalf("read: %v %v", resp, err)
		}
	}
	// Asked by the first read, then at most once per replicationStateRefresh.
	if n := sys.replicationState.Load(); n > 1+int64(time.Since(start)/replicationStateRefresh) {
		t.Errorf("%d cached reads asked Vault for the replication state %d times", reads, n)
	}
	if n := sys.maxLeaseTTL.Load(); n > 1 {
		t.Errorf("%d cached reads asked Vault for max_lease_ttl %d times", reads, n)
	}
}

func TestRememberedValueIsFetchedAgainAfterItsTTL(t *testing.T) {
	var fetches int
	r := remembered[int]{ttl: time.Hour, fetch: func() int { fetches++; return fetches }}
	if r.get() != 1 || r.get() != 1 {
		t.Fatalf("fetched again within the TTL: %d fetches", fetches)
	}
	r.ttl = 0 // the last answer is now too old
	if got := r.get(); got != 2 {
		t.Fatalf("after the TTL got %d, want a new fetch", got)
	}
}
