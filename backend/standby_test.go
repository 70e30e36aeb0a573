package backend

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/vault/sdk/helper/consts"
	"github.com/hashicorp/vault/sdk/logical"
)

// readOnlyStorage is a standby's view of the replicated storage: reads
// see what the active node wrote, writes fail as on an OpenBao standby,
// and are counted.
type readOnlyStorage struct {
	logical.Storage
	writes atomic.Int64
}

func (s *readOnlyStorage) Put(context.Context, *logical.StorageEntry) error {
	s.writes.Add(1)
	return logical.ErrReadOnly
}

func (s *readOnlyStorage) Delete(context.Context, string) error {
	s.writes.Add(1)
	return logical.ErrReadOnly
}

// standbyNode is a backend on a standby of env's cluster.
type standbyNode struct {
	b       *backend
	storage *readOnlyStorage
}

// newStandby starts a backend as a standby that serves reads: the
// replication state says performance standby, and storage is env's,
// read-only.
func (env *testEnv) newStandby() *standbyNode {
	env.t.Helper()
	system := *env.system
	system.ReplicationStateVal = consts.ReplicationPerformanceStandby
	storage := &readOnlyStorage{Storage: env.storage}
	b := newBackend(options{clock: env.clock, jitter: noJitter})
	conf := logical.TestBackendConfig()
	conf.StorageView = storage
	conf.System = &system
	conf.Logger = hclog.New(&hclog.LoggerOptions{Output: env.logs, Level: hclog.Trace})
	if err := b.attach(context.Background(), conf); err != nil {
		env.t.Fatal(err)
	}
	env.t.Cleanup(func() { b.Cleanup(context.Background()) })
	return &standbyNode{b: b, storage: storage}
}

func (s *standbyNode) read(path string) (*logical.Response, error) {
	return s.b.HandleRequest(context.Background(), &logical.Request{
		Operation: logical.ReadOperation, Path: path, Storage: s.storage, MountPoint: "partner/",
	})
}

// invalidate tells the standby that the active node wrote key, as the
// server does once the write is in the standby's storage.
func (s *standbyNode) invalidate(key string) { s.b.Invalidate(context.Background(), key) }

// newUnleasedStandby is an env whose config none has lease_mode none and
// a token the active node minted, and a standby of it.
func newUnleasedStandby(t *testing.T) (*testEnv, *standbyNode) {
	t.Helper()
	env := newTestEnv(t)
	env.writeConfig("none", map[string]any{"lease_mode": leaseModeNone})
	env.readToken("none")
	return env, env.newStandby()
}

// advanceToRefresh moves env's clock to the refresh time of name's stored
// token, and returns its config and token.
func (env *testEnv) advanceToRefresh(name string) (*Config, *storedToken) {
	env.t.Helper()
	cfg := env.storedConfig(name)
	tok, err := readToken(env.t.Context(), env.storage, name)
	if err != nil {
		env.t.Fatal(err)
	}
	env.clock.Advance(cfg.refreshAt(tok, 0).Sub(env.clock.Now()))
	return cfg, tok
}

func TestStandbyServesUnleasedReadsFromItsReplica(t *testing.T) {
	env := newTestEnv(t)
	env.writeConfig("none", map[string]any{"lease_mode": leaseModeNone})
	active := env.readToken("none")
	standby := env.newStandby()

	for range 3 {
		resp, err := standby.read("token/none")
		if err != nil {
			t.Fatalf("token/none on the standby: %v", err)
		}
		if resp.Secret != nil {
			t.Fatalf("a lease on an unleased read: %+v", resp.Secret)
		}
		for _, k := range []string{"access_token", "expires_at", "ttl", "rotation_period"} {
			if resp.Data[k] != active.Data[k] {
				t.Errorf("%s on the standby = %v, on the active node %v", k, resp.Data[k], active.Data[k])
			}
		}
	}
	if n := counterValue(t, standby.b.metrics.standbyReads.WithLabelValues("none", "oauth2")); n != 3 {
		t.Errorf("partnertoken_standby_reads_total = %v, want 3", n)
	}
	if n := counterValue(t, standby.b.metrics.cacheHits.WithLabelValues("none", "oauth2")) + counterValue(t, standby.b.metrics.cacheMisses.WithLabelValues("none", "oauth2")); n != 0 {
		t.Errorf("the standby counted %v cache hits and misses: those are the reads the active node answers", n)
	}
	if n := env.partner.mints(); n != 1 {
		t.Errorf("%d mints, want the active node's one", n)
	}
	if n := standby.storage.writes.Load(); n != 0 {
		t.Errorf("the standby tried %d storage writes", n)
	}
}

