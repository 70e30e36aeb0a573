package e2e

import (
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"
)

// serverKind is everything the suite does differently on the servers it
// runs against: HashiCorp Vault and OpenBao, its open-source fork. Both
// speak the same API under /v1/ and run the same plugin binary; the rest of
// the suite goes through this file, so a test written with the shared
// helpers runs on both.
type serverKind struct {
	// name is the value of PARTNERTOKEN_E2E_SERVER: vault or openbao.
	name string
	// product is how messages name it.
	product string
	// binEnv is the variable `make` sets to the server binary's path.
	binEnv string
	// envPrefix starts the names of the variables its CLI, Agent and Proxy
	// read: VAULT_ADDR, or BAO_ADDR (OpenBao's tools fall back to the
	// VAULT_ names when a BAO_ one is unset).
	envPrefix string
	// auditInConfig: audit devices are declared in the server's config
	// file. OpenBao refuses to enable them through sys/audit unless the
	// server sets unsafe_allow_api_audit_creation, which the suite does not
	// want to depend on.
	auditInConfig bool
	// standbyReads: a standby of an HA cluster serves reads itself, with
	// its own copy of every mount, and forwards to the active node only
	// what needs a storage write there. OpenBao does this by default on
	// Raft (disable_standby_reads turns it off); Vault's community edition
	// forwards every request.
	standbyReads bool
	// serverEnvWins: where the server's own environment and a plugin's
	// registration (-env) set the same variable, the plugin process gets
	// the server's value. OpenBao lets go-plugin append the server's
	// environment last; Vault (1.16 and later) puts the registration's last
	// unless VAULT_PLUGIN_USE_LEGACY_ENV_LAYERING is set.
	serverEnvWins bool
}

var (
	vaultKind = serverKind{
		name:      "vault",
		product:   "Vault",
		binEnv:    "PARTNERTOKEN_E2E_VAULT_BIN",
		envPrefix: "VAULT_",
	}
	openbaoKind = serverKind{
		name:          "openbao",
		product:       "OpenBao",
		binEnv:        "PARTNERTOKEN_E2E_BAO_BIN",
		envPrefix:     "BAO_",
		auditInConfig: true,
		standbyReads:  true,
		serverEnvWins: true,
	}
	serverKinds = []serverKind{vaultKind, openbaoKind}
)

// serverKindNamed is the kind PARTNERTOKEN_E2E_SERVER names; Vault when
// it is unset.
func serverKindNamed(name string) (serverKind, error) {
	if name == "" {
		return vaultKind, nil
	}
	var names []string
	for _, k := range serverKinds {
		if k.name == name {
			return k, nil
		}
		names = append(names, k.name)
	}
	return serverKind{}, fmt.Errorf("PARTNERTOKEN_E2E_SERVER=%s is not a server the suite knows: use one of %s", name, strings.Join(names, ", "))
}

// serverCommand is the server binary run with args in dir, with the
// environment of childEnv plus extra, stopped if the tests die. It starts
// servers, Agents and Proxies, and runs the CLI.
func serverCommand(dir string, extra []string, args ...string) *exec.Cmd {
	cmd := exec.Command(env.serverBin, args...)
	cmd.Dir = dir
	cmd.Env = childEnv(dir, extra...)
	setDeathSignal(cmd)
	return cmd
}

// cliEnv is the environment that points the server's CLI at addr with
// token: VAULT_ADDR and VAULT_TOKEN, or BAO_ADDR and BAO_TOKEN.
func cliEnv(addr, token string) []string {
	return []string{
		env.server.envPrefix + "ADDR=" + addr,
		env.server.envPrefix + "TOKEN=" + token,
	}
}

// childEnv is the environment for server processes: the caller's, without
// any VAULT_* or BAO_* setting (a developer's VAULT_ADDR or BAO_TOKEN must
// not leak in, and OpenBao reads VAULT_* too) and with HOME in dir, so
// nothing lands in the real home directory.
func childEnv(dir string, extra ...string) []string {
	var out []string
	for _, kv := range os.Environ() {
		if strings.HasPrefix(kv, "VAULT_") || strings.HasPrefix(kv, "BAO_") || strings.HasPrefix(kv, "HOME=") {
			continue
		}
		out = append(out, kv)
	}
	return append(append(out, "HOME="+dir), extra...)
}

// auditConfig is a server config file declaring a file audit device at
// path that logs to file, for servers that take audit devices only from
// their config (auditInConfig).
func auditConfig(path, file string) string {
	return fmt.Sprintf(`
audit "file" %q {
  options {
    file_path = %q
  }
}
`, path, file)
}

// skipOn skips t on the server kind named, saying why: only for what that
// server truly does not have, never to hide a failure.
func skipOn(t testing.TB, kind serverKind, why string) {
	t.Helper()
	if env.server.name == kind.name {
		t.Skipf("not on %s: %s", kind.product, why)
	}
}
