package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"
)

// docsEnv is the dev server the operator pages' blocks run against, set up
// as `make dev` sets one up: the plugin at partner/, settings that allow
// the simulator's loopback address, and one config per simulated partner,
// named after it. The blocks write configs and settings at partner/,
// which is why they do not run on the shared server, whose partner/ mount
// every other test uses.
type docsEnv struct {
	v   *vaultServer
	sim *simulator
	dir string
}

// TestDocs runs the blocks of the operator pages, page by page.
func TestDocs(t *testing.T) {
	ctx := ctxFor(t)
	d := &docsEnv{dir: filepath.Join(env.workDir, "docs")}
	if err := os.MkdirAll(d.dir, 0o700); err != nil {
		t.Fatal(err)
	}
	var err error
	if d.sim, err = startSimulator("docs", nil); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(d.sim.Close)
	if d.v, err = startVault(ctx, d.dir); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(d.v.Stop)
	if err := d.v.registerPlugin(ctx, mount); err != nil {
		t.Fatal(err)
	}
	// First, on the empty mount: the samples list every config of it.
	t.Run("paths", d.paths)
	d.reset(ctx, t)
	t.Run("README", d.readme)
	t.Run("configuration", d.configuration)
	t.Run("reading-tokens", d.readingTokens)
	t.Run("reading-at-high-rates", d.readingAtHighRates)
	t.Run("operations", d.operations)
	t.Run("security", d.security)
	if leaks := findSecrets([]string{d.v.LogPath}, d.sim.secrets()); len(leaks) > 0 {
		t.Errorf("client secrets in the docs server's log:\n  %s", strings.Join(leaks, "\n  "))
	}
}

// shell is a reader's terminal pointed at the docs server as root.
func (d *docsEnv) shell() docShell {
	return docShell{addr: d.v.Addr, token: rootToken, dir: d.dir}
}

// run runs the block id of the page.
func (d *docsEnv) run(t *testing.T, page, id string, replace map[string]string) string {
	t.Helper()
	return d.shell().run(t, ctxFor(t), id, docBlock(t, page, "run", id, replace))
}

// reset puts the mount back as `make dev` leaves it: the settings allowing
// loopback, and exactly one config per simulated partner, with defaults.
func (d *docsEnv) reset(ctx context.Context, t *testing.T) {
	t.Helper()
	root := d.v.root
	if _, err := root.write(ctx, mount+"/settings", map[string]any{"allowed_token_url_hosts": "127.0.0.1", "refresh_rate": 10}); err != nil {
		t.Fatal(err)
	}
	if resp, err := root.list(ctx, mount+"/config/"); err == nil {
		keys, _ := resp.Data["keys"].([]any)
		for _, k := range keys {
			if _, err := root.delete(ctx, fmt.Sprintf("%s/config/%s", mount, k)); err != nil {
				t.Fatal(err)
			}
		}
	} else if statusOf(err) != http.StatusNotFound {
		t.Fatal(err)
	}
	for _, p := range partners {
		if err := configure(ctx, root, mount, p, p, d.sim, nil); err != nil {
			t.Fatal(err)
		}
	}
}

// readme: the playground commands, against what make dev sets up.
func (d *docsEnv) readme(t *testing.T) {
	before := d.sim.mints(t, "dupr")
	out := d.run(t, "README.md", "readme-playground", map[string]string{
		// The shell already has the CLI on PATH and points it at the server.
		`export PATH="$PWD/.cache/dev/bin:$PATH" VAULT_ADDR=http://127.0.0.1:8200 VAULT_TOKEN=root`: "export VAULT_ADDR VAULT_TOKEN",
	})
	tokens := regexp.MustCompile(`(?m)^access_token\s+(\S+)$`).FindAllStringSubmatch(out, -1)
	if len(tokens) != 2 || tokens[0][1] != tokens[1][1] {
		t.Errorf("the two reads of token/dupr: %q, want the same token twice", tokens)
	}
	// The forced refresh keeps a token younger than 5 s, as the block's
	// comment says; a script is that quick.
	want := 1
	if regexp.MustCompile(`(?m)^refreshed\s+true$`).MatchString(out) {
		want = 2
	}
	if n := d.sim.mints(t, "dupr") - before; n != want {
		t.Errorf("the playground minted %d tokens, want %d: one read and what the forced refresh says it did", n, want)
	}
	if strings.Contains(out, d.sim.client("dupr").Secret) {
		t.Errorf("the playground printed the client secret")
	}
}

