package e2e

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// runDocBlock runs the first sh block after marker in the document at
// path (docBlock, with replace), as a reader would paste it, in dir with
// bash, and with the vault CLI on PATH pointed at v.
func runDocBlock(t *testing.T, ctx context.Context, v *vaultServer, path, marker, dir string, replace map[string]string) string {
	t.Helper()
	block := docBlock(t, path, marker, "sh", replace)

	cli, err := os.MkdirTemp(v.Dir, "cli-")
	if err != nil {
		t.Fatal(err)
	}
	// On OpenBao the documented vault commands run as bao, which reads the
	// VAULT_* variables when no BAO_* one is set (childEnv drops those).
	if err := os.Symlink(env.serverBin, filepath.Join(cli, "vault")); err != nil {
		t.Fatal(err)
	}
	cmd := exec.CommandContext(ctx, "bash", "-euo", "pipefail", "-c", block)
	cmd.Dir = dir
	cmd.Env = childEnv(v.Dir, "VAULT_ADDR="+v.Addr, "VAULT_TOKEN="+rootToken)
	for i, kv := range cmd.Env {
		if strings.HasPrefix(kv, "PATH=") {
			cmd.Env[i] = "PATH=" + cli + string(os.PathListSeparator) + strings.TrimPrefix(kv, "PATH=")
		}
	}
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("the commands after %q in %s failed: %v\n%s\n%s", marker, path, err, block, out)
	}
	t.Logf("the commands after %q in %s:\n%s\n%s", marker, path, block, out)
	return string(out)
}

// docBlock is the first code block in lang after marker in the document at
// path, with replace applied: it maps text of the block (example paths,
// addresses, versions) to a test's; each must occur, so that a changed
// document fails rather than passing untested.
func docBlock(t *testing.T, path, marker, lang string, replace map[string]string) string {
	t.Helper()
	doc, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	_, section, ok := strings.Cut(string(doc), marker)
	_, block, ok2 := strings.Cut(section, "```"+lang+"\n")
	block, _, ok3 := strings.Cut(block, "\n```")
	if !ok || !ok2 || !ok3 {
		t.Fatalf("%s has no %s block after %q", path, lang, marker)
	}
	for old, replacement := range replace {
		if !strings.Contains(block, old) {
			t.Fatalf("the %s block after %q in %s no longer contains %q, which this test replaces:\n%s", lang, marker, path, old, block)
		}
		block = strings.ReplaceAll(block, old, replacement)
	}
	return block
}
