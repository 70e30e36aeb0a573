package e2e

import (
	"testing"
	"time"
)

// TestPluginReload restarts the plugin: the token cached in storage
// survives it (no new mint), while rewriting the config drops it.
func TestPluginReload(t *testing.T) {
	ctx := ctxFor(t)
	const p = "dinie"
	root := shared.root
	before, err := readToken(ctx, root, mount, p)
	if err != nil {
		t.Fatal(err)
	}
	minted := shared.sim.mints(t, p)
	// A log that cannot be read counts none, before and after: the check
	// below fails.
	reloads := len(logLines(shared.vault.LogPath, "successfully reloaded plugin"))

	if _, err := root.write(ctx, "sys/plugins/reload/backend", map[string]any{"plugin": pluginName}); err != nil {
		t.Fatalf("reloading the plugin: %v", err)
	}
	if len(logLines(shared.vault.LogPath, "successfully reloaded plugin")) == reloads {
		t.Fatalf("Vault's log does not show the plugin reloaded")
	}

	// The reloaded plugin may take a moment to answer.
	var after *lease
	if err := poll(ctx, 20*time.Second, func() (err error) {
		after, err = readToken(ctx, root, mount, p)
		return err
	}); err != nil {
		t.Fatalf("reading after the reload: %v", err)
	}
	checkLease(t, shared.sim, p, mount, p, after)
	if after.AccessToken != before.AccessToken {
		t.Errorf("after a reload the read returned another token, want the cached one")
	}
	if n := shared.sim.mints(t, p); n != minted {
		t.Errorf("the reload caused %d mints, want none", n-minted)
	}

	// Rewriting the config, even with the same values, drops the token.
	if err := configure(ctx, root, mount, p, p, shared.sim, nil); err != nil {
		t.Fatal(err)
	}
	rewritten, err := readToken(ctx, root, mount, p)
	if err != nil {
		t.Fatal(err)
	}
	checkLease(t, shared.sim, p, mount, p, rewritten)
	if rewritten.AccessToken == before.AccessToken {
		t.Errorf("after rewriting the config the read returned the old token")
	}
	if n := shared.sim.mints(t, p); n != minted+1 {
		t.Errorf("rewriting the config and reading caused %d mints, want 1", n-minted)
	}
}