// configuration: the config writes with secrets from stdin, and settings.
func (d *docsEnv) configuration(t *testing.T) {
	ctx := ctxFor(t)
	defer d.reset(ctx, t)
	const page = "docs/configuration.md"
	// A mount with neither config yet, which allows any public host, as
	// the page's reader has it (a write merges with a stored config).
	if _, err := d.v.root.write(ctx, mount+"/settings", map[string]any{"allowed_token_url_hosts": ""}); err != nil {
		t.Fatal(err)
	}
	if _, err := d.v.root.delete(ctx, mount+"/config/dupr"); err != nil {
		t.Fatal(err)
	}
	sh := d.shell()
	sh.stdin = "cs-dupr-example\ncs-billing-example\n"
	sh.run(t, ctx, "configuration-partners", docBlock(t, page, "run", "configuration-partners", nil))
	checkConfig(ctx, t, d.v, mount+"/config/dupr", map[string]any{
		"provider": "dupr", "environment": "production", "client_id": "ck-6f6e…", "client_secret_set": true,
	})
	checkConfig(ctx, t, d.v, mount+"/config/billing-api", map[string]any{
		"provider": "oauth2", "token_url": "https://auth.example.com/oauth2/token", "client_id": "my-client", "client_secret_set": true,
		"scopes": []any{"invoices:read", "invoices:write"}, "token_params": map[string]any{"audience": "https://api.example.com"},
	})
	out := d.run(t, page, "configuration-settings", nil)
	if !regexp.MustCompile(`refresh_rate\s+5\b`).MatchString(out) || !strings.Contains(out, "auth.example.com") {
		t.Errorf("configuration-settings: the settings read shows no refresh_rate 5 and auth.example.com:\n%s", out)
	}
}

// readingTokens: reads, a forced refresh, the three policies, and the
// Agent template (with reading-at-high-rates.md's, which is the same).
func (d *docsEnv) readingTokens(t *testing.T) {
	ctx := ctxFor(t)
	const page = "docs/reading-tokens.md"
	out := d.run(t, page, "reading-tokens-read", nil)
	var answer vaultResponse
	if i := strings.Index(out, "{"); i < 0 || json.Unmarshal([]byte(out[i:]), &answer) != nil || answer.Data["access_token"] == nil {
		t.Errorf("reading-tokens-read: the curl read printed no JSON answer with an access_token:\n%s", out)
	}
	d.run(t, page, "reading-tokens-refresh", nil)

	// Each policy, written under the name its first line gives, allows what
	// it says and no more.
	root := d.v.root
	clients := map[string]*vaultClient{}
	for _, id := range []string{"reading-tokens-policy-team", "reading-tokens-policy-admins", "reading-tokens-policy-oncall"} {
		policy := docBlock(t, page, "run", id, nil)
		name, _, ok := strings.Cut(strings.TrimPrefix(policy, "# "), ":")
		if !ok {
			t.Fatalf("%s does not start with \"# <name>:\":\n%s", id, policy)
		}
		if _, err := root.write(ctx, "sys/policies/acl/"+name, map[string]any{"policy": policy}); err != nil {
			t.Fatalf("%s: %v", id, err)
		}
		c, err := root.childToken(ctx, name)
		if err != nil {
			t.Fatal(err)
		}
		clients[name] = c
	}
	for _, tc := range []struct {
		policy, method, path string
		allowed              bool
	}{
		{"team-pickleball", http.MethodGet, "token/dupr", true},
		{"team-pickleball", http.MethodPost, "refresh/dupr", true},
		{"team-pickleball", http.MethodGet, "token/setu", false},
		{"team-pickleball", http.MethodGet, "config/dupr", false},
		{"partner-admins", http.MethodGet, "config/dupr", true},
		{"partner-admins", "LIST", "config/", true},
		{"partner-admins", http.MethodGet, "providers", true},
		{"partner-admins", http.MethodGet, "settings", true},
		{"partner-admins", http.MethodGet, "token/dupr", false},
		{"on-call", http.MethodGet, "status/dupr", true},
		{"on-call", "LIST", "status/", true},
		{"on-call", http.MethodGet, "metrics", true},
		{"on-call", http.MethodGet, "token/dupr", false},
		{"on-call", http.MethodGet, "config/dupr", false},
	} {
		var body any
		if tc.method == http.MethodPost {
			body = map[string]any{}
		}
		_, err := clients[tc.policy].call(ctx, tc.method, mount+"/"+tc.path, body)
		if tc.allowed && err != nil || !tc.allowed && statusOf(err) != http.StatusForbidden {
			t.Errorf("%s %s with the policy %s: %v, want allowed %t", tc.method, tc.path, tc.policy, err, tc.allowed)
		}
	}

	// Both pages' templates in one Agent that logs in as team-pickleball.
	dir := filepath.Join(d.dir, "agent")
	files := map[string]string{"reading-tokens-agent": filepath.Join(dir, "tokens.token"), "high-rates-agent": filepath.Join(dir, "high-rates.token")}
	config := fmt.Sprintf("vault {\n  address = %q\n}\nauto_auth {\n  method \"token_file\" {\n    config = {\n      token_file_path = %q\n    }\n  }\n}\n",
		d.v.Addr, filepath.Join(dir, "vault-token"))
	config += docBlock(t, page, "run", "reading-tokens-agent", map[string]string{"/run/secrets/dupr-token": files["reading-tokens-agent"]})
	config += docBlock(t, "docs/reading-at-high-rates.md", "run", "high-rates-agent", map[string]string{"/run/secrets/dupr-token": files["high-rates-agent"]})
	writeFile(t, filepath.Join(dir, "vault-token"), clients["team-pickleball"].token)
	writeFile(t, filepath.Join(dir, "agent.hcl"), config)
	agent := runClientProcess(t, "Agent", dir, filepath.Join(dir, "agent.hcl"))
	defer agent.stop(t, d.sim)
	for id, file := range files {
		if err := poll(ctx, 60*time.Second, func() error {
			if err := agent.ifExited(); err != nil {
				return err
			}
			data, _ := os.ReadFile(file)
			if !d.sim.active(t, "dupr", strings.TrimSpace(string(data))) {
				return fmt.Errorf("the template %s rendered %q, not a token the partner accepts", id, data)
			}
			return nil
		}); err != nil {
			t.Error(err)
		}
	}
}

