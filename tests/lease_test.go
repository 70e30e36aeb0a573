package e2e

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"
)

// leaseKeys lists the lease IDs Vault holds under prefix (a path such as
// partner/token/oauth2), as `vault list sys/leases/lookup/<prefix>` does.
func leaseKeys(ctx context.Context, c *vaultClient, prefix string) ([]string, error) {
	resp, err := c.list(ctx, "sys/leases/lookup/"+prefix+"/")
	if statusOf(err) == http.StatusNotFound {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var ids []string
	keys, _ := resp.Data["keys"].([]any)
	for _, k := range keys {
		if s, ok := k.(string); ok {
			ids = append(ids, prefix+"/"+s)
		}
	}
	return ids, nil
}

// leaseGone checks that Vault no longer knows lease id.
func leaseGone(ctx context.Context, c *vaultClient, id string) error {
	_, err := c.write(ctx, "sys/leases/lookup", map[string]any{"lease_id": id})
	switch {
	case err == nil:
		return errors.New("it still exists")
	case statusOf(err) != http.StatusBadRequest: // "invalid lease"
		return fmt.Errorf("looking it up: %w", err)
	}
	return nil
}

// waitLeaseGone waits up to timeout for lease id to disappear.
func waitLeaseGone(ctx context.Context, c *vaultClient, id string, timeout time.Duration) error {
	return poll(ctx, timeout, func() error { return leaseGone(ctx, c, id) })
}

// TestRevokeKeepsSharedToken revokes readers' leases, one at a time, by
// revoking the Vault token that holds them, and by prefix: every revoke
// succeeds and leaves no lease behind, and the partner token that the
// leases share stays cached for the other readers. Renewal is refused.
func TestRevokeKeepsSharedToken(t *testing.T) {
	ctx := ctxFor(t)
	const p = "setu"
	root := shared.root
	if _, err := root.write(ctx, "sys/policies/acl/read-all-partner-tokens", map[string]any{
		"policy": `path "` + mount + `/token/*" { capabilities = ["read"] }`,
	}); err != nil {
		t.Fatal(err)
	}
	reader, err := root.childToken(ctx, "read-all-partner-tokens")
	if err != nil {
		t.Fatal(err)
	}

	first, err := readToken(ctx, reader, mount, p)
	if err != nil {
		t.Fatal(err)
	}
	minted := shared.sim.mints(t, p)

	// One reader's lease.
	if _, err := root.write(ctx, "sys/leases/revoke", map[string]any{"lease_id": first.ID}); err != nil {
		t.Fatalf("revoking lease %s: %v", first.ID, err)
	}
	if err := leaseGone(ctx, root, first.ID); err != nil {
		t.Errorf("the revoked lease: %v", err)
	}
	if ids, err := leaseKeys(ctx, root, mount+"/token/"+p); err != nil {
		t.Fatal(err)
	} else if slices.Contains(ids, first.ID) {
		t.Errorf("the revoked lease is still listed: %v", ids)
	}

	second, err := readToken(ctx, reader, mount, p)
	if err != nil {
		t.Fatalf("reading after a revoke: %v", err)
	}
	checkLease(t, shared.sim, p, mount, p, second)
	if second.AccessToken != first.AccessToken {
		t.Errorf("after revoking one lease the next read got another token, want the shared one")
	}
	if n := shared.sim.mints(t, p); n != minted {
		t.Errorf("revoking a lease caused %d mints, want none", n-minted)
	}

	// A renewal succeeds but never takes the lease past the token's
	// expiry: it cannot extend the partner's token.
	renewed, err := reader.write(ctx, "sys/leases/renew", map[string]any{"lease_id": second.ID})
	switch {
	case err != nil:
		t.Errorf("renewing lease %s: %v", second.ID, err)
	case renewed.LeaseDuration <= 0 || time.Now().Add(time.Duration(renewed.LeaseDuration)*time.Second).After(second.ExpiresAt):
		t.Errorf("renewing lease %s gave %d s, want a positive lease that ends before the token expires at %s",
			second.ID, renewed.LeaseDuration, second.ExpiresAt.UTC().Format(time.RFC3339))
	}

	// Revoking the reader's Vault token revokes its leases.
	if _, err := reader.write(ctx, "auth/token/revoke-self", nil); err != nil {
		t.Fatalf("revoking the reader's token: %v", err)
	}
	// Vault revokes them in the background: they must be gone shortly.
	if err := waitLeaseGone(ctx, root, second.ID, 30*time.Second); err != nil {
		t.Errorf("the lease of a revoked Vault token: %v", err)
	}

	// Revoking every lease of the path, synchronously.
	third, err := readToken(ctx, root, mount, p)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := root.write(ctx, "sys/leases/revoke-prefix/"+mount+"/token/"+p, map[string]any{"sync": true}); err != nil {
		t.Fatalf("revoking by prefix: %v", err)
	}
	if ids, err := leaseKeys(ctx, root, mount+"/token/"+p); err != nil {
		t.Fatal(err)
	} else if len(ids) > 0 {
		t.Errorf("leases left after revoke-prefix: %v", ids)
	}
	fourth, err := readToken(ctx, root, mount, p)
	if err != nil {
		t.Fatal(err)
	}
	if fourth.AccessToken != third.AccessToken || fourth.AccessToken != first.AccessToken {
		t.Errorf("revoking by prefix replaced the shared token")
	}
	if n := shared.sim.mints(t, p); n != minted {
		t.Errorf("the revokes caused %d mints, want none", n-minted)
	}
}

// TestDisableWithLiveLeases disables a mount while readers hold leases: a
// revoke that fails would leave them stuck and block the unmount.
func TestDisableWithLiveLeases(t *testing.T) {
	ctx := ctxFor(t)
	const path, p = "partner-disable", "doku"
	root := shared.root
	if err := shared.vault.mountPlugin(ctx, path); err != nil {
		t.Fatal(err)
	}
	if err := configure(ctx, root, path, p, p, shared.sim, nil); err != nil {
		t.Fatal(err)
	}
	for range 3 {
		if _, err := readToken(ctx, root, path, p); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := root.delete(ctx, "sys/mounts/"+path); err != nil {
		t.Fatalf("disabling a mount with live leases: %v", err)
	}
	if ids, err := leaseKeys(ctx, root, path+"/token/"+p); err != nil {
		t.Fatal(err)
	} else if len(ids) > 0 {
		t.Errorf("leases left after disabling the mount: %v", ids)
	}
}

// TestLeaseSettingsThatCannotWorkThroughVault: a ttl under the 2 s a cached
// read is served with, and a ttl with lease_mode=none (where reads get no
// lease), are refused with a 400 that names the field; an expiry_margin over
// half the token's lifetime, which only the mint can know, is cut to half,
// and Vault carries the engine's warning to the client on the verified
// write and on status/<name>.
func TestLeaseSettingsThatCannotWorkThroughVault(t *testing.T) {
	ctx := ctxFor(t)
	const name, p = "lease-settings", "oauth2"
	sim, err := startSimulator("lease-settings", map[string]time.Duration{p: 20 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(sim.Close)
	root := shared.root
	t.Cleanup(func() { root.delete(context.Background(), mount+"/config/"+name) })

	err = configure(ctx, root, mount, name, p, sim, map[string]any{"ttl": "1s"})
	expectRefused(t, "ttl=1s", err, http.StatusBadRequest, "ttl must be 0 (no cap) or at least 2s, not 1s")
	err = configure(ctx, root, mount, name, p, sim, map[string]any{"lease_mode": "none", "max_ttl": "5m"})
	expectRefused(t, "max_ttl with lease_mode=none", err, http.StatusBadRequest, "max_ttl (5m0s) caps a lease", "write max_ttl=0 with lease_mode=none")

	client := sim.client(p)
	written, err := root.write(ctx, mount+"/config/"+name, map[string]any{
		"provider": p, "token_url": sim.tokenURL(p), "client_id": client.ID, "client_secret": client.Secret,
		"expiry_margin": "1m", "verify": true,
	})
	if err != nil {
		t.Fatal(err)
	}
	const cut = "expiry_margin (1m0s) is more than half the token's lifetime (20s): leases on it end 10s before it expires"
	if !slices.ContainsFunc(written.Warnings, func(w string) bool { return strings.Contains(w, cut) }) {
		t.Errorf("the verified write's warnings %q do not say %q", written.Warnings, cut)
	}
	status, err := root.read(ctx, mount+"/status/"+name)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.ContainsFunc(status.Warnings, func(w string) bool { return strings.Contains(w, cut) }) {
		t.Errorf("status/%s warnings %q do not say %q", name, status.Warnings, cut)
	}
}
