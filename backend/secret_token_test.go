package backend

import (
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/vault/sdk/logical"
)

func TestRevokeIsANoOpThatKeepsTheSharedToken(t *testing.T) {
	env := newTestEnv(t)
	env.writeConfig("p", nil)
	lease := env.readToken("p")
	revoke := &logical.Request{Operation: logical.RevokeOperation, Path: "token/p", Secret: lease.Secret, Data: lease.Data, Storage: env.storage}
	for range 2 { // idempotent: Vault retries revokes and revokes on token expiry
		resp, err := env.b.HandleRequest(t.Context(), revoke)
		if err != nil || (resp != nil && resp.IsError()) {
			t.Fatalf("revoke: %v %v", resp, err)
		}
	}
	if again := env.readToken("p"); again.Data["access_token"] != lease.Data["access_token"] || env.partner.mints() != 1 {
		t.Fatal("revoking one lease replaced the shared token")
	}
}

func TestLeaseRenewableFalseHandsOutNonRenewableLeases(t *testing.T) {
	env := newTestEnv(t)
	env.writeConfig("p", map[string]any{"lease_renewable": false})
	if lease := env.readToken("p"); lease.Secret.Renewable {
		t.Fatal("lease_renewable=false handed out a renewable lease")
	}
	if got := env.mustOK(logical.ReadOperation, "config/p", nil).Data["lease_renewable"]; got != false {
		t.Fatalf("config shows lease_renewable %v, want false", got)
	}
}

func TestRenewNeverExtendsALease(t *testing.T) {
	env := newTestEnv(t)
	env.writeConfig("p", nil)
	lease := env.readToken("p")              // 55m, to 5m before the hour-long token expires
	lease.Secret.IssueTime = env.clock.Now() // as Vault issues it
	if _, ok := lease.Secret.InternalData[internalEnd]; ok {
		t.Fatalf("a new lease carries %s in its internal data; Vault would store it with every lease", internalEnd)
	}
	// No refresh ahead: advancing the fake clock past its time would fire
	// the timer "late", and the engine would rightly shorten renewals by
	// that observed delay (delayWatch); this test is about the lease's end.
	env.b.cache.cancelRefresh(env.b.cache.lookup("p"))
	renew := func() (*logical.Response, error) {
		return env.b.HandleRequest(t.Context(), &logical.Request{Operation: logical.RenewOperation, Path: "token/p",
			Secret: lease.Secret, Data: lease.Data, Storage: env.storage})
	}
	env.clock.Advance(10 * time.Minute)
	resp, err := renew()
	if err != nil || resp == nil || resp.IsError() || resp.Secret == nil {
		t.Fatalf("renew 10m in: %v %v", resp, err)
	}
	if resp.Secret.TTL != 4*time.Minute+30*time.Second {
		t.Fatalf("renew 10m into a 55m lease: TTL %s, want the 4m30s renewal period", resp.Secret.TTL)
	}
	env.clock.Advance(42 * time.Minute)
	if resp, err = renew(); err != nil || resp.IsError() || resp.Secret.TTL != 3*time.Minute {
		t.Fatalf("renew 52m into a 55m lease: %v %v, want the 3m left", resp, err)
	}
	// A new token minted meanwhile does not extend the old lease either.
	env.mustOK(logical.UpdateOperation, "refresh/p", nil)
	env.clock.Advance(2*time.Minute + 59*time.Second + 500*time.Millisecond)
	resp, err = renew()
	if err == nil && (resp == nil || !resp.IsError()) {
		t.Fatalf("renew with 0.5s left succeeded: %v", resp)
	}
	if err == nil && !strings.Contains(resp.Error().Error(), "read token/p again") {
		t.Fatalf("renew refused with %v, want it to say to read token/p again", resp.Error())
	}
}

// Leases granted by v0.1.0 carry their end and period in their internal
// data; a renewal after an upgrade keeps to them.
func TestRenewKeepsToTheEndOfALeaseGrantedBefore(t *testing.T) {
	env := newTestEnv(t)
	env.writeConfig("p", nil)
	lease := env.readToken("p")
	env.b.cache.cancelRefresh(env.b.cache.lookup("p"))
	granted := env.clock.Now()
	lease.Secret.IssueTime = granted
	// The old engine's end, ten minutes before the one the max TTL gives,
	// and a two-minute period, as JSON brings them back.
	lease.Secret.InternalData[internalEnd] = rfc3339Nano(granted.Add(lease.Secret.MaxTTL - 10*time.Minute))
	lease.Secret.InternalData[internalPeriod] = float64(120)
	renew := func() (*logical.Response, error) {
		return env.b.HandleRequest(t.Context(), &logical.Request{Operation: logical.RenewOperation, Path: "token/p",
			Secret: lease.Secret, Data: lease.Data, Storage: env.storage})
	}
	env.clock.Advance(time.Minute)
	if resp, err := renew(); err != nil || resp.IsError() || resp.Secret.TTL != 2*time.Minute {
		t.Fatalf("renew 1m in: %v %v, want the old lease's 2m period", resp, err)
	}
	env.clock.Advance(lease.Secret.MaxTTL - 10*time.Minute - time.Minute - 90*time.Second)
	if resp, err := renew(); err != nil || resp.IsError() || resp.Secret.TTL != 90*time.Second {
		t.Fatalf("renew 90s before the old lease's end: %v %v, want 1m30s", resp, err)
	}
}