// What a standby cannot answer from its replica goes to the active node:
// the server forwards a request answered with the read-only error.
func TestStandbyHandsOverWhatItCannotServe(t *testing.T) {
	env := newTestEnv(t)
	env.writeConfig("leased", nil)
	env.writeConfig("none", map[string]any{"lease_mode": leaseModeNone})
	env.writeConfig("unread", map[string]any{"lease_mode": leaseModeNone})
	env.readToken("none")
	standby := env.newStandby()

	requests := env.partner.requests()
	for _, tc := range []struct {
		name, path string
	}{
		{"a leased read: only the active node can store its lease", "token/leased"},
		{"an unleased config without a token: the active node mints", "token/unread"},
		{"a config not in the replica (yet): the active node tells", "token/missing"},
		{"status of a config whose reads the active node serves", "status/leased"},
		{"status of a config not in the replica", "status/missing"},
		{"the list of statuses", "status/"},
		{"metrics: the active node's counts", "metrics"},
	} {
		var op logical.Operation = logical.ReadOperation
		if tc.path == "status/" {
			op = logical.ListOperation
		}
		resp, err := standby.b.HandleRequest(context.Background(), &logical.Request{Operation: op, Path: tc.path, Storage: standby.storage, MountPoint: "partner/"})
		if !errors.Is(err, logical.ErrReadOnly) {
			t.Errorf("%s (%s): got %v, %v; want the read-only error the server forwards", tc.name, tc.path, resp, err)
		}
	}
	if n := env.partner.requests() - requests; n != 0 {
		t.Errorf("the standby asked the partner %d times", n)
	}
	// What the replica holds is read there.
	if resp, err := standby.read("config/leased"); err != nil || resp == nil || resp.Data["provider"] == nil {
		t.Errorf("config/leased on the standby: got %v, %v; want the config", resp, err)
	}

	// Near its end the token is not servable on the standby either. The
	// active node refreshes it at its refresh time; the standby, not told
	// (no invalidation), hands one read over and serves its copy until it
	// is too close to its end.
	if _, err := standby.read("token/none"); err != nil {
		t.Fatal(err)
	}
	cfg, tok := env.advanceToRefresh("none")
	env.waitRefresh(2)
	if _, err := standby.read("token/none"); !errors.Is(err, logical.ErrReadOnly) {
		t.Errorf("the first read of a token due for refresh on the standby: %v, want it handed over", err)
	}
	if _, err := standby.read("token/none"); err != nil {
		t.Errorf("the next read of the servable token on the standby: %v", err)
	}
	env.clock.Advance(cfg.leaseEnd(tok).Sub(env.clock.Now()) - minServedLease + time.Second)
	if _, err := standby.read("token/none"); !errors.Is(err, logical.ErrReadOnly) {
		t.Errorf("a token too close to its end on the standby: %v, want it handed over", err)
	}
	if n := standby.storage.writes.Load(); n != 0 {
		t.Errorf("the standby tried %d storage writes", n)
	}
}

// The active node refreshes ahead only tokens it saw read; the reads of an
// unleased config may all go to standbys. Each standby hands the active
// node one read of a token due for its refresh and serves the others.
func TestStandbyHandsOverOneReadOfATokenDueForRefresh(t *testing.T) {
	env, standby := newUnleasedStandby(t)
	if _, err := standby.read("token/none"); err != nil {
		t.Fatal(err)
	}
	env.advanceToRefresh("none")
	if _, err := standby.read("token/none"); !errors.Is(err, logical.ErrReadOnly) {
		t.Fatalf("the first read past the refresh time: %v, want it handed over", err)
	}
	for range 3 {
		if _, err := standby.read("token/none"); err != nil {
			t.Fatalf("a later read of the still servable token: %v, want it served", err)
		}
	}
}

// A refresh, a config rewrite and a config delete on the active node reach
// the standby's answers through Invalidate.
func TestStandbyFollowsTheActiveNodesWrites(t *testing.T) {
	env, standby := newUnleasedStandby(t)
	token := func() any {
		t.Helper()
		resp, err := standby.read("token/none")
		if err != nil {
			t.Fatalf("token/none on the standby: %v", err)
		}
		return resp.Data["access_token"]
	}
	if got := token(); got != env.partner.token(1) {
		t.Fatalf("the standby serves %v, want the first token", got)
	}

	env.clock.Advance(refreshMinInterval)
	env.mustOK(logical.UpdateOperation, "refresh/none", nil)
	if got := token(); got != env.partner.token(1) {
		t.Fatalf("before the invalidation the standby serves %v, want its copy (the first token)", got)
	}
	standby.invalidate(tokenPrefix + "none")
	if got := token(); got != env.partner.token(2) {
		t.Fatalf("after the refresh the standby serves %v, want the second token", got)
	}

	env.mustOK(logical.UpdateOperation, "config/none", map[string]any{"refresh_fraction": 0.7})
	standby.invalidate(configPrefix + "none")
	standby.invalidate(tokenPrefix + "none")
	if _, err := standby.read("token/none"); !errors.Is(err, logical.ErrReadOnly) {
		t.Fatalf("after a config rewrite: %v, want the read handed over (no token of the new config yet)", err)
	}
	env.readToken("none")
	standby.invalidate(tokenPrefix + "none")
	if got := token(); got != env.partner.token(3) {
		t.Fatalf("after the rewrite the standby serves %v, want the third token", got)
	}

	env.mustOK(logical.DeleteOperation, "config/none", nil)
	standby.invalidate(configPrefix + "none")
	if _, err := standby.read("token/none"); !errors.Is(err, logical.ErrReadOnly) {
		t.Fatalf("after a config delete: %v, want the read handed over", err)
	}
}

func TestStandbyStatusSaysItServesFromItsReplica(t *testing.T) {
	env, standby := newUnleasedStandby(t)
	if _, err := standby.read("token/none"); err != nil {
		t.Fatal(err)
	}
	env.clock.Advance(90 * time.Second)
	resp, err := standby.read("status/none")
	if err != nil {
		t.Fatal(err)
	}
	for k, want := range map[string]any{
		"node_role":           "standby",
		"served_from":         "replica",
		"replica_loaded_at":   rfc3339(env.clock.Now().Add(-90 * time.Second)),
		"replica_age_seconds": int64(90),
		"standby_reads":       int64(1),
		"token_valid":         true,
	} {
		if resp.Data[k] != want {
			t.Errorf("status/none on the standby: %s = %v, want %v", k, resp.Data[k], want)
		}
	}
	if _, ok := resp.Data["refresh_scheduled"]; ok {
		t.Errorf("status/none on the standby reports refresh_scheduled: only the active node refreshes")
	}
	if role := env.mustOK(logical.ReadOperation, "status/none", nil).Data["node_role"]; role != "active" {
		t.Errorf("status/none on the active node: node_role %v, want active", role)
	}
}
