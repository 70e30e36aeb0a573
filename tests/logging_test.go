package e2e

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/partnertoken/vault-plugin-secrets-partnertoken/backend"
)

// TestEngineLogLevelIsSetAtRegistration: the engine writes its line per
// read ("leasing token", trace) only when registered with
// PARTNERTOKEN_LOG_LEVEL=trace, as the suite registers it. Registered
// without it, as docs/installing.md does, the same binary still logs its
// mints but writes nothing per read: every line a plugin writes costs Vault
// a JSON decode whatever Vault's own log level (backend.PluginLogger).
func TestEngineLogLevelIsSetAtRegistration(t *testing.T) {
	ctx := ctxFor(t)
	root := shared.root
	const name = "log-level"

	// The suite's mount: registered at trace.
	if err := configure(ctx, root, mount, name, "oauth2", shared.sim, nil); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { root.delete(context.Background(), mount+"/config/"+name) })
	traced := readIDs(ctx, t, root, mount+"/token/"+name)

	// The same binary, registered under another name with no environment,
	// mounted beside it.
	const plain, plainMount = pluginName + "-default-log-level", "partner-default-log-level"
	if err := registerCatalogEntry(ctx, root, plain, filepath.Join(env.pluginDir, pluginName), env.pluginVersion); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		root.delete(context.Background(), "sys/plugins/catalog/secret/"+plain+"?version="+env.pluginVersion)
	})
	if _, err := root.write(ctx, "sys/mounts/"+plainMount, map[string]any{
		"type": plain, "config": map[string]any{"plugin_version": env.pluginVersion},
	}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { root.delete(context.Background(), "sys/mounts/"+plainMount) })
	if _, err := root.write(ctx, plainMount+"/settings", map[string]any{"allowed_token_url_hosts": "127.0.0.1"}); err != nil {
		t.Fatal(err)
	}
	if err := configure(ctx, root, plainMount, name, "oauth2", shared.sim, nil); err != nil {
		t.Fatal(err)
	}
	untraced := readIDs(ctx, t, root, plainMount+"/token/"+name)

	lines := logLines(shared.vault.LogPath, "leasing token: ")
	for _, id := range traced {
		if !containsAny(lines, "request_id="+id) {
			t.Errorf("registered with %s=trace, the engine wrote no leasing line for read %s", backend.LogLevelEnv, id)
		}
	}
	for _, id := range untraced {
		if containsAny(lines, "request_id="+id) {
			t.Errorf("registered without %s, the engine wrote a leasing line for read %s: a line per read by default", backend.LogLevelEnv, id)
		}
	}
	// Both plugin processes log their mint of the config (info).
	if n := len(filter(logLines(shared.vault.LogPath, "minted token: "), "config="+name+" ")); n < 2 {
		t.Errorf("%d \"minted token\" lines for config %s, want one from each registration", n, name)
	}
}

// TestEngineLogLevelFromTheServersEnvironment: a plugin process inherits
// the server's environment, so PARTNERTOKEN_LOG_LEVEL set for the server
// (a systemd unit's Environment=) sets the level of a registration that
// has none. Where the registration sets it too, Vault uses the
// registration's value and OpenBao the server's (serverEnvWins), as
// docs/operations.md says.
func TestEngineLogLevelFromTheServersEnvironment(t *testing.T) {
	ctx := ctxFor(t)
	dir, err := os.MkdirTemp(env.workDir, "log-level-env-")
	if err != nil {
		t.Fatal(err)
	}
	v, err := startVaultWithEnv(ctx, dir, []string{backend.LogLevelEnv + "=trace"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(v.Stop)
	const name = "log-level"
	bin := filepath.Join(env.pluginDir, pluginName)

	// Registered with no environment of its own.
	if err := registerCatalogEntry(ctx, v.root, pluginName, bin, env.pluginVersion); err != nil {
		t.Fatal(err)
	}
	if err := v.mountPlugin(ctx, mount); err != nil {
		t.Fatal(err)
	}
	if err := configure(ctx, v.root, mount, name, "oauth2", shared.sim, nil); err != nil {
		t.Fatal(err)
	}
	inherited := readIDs(ctx, t, v.root, mount+"/token/"+name)

	// The same binary registered under another name with a level of its own.
	const own, ownMount = pluginName + "-own-log-level", "partner-own-log-level"
	if err := registerCatalogEntry(ctx, v.root, own, bin, env.pluginVersion, backend.LogLevelEnv+"=info"); err != nil {
		t.Fatal(err)
	}
	if _, err := v.root.write(ctx, "sys/mounts/"+ownMount, map[string]any{
		"type": own, "config": map[string]any{"plugin_version": env.pluginVersion},
	}); err != nil {
		t.Fatal(err)
	}
	if _, err := v.root.write(ctx, ownMount+"/settings", map[string]any{"allowed_token_url_hosts": "127.0.0.1"}); err != nil {
		t.Fatal(err)
	}
	if err := configure(ctx, v.root, ownMount, name, "oauth2", shared.sim, nil); err != nil {
		t.Fatal(err)
	}
	registered := readIDs(ctx, t, v.root, ownMount+"/token/"+name)

	lines := logLines(v.LogPath, "leasing token: ")
	for _, id := range inherited {
		if !containsAny(lines, "request_id="+id) {
			t.Errorf("with %s=trace in the server's environment and none at registration, the engine wrote no leasing line for read %s", backend.LogLevelEnv, id)
		}
	}
	for _, id := range registered {
		if traced := containsAny(lines, "request_id="+id); traced != env.server.serverEnvWins {
			t.Errorf("%s=trace for the server, =info at registration: %s wrote a leasing line for read %s: %v, want %v (the server's value wins: %v)",
				backend.LogLevelEnv, env.server.product, id, traced, env.server.serverEnvWins, env.server.serverEnvWins)
		}
	}
}

// readIDs reads path twice (a mint, then a cached read) and returns the
// request IDs Vault gave the reads.
func readIDs(ctx context.Context, t *testing.T, c *vaultClient, path string) []string {
	t.Helper()
	var ids []string
	for range 2 {
		resp, err := c.read(ctx, path)
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, resp.RequestID)
	}
	return ids
}

// logLines returns the lines of the log at path that contain s.
func logLines(path, s string) []string {
	var lines []string
	eachLine(path, func(line string) {
		if strings.Contains(line, s) {
			lines = append(lines, line)
		}
	})
	return lines
}

func filter(lines []string, s string) []string {
	var out []string
	for _, l := range lines {
		if strings.Contains(l, s) {
			out = append(out, l)
		}
	}
	return out
}

func containsAny(lines []string, s string) bool { return len(filter(lines, s)) > 0 }
