package e2e

import (
	"archive/zip"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/partnertoken/vault-plugin-secrets-partnertoken/backend"
)

// TestUpgrade upgrades a mount in place by running the one-node commands
// of docs/upgrading.md: the older build installed and mounted, the newer
// one unzipped from its release zip beside it, registered by sha256, the
// mount tuned to it and the plugin reloaded. The mount then runs the newer
// binary, and its configs and cached tokens survive: no new mint, and the
// mount keeps working.
func TestUpgrade(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	const older, newer = "v0.9.0", "v0.10.0"
	work := filepath.Join(env.workDir, "upgrade")
	pluginDir, download := filepath.Join(work, "plugins"), filepath.Join(work, "download")
	for _, dir := range []string{pluginDir, download} {
		if err := os.MkdirAll(dir, 0o700); err != nil {
			t.Fatal(err)
		}
	}
	oldBin := buildPluginVersion(t, ctx, filepath.Join(pluginDir, pluginName), older)
	newBuild := buildPluginVersion(t, ctx, filepath.Join(download, pluginName), newer)
	releaseZip(t, newBuild, filepath.Join(download, fmt.Sprintf("%s_%s_linux_amd64.zip", pluginName, newer)))

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
	const path = "partner" // as in docs/upgrading.md
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

	runDocBlock(t, ctx, vault, "docs/upgrading.md", "upgrading-one-node", download, map[string]string{
		"OLD=v0.1.0 NEW=v0.2.0":      fmt.Sprintf("OLD=%s NEW=%s", older, newer),
		"PLUGINS=/etc/vault/plugins": "PLUGINS=" + pluginDir,
	})
	if err := poll(ctx, 30*time.Second, func() error {
		_, err := root.read(ctx, path+"/providers")
		return err
	}); err != nil {
		t.Fatalf("the mount does not answer after the reload: %v\nVault's log:\n%s", err, tail(vault.LogPath, 30))
	}
	newBin := filepath.Join(pluginDir, pluginName+"_"+newer)
	if sha256Of(t, newBin) != sha256Of(t, newBuild) {
		t.Fatalf("%s is not the binary in the release zip", newBin)
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

	// The old version retired as the page says, then the log level of the
	// version running set as docs/operations.md says: registered again with
	// the file the upgrade installed, which the old one's name no longer is.
	sh := docShell{addr: vault.Addr, token: rootToken, dir: work, env: []string{"OLD=" + older, "PLUGINS=" + pluginDir}}
	sh.run(t, ctx, "upgrading-deregister", docBlock(t, "docs/upgrading.md", "run", "upgrading-deregister", nil))
	if _, err := os.Stat(oldBin); !os.IsNotExist(err) {
		t.Errorf("%s is still there after upgrading-deregister (%v)", oldBin, err)
	}
	untraced := readIDs(ctx, t, root, path+"/token/after-upgrade")
	sh.run(t, ctx, "operations-log-level", docBlock(t, "docs/operations.md", "run", "operations-log-level", nil))
	entry, err := root.read(ctx, "sys/plugins/catalog/secret/"+pluginName+"?version="+newer)
	if err != nil {
		t.Fatal(err)
	}
	// (OpenBao does not show a catalog entry's env; the leasing lines below
	// tell whether the plugin has it.)
	if entry.Data["command"] != filepath.Base(newBin) || entry.Data["sha256"] != sha256Of(t, newBin) {
		t.Errorf("the catalog entry of %s after operations-log-level: %v, want command %s and its sha256",
			newer, entry.Data, filepath.Base(newBin))
	}
	checkRunningPlugin(t, ctx, root, path, newer, sha256Of(t, newBin))
	traced := readIDs(ctx, t, root, path+"/token/after-upgrade")
	lines := logLines(vault.LogPath, "leasing token: ")
	for _, id := range untraced {
		if containsAny(lines, "request_id="+id) {
			t.Errorf("before operations-log-level the engine wrote a leasing line for read %s: it was registered without %s", id, backend.LogLevelEnv)
		}
	}
	for _, id := range traced {
		if !containsAny(lines, "request_id="+id) {
			t.Errorf("after operations-log-level the engine wrote no leasing line for read %s", id)
		}
	}
}

// buildPluginVersion builds the engine with version compiled in, as make
// build does, to bin, and returns bin.
func buildPluginVersion(t *testing.T, ctx context.Context, bin, version string) string {
	t.Helper()
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

// releaseZip packs bin as make release does (the binary, executable, at the
// top of the zip) into archive, and lists the zip in SHA256SUMS beside it.
func releaseZip(t *testing.T, bin, archive string) {
	t.Helper()
	data, err := os.ReadFile(bin)
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	header := &zip.FileHeader{Name: pluginName, Method: zip.Deflate}
	header.SetMode(0o755)
	w, err := zw.CreateHeader(header)
	if err == nil {
		_, err = w.Write(data)
	}
	if err == nil {
		err = zw.Close()
	}
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(archive, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(buf.Bytes())
	line := hex.EncodeToString(sum[:]) + "  " + filepath.Base(archive) + "\n"
	if err := os.WriteFile(filepath.Join(filepath.Dir(archive), "SHA256SUMS"), []byte(line), 0o644); err != nil {
		t.Fatal(err)
	}
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
