package e2e

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// env is where the build under test is, from the PARTNERTOKEN_E2E_*
// variables `make test-e2e` sets, else where that target puts things.
var env struct {
	// server is the kind of server under test (PARTNERTOKEN_E2E_SERVER),
	// serverBin its binary: vault or bao.
	server        serverKind
	serverBin     string
	pluginDir     string
	pluginVersion string
	// workDir holds the logs of this run (tests/.work/<time>), kept after
	// the run for whoever investigates a failure.
	workDir string
}

// shared is the environment most tests use: one dev server with the
// plugin mounted at partner/, a file audit device, the partner simulator
// and one config per simulated partner, named after it.
var shared struct {
	vault *vaultServer
	root  *vaultClient
	sim   *simulator
	audit string // path of the audit log
}

func TestMain(m *testing.M) {
	os.Exit(run(m))
}

func run(m *testing.M) int {
	if err := locateBuild(); err != nil {
		if os.Getenv("PARTNERTOKEN_E2E_SKIP") != "" {
			fmt.Printf("e2e: skipped (PARTNERTOKEN_E2E_SKIP is set): %v\n", err)
			return 0
		}
		fmt.Fprintf(os.Stderr, "e2e: %v\n\nRun `make test` (or `make test-e2e`, `make test-e2e-openbao`) from the repository root:\nit obtains the server and builds the plugin, then runs these tests. Set PARTNERTOKEN_E2E_SKIP=1 to skip them instead.\n", err)
		return 1
	}
	fmt.Printf("e2e: %s, plugin %s from %s, logs in %s\n", serverVersion(), env.pluginVersion, env.pluginDir, env.workDir)

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	stop, err := startShared(ctx)
	defer stop()
	if err != nil {
		fmt.Fprintf(os.Stderr, "e2e: setting up the shared %s: %v\n", env.server.product, err)
		return 1
	}
	code := m.Run()

	// Every test ran against the shared server; whatever they did, neither
	// its audit log nor its own log may hold a client secret.
	if leaks := findSecrets([]string{shared.audit, shared.vault.LogPath}, shared.sim.secrets()); len(leaks) > 0 {
		fmt.Fprintf(os.Stderr, "e2e: FAIL: client secrets in the shared server's logs after all tests:\n  %s\n", strings.Join(leaks, "\n  "))
		code = 1
	}
	return code
}

// locateBuild fills env, or says what is missing.
func locateBuild() error {
	repo, err := filepath.Abs("..")
	if err != nil {
		return err
	}
	if env.server, err = serverKindNamed(os.Getenv("PARTNERTOKEN_E2E_SERVER")); err != nil {
		return err
	}
	env.serverBin = os.Getenv(env.server.binEnv)
	if env.serverBin == "" {
		if env.server != vaultKind {
			return fmt.Errorf("%s is not set: it names the %s binary to test with (`make test-e2e-openbao` sets it)", env.server.binEnv, env.server.product)
		}
		version, err := pinnedVersion(filepath.Join(repo, "tools", "vault", "go.mod"), "github.com/hashicorp/vault")
		if err != nil {
			return err
		}
		env.serverBin = filepath.Join(repo, ".cache", "bin", "vault-"+version)
	}
	if info, err := os.Stat(env.serverBin); err != nil || info.IsDir() || info.Mode()&0o111 == 0 {
		return fmt.Errorf("no %s binary at %s", env.server.product, env.serverBin)
	}

	env.pluginDir = os.Getenv("PARTNERTOKEN_E2E_PLUGIN_DIR")
	if env.pluginDir == "" {
		env.pluginDir = filepath.Join(repo, ".cache", "e2e", "plugins")
	}
	if info, err := os.Stat(filepath.Join(env.pluginDir, pluginName)); err != nil || info.Mode()&0o111 == 0 {
		return fmt.Errorf("no plugin binary at %s", filepath.Join(env.pluginDir, pluginName))
	}
	env.pluginVersion = os.Getenv("PARTNERTOKEN_E2E_PLUGIN_VERSION")
	if env.pluginVersion == "" {
		data, err := os.ReadFile(filepath.Join(env.pluginDir, "..", "plugin-version"))
		if err != nil {
			return fmt.Errorf("the plugin's version is unknown: set PARTNERTOKEN_E2E_PLUGIN_VERSION (%v)", err)
		}
		env.pluginVersion = strings.TrimSpace(string(data))
	}

	work := filepath.Join(repo, "tests", ".work")
	if err := os.MkdirAll(work, 0o700); err != nil {
		return err
	}
	pruneRuns(work, 4)
	env.workDir, err = os.MkdirTemp(work, time.Now().UTC().Format("20060102T150405Z-"))
	return err
}

// pruneRuns removes the logs of all but the newest keep earlier runs.
// Their directory names start with the time, so they sort by age.
func pruneRuns(work string, keep int) {
	runs, err := os.ReadDir(work)
	if err != nil {
		return
	}
	for len(runs) > keep {
		_ = os.RemoveAll(filepath.Join(work, runs[0].Name()))
		runs = runs[1:]
	}
}

// pinnedVersion reads the version of module that a tools module pins, as
// scripts/get-vault.sh and scripts/get-prometheus.sh do.
func pinnedVersion(goMod, module string) (string, error) {
	f, err := os.Open(goMod)
	if err != nil {
		return "", err
	}
	defer f.Close()
	scanner := bufio.NewScanner(f)
	for scanner.Scan() {
		fields := strings.Fields(strings.TrimPrefix(strings.TrimSpace(scanner.Text()), "require "))
		if len(fields) >= 2 && fields[0] == module {
			return strings.TrimPrefix(fields[1], "v"), nil
		}
	}
	return "", errors.New("no " + module + " requirement in " + goMod)
}

func serverVersion() string {
	out, err := exec.Command(env.serverBin, "version").Output()
	if err != nil {
		return env.server.product + " (version unknown)"
	}
	return strings.TrimSpace(string(out))
}

// startShared brings up the shared environment. stop tears down whatever
// was started, also after an error.
func startShared(ctx context.Context) (stop func(), err error) {
	dir := filepath.Join(env.workDir, "shared")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return func() {}, err
	}
	shared.sim, err = startSimulator("shared", nil)
	if err != nil {
		return func() {}, err
	}
	stop = func() { shared.sim.Close() }

	// The audit device comes first, so it sees every request of every test.
	shared.audit = filepath.Join(dir, "audit.log")
	shared.vault, err = startAuditedVault(ctx, dir, shared.audit)
	if err != nil {
		return stop, err
	}
	stop = func() {
		shared.vault.Stop()
		shared.sim.Close()
	}
	shared.root = shared.vault.root
	if err := shared.vault.registerPlugin(ctx, mount); err != nil {
		return stop, err
	}
	for _, name := range partners {
		if err := configure(ctx, shared.root, mount, name, name, shared.sim, nil); err != nil {
			return stop, err
		}
	}
	return stop, nil
}

// configure writes config/<name> of the mount at path for a simulated
// partner, plus extra fields.
func configure(ctx context.Context, c *vaultClient, path, name, partner string, sim *simulator, extra map[string]any) error {
	client := sim.client(partner)
	body := map[string]any{
		"provider":      partner,
		"token_url":     sim.tokenURL(partner),
		"client_id":     client.ID,
		"client_secret": client.Secret,
	}
	for k, v := range extra {
		body[k] = v
	}
	if _, err := c.write(ctx, path+"/config/"+name, body); err != nil {
		return fmt.Errorf("configuring %s: %w", name, err)
	}
	return nil
}