// readingAtHighRates: Vault Proxy with the page's whole config, serving
// the app from its cache, and lease_mode=none.
func (d *docsEnv) readingAtHighRates(t *testing.T) {
	ctx := ctxFor(t)
	defer d.reset(ctx, t)
	const page = "docs/reading-at-high-rates.md"
	dir := filepath.Join(d.dir, "proxy")
	roleID, secretID := approleFor(ctx, t, d.v.root, "dupr-reader", `path "partner/token/dupr" { capabilities = ["read"] }`)
	writeFile(t, filepath.Join(dir, "role-id"), roleID)
	writeFile(t, filepath.Join(dir, "secret-id"), secretID)
	port, err := freePortPair()
	if err != nil {
		t.Fatal(err)
	}
	proxyAddr := fmt.Sprintf("127.0.0.1:%d", port)
	writeFile(t, filepath.Join(dir, "proxy.hcl"), docBlock(t, page, "run", "high-rates-proxy", map[string]string{
		"https://vault.example.com:8200": d.v.Addr,
		"/etc/vault-proxy/":              dir + "/",
		"127.0.0.1:8100":                 proxyAddr,
	}))
	proxy := runClientProcess(t, "Proxy", dir, filepath.Join(dir, "proxy.hcl"))
	defer proxy.stop(t, d.sim)
	read := docBlock(t, page, "run", "high-rates-proxy-read", map[string]string{"127.0.0.1:8100": proxyAddr})
	proxy.checkCachedReads(ctx, t, docShell{dir: dir}, "high-rates-proxy-read", read, d.sim, "dupr")

	d.run(t, page, "high-rates-none", nil)
	resp, err := d.v.root.read(ctx, mount+"/token/dupr")
	if err != nil {
		t.Fatal(err)
	}
	if resp.LeaseID != "" || resp.Data["ttl"] == nil || resp.Data["rotation_period"] == nil {
		t.Errorf("after high-rates-none a read has lease %q and data %v: want no lease, with ttl and rotation_period", resp.LeaseID, resp.Data)
	}
}

// operations: the metrics in JSON and in Prometheus' format.
func (d *docsEnv) operations(t *testing.T) {
	// A config's series appear with its first mint.
	if _, err := readToken(ctxFor(t), d.v.root, mount, "dupr"); err != nil {
		t.Fatal(err)
	}
	out := d.run(t, "docs/operations.md", "operations-metrics", nil)
	for _, want := range []string{`"partnertoken_mints_total"`, "# TYPE partnertoken_mints_total counter"} {
		if !strings.Contains(out, want) {
			t.Errorf("operations-metrics printed no %s:\n%s", want, out)
		}
	}
}

// security: the allowlist examples.
func (d *docsEnv) security(t *testing.T) {
	ctx := ctxFor(t)
	defer d.reset(ctx, t)
	d.run(t, "docs/security.md", "security-settings", nil)
	resp, err := d.v.root.read(ctx, mount+"/settings")
	if err != nil {
		t.Fatal(err)
	}
	if hosts, _ := json.Marshal(resp.Data["allowed_token_url_hosts"]); string(hosts) != `["auth.corp.example","10.20.0.0/16","127.0.0.1"]` {
		t.Errorf("after security-settings allowed_token_url_hosts = %s", hosts)
	}
}

// writeFile writes a private file, creating its directory.
func writeFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
}

