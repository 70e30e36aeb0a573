package e2e

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"
)

// TestUpgrade upgrades a mount in place as the README's "Upgrading" says:
// two builds of the plugin registered by sha256, the mount on the older,
// tuned to the newer and reloaded. The mount then runs the newer binary,
// and its configs and cached tokens survive: no new mint, and the mount
// keeps working.
func TestUpgrade(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	const older, newer = "v0.9.0", "v0.10.0"
	work := filepath.Join(env.workDir, "upgrade")
	pluginDir := filepath.Join(work, "plugins")
	if err := os.MkdirAll(pluginDir, 0o700); err != nil {
		t.Fatal(err)
	}
	oldBin := buildPluginVersion(t, ctx, pluginDir, older)
	newBin := buildPluginVersion(t, ctx, pluginDir, newer)

	sim, err := startSimulator("upgrade", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer sim.Close()
	vault, err := startVaultWithPlugins(ctx, work, pluginDir)
	if err != nil {
		t.Fatal(err)
	}
	defer vault.Stop()
	root := vault.root
	if err := vault.registerBinary(ctx, oldBin, older); err != nil {
		t.Fatal(err)
	}
	if err := vault.registerBinary(ctx, newBin, newer); err != nil {
		t.Fatal(err)
	}
	const path = "upgraded"
	if err := vault.mountPluginVersion(ctx, path, older); err != nil {
		t.Fatal(err)
	}
	checkRunningPlugin(t, ctx, root, path, older, sha256Of(t, oldBin))

	configs := map[string]string{"dupr": "dupr", "billing": "oauth2"} // name: partner
	before := map[string]*lease{}
	for name, partner := range configs {
		if err := configure(ctx, root, path, name, partner, sim, nil); err != nil {
			t.Fatal(err)
		}
		if before[name], err = readToken(ctx, root, path, name); err != nil {
			t.Fatal(err)
		}
	}
	mints := map[string]int{}
	for _, partner := range configs {
		mints[partner] = sim.mints(t, partner)
	}

	// Pin the mount to the newer version, then restart its plugin: Vault
	// starts the binary registered for that version.
	if _, err := root.write(ctx, "sys/mounts/"+path+"/tune", map[string]any{"plugin_version": newer}); err != nil {
		t.Fatalf("tuning %s/ to %s: %v", path, newer, err)
	}
	if _, err := root.write(ctx, "sys/plugins/reload/secret/"+pluginName, nil); err != nil {
		t.Fatalf("reloading the plugin: %v", err)
	}
	if err := poll(ctx, 30*time.Second, func() error {
		_, err := root.read(ctx, path+"/providers")
		return err
	}); err != nil {
		t.Fatalf("the mount does not answer after the reload: %v\nVault's log:\n%s", err, tail(vault.LogPath, 30))
	}
	checkRunningPlugin(t, ctx, root, path, newer, sha256Of(t, newBin))

	for name, partner := range configs {
		cfg, err := root.read(ctx, path+"/config/"+name)
		if err != nil {
			t.Fatalf("config/%s after the upgrade: %v", name, err)
		}
		if cfg.Data["provider"] != partner || cfg.Data["client_id"] != sim.client(partner).ID || cfg.Data["client_secret_set"] != true {
			t.Errorf("config/%s after the upgrade: %v, want the stored %s config", name, cfg.Data, partner)
		}
		after, err := readToken(ctx, root, path, name)
		if err != nil {
			t.Fatalf("token/%s after the upgrade: %v", name, err)
		}
		checkLease(t, sim, partner, path, name, after)
		if after.AccessToken != before[name].AccessToken {
			t.Errorf("token/%s after the upgrade is another token, want the one cached before it", name)
		}
		if n := sim.mints(t, partner); n != mints[partner] {
			t.Errorf("the upgrade caused %d mints at %s, want none", n-mints[partner], partner)
		}
	}

	// The new binary mints too: a config written after the upgrade.
	if err := configure(ctx, root, path, "after-upgrade", "dupr", sim, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := readToken(ctx, root, path, "after-upgrade"); err != nil {
		t.Fatalf("reading a new config on %s: %v", newer, err)
	}
	if n := sim.mints(t, "dupr"); n != mints["dupr"]+1 {
		t.Errorf("a new config on %s caused %d mints, want 1", newer, n-mints["dupr"])
	}
}

// buildPluginVersion builds the engine with version compiled in, as make
// build does, into dir under a name of its own, and returns its path.
func buildPluginVersion(t *testing.T, ctx context.Context, dir, version string) string {
	t.Helper()
	bin := filepath.Join(dir, pluginName+"_"+version)
	cmd := exec.CommandContext(ctx, "go", "build", "-trimpath",
		"-ldflags", "-X github.com/partnertoken/vault-plugin-secrets-partnertoken/backend.Version="+version,
		"-o", bin, ".")
	cmd.Dir = ".." // the engine's module
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("building the plugin %s: %v\n%s", version, err, out)
	}
	return bin
}

func sha256Of(t *testing.T, path string) string {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(data)
	return hex.EncodeToString(sum[:])
}