// approleFor enables AppRole if it is not, and makes a role whose tokens
// hold a policy of the same name; it returns the role's ID and a secret ID.
func approleFor(ctx context.Context, t *testing.T, root *vaultClient, role, policy string) (roleID, secretID string) {
	t.Helper()
	if _, err := root.write(ctx, "sys/auth/approle", map[string]any{"type": "approle"}); err != nil && statusOf(err) != http.StatusBadRequest {
		t.Fatal(err)
	}
	if _, err := root.write(ctx, "sys/policies/acl/"+role, map[string]any{"policy": policy}); err != nil {
		t.Fatal(err)
	}
	if _, err := root.write(ctx, "auth/approle/role/"+role, map[string]any{"token_policies": role}); err != nil {
		t.Fatal(err)
	}
	r, err := root.read(ctx, "auth/approle/role/"+role+"/role-id")
	if err != nil {
		t.Fatal(err)
	}
	s, err := root.write(ctx, "auth/approle/role/"+role+"/secret-id", nil)
	if err != nil {
		t.Fatal(err)
	}
	roleID, _ = r.Data["role_id"].(string)
	secretID, _ = s.Data["secret_id"].(string)
	return roleID, secretID
}

// TestOpenBaoInstallDoc installs the plugin on OpenBao as docs/openbao.md
// says, built from this checkout with make build, on a server whose config
// declares the page's audit device.
func TestOpenBaoInstallDoc(t *testing.T) {
	skipOn(t, vaultKind, "the page's commands are OpenBao's (bao)")
	ctx := ctxFor(t)
	const page = "docs/openbao.md"
	dir := filepath.Join(env.workDir, "openbao-doc")
	pluginDir := filepath.Join(dir, "plugins")
	auditLog := filepath.Join(dir, "audit.log")
	if err := os.MkdirAll(pluginDir, 0o700); err != nil {
		t.Fatal(err)
	}
	config := filepath.Join(dir, "audit.hcl")
	writeFile(t, config, docBlock(t, page, "run", "openbao-audit", map[string]string{"/var/log/openbao/audit.log": auditLog}))
	v, err := startVaultWithPlugins(ctx, dir, pluginDir, "-config="+config)
	if err != nil {
		t.Fatal(err)
	}
	defer v.Stop()
	// make build in the repository root, as the page's reader runs it.
	out := docShell{dir: ".."}.run(t, ctx, "openbao-install", docBlock(t, page, "run", "openbao-install", map[string]string{
		"https://openbao.example.com:8200": v.Addr,
		"BAO_TOKEN=...":                    "BAO_TOKEN=" + rootToken,
		"/etc/openbao/plugins/":            pluginDir + "/",
	}))
	version := strings.TrimSpace(runCommand(t, ctx, "..", "make", "-s", "version"))
	checkRunningPlugin(t, ctx, v.root, "partner", version, sha256Of(t, filepath.Join(pluginDir, pluginName)))
	if !strings.Contains(out, "oauth2") {
		t.Errorf("openbao-install: bao read partner/providers listed no oauth2:\n%s", out)
	}
	if info, err := os.Stat(auditLog); err != nil || info.Size() == 0 {
		t.Errorf("the page's audit device logged nothing to %s (%v)", auditLog, err)
	}
}

// TestTerraformDocShowsTheExample: each HCL block of docs/terraform.md
// marked as run is a part of examples/terraform, which TestTerraform
// applies: its lines, comments and blank lines aside and spaces collapsed,
// come in a row in one of the example's files.
func TestTerraformDocShowsTheExample(t *testing.T) {
	files, err := filepath.Glob(filepath.Join("..", "examples", "terraform", "*.tf"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no examples/terraform/*.tf (%v)", err)
	}
	var example [][]string
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		example = append(example, hclLines(string(data)))
	}
	for _, id := range []string{"terraform-plugin-mount", "terraform-settings", "terraform-config", "terraform-policy", "terraform-token", "terraform-signing"} {
		block := hclLines(docBlock(t, "docs/terraform.md", "run", id, nil))
		if !slices.ContainsFunc(example, func(lines []string) bool { return containsRun(lines, block) }) {
			t.Errorf("the block %s of docs/terraform.md is not in examples/terraform:\n%s", id, strings.Join(block, "\n"))
		}
	}
}

// hclLines are the lines of HCL text other than comments and blank lines,
// with runs of spaces collapsed (alignment differs once comments are gone).
func hclLines(text string) []string {
	var lines []string
	for _, line := range strings.Split(text, "\n") {
		line = strings.Join(strings.Fields(line), " ")
		if line != "" && !strings.HasPrefix(line, "#") {
			lines = append(lines, line)
		}
	}
	return lines
}

// containsRun tells whether want occurs in lines as a contiguous run.
func containsRun(lines, want []string) bool {
	for i := 0; i+len(want) <= len(lines); i++ {
		if slices.Equal(lines[i:i+len(want)], want) {
			return true
		}
	}
	return false
}
