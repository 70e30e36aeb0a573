package e2e

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// TestTerraform applies examples/terraform, the configuration the docs
// show, with OpenTofu and terraform-provider-vault to a Vault server of its
// own, and checks through Vault that it did what it says: the plugin is
// registered and mounted at its version, both partner configs are stored
// without their secret being readable, the team policies exist, and a
// token read through the example's consumer is the token Vault serves.
// It then shows how the write-only client secret meets drift detection
// (docs/terraform.md): a field changed outside Terraform shows in the
// plan, a secret changed outside does not, and a new secret applied
// through Terraform drops the cached token. An upgrade to a second build
// moves the mount to it, and destroy removes it all.
func TestTerraform(t *testing.T) {
	tf := newTofu(t)
	ctx := ctxFor(t)

	sim, err := startSimulator("terraform", nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(sim.Close)
	vaultDir := filepath.Join(tf.dir, "vault")
	if err := os.MkdirAll(vaultDir, 0o700); err != nil {
		t.Fatal(err)
	}
	v, err := startVault(ctx, vaultDir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(v.Stop)
	tf.env = append(tf.env, "VAULT_TOKEN="+rootToken)

	sum, err := pluginSHA256()
	if err != nil {
		t.Fatal(err)
	}
	dupr, billing := sim.client("dupr"), sim.client("oauth2")
	vars := map[string]any{
		"vault_address":  v.Addr,
		"plugin_sha256":  sum,
		"plugin_version": env.pluginVersion,
		// The simulator listens on loopback, which the engine refuses
		// unless the mount's settings allow it.
		"allowed_token_url_hosts": []string{"127.0.0.1"},
		"dupr_environment":        "sandbox",
		"dupr_token_url":          sim.tokenURL("dupr"),
		"dupr_client_id":          dupr.ID,
		"dupr_client_secret":      dupr.Secret,
		"billing_token_url":       sim.tokenURL("oauth2"),
		"billing_client_id":       billing.ID,
		"billing_client_secret":   billing.Secret,
		"billing_scopes":          []string{"invoices:read", "invoices:write"},
	}
	tf.setVars(vars)

	tf.run("init", "-input=false")
	tf.run("apply", "-input=false", "-auto-approve")
	if changed, _ := tf.plan(); changed {
		t.Fatalf("the plan right after apply has changes; its output:\n%s", tf.log)
	}

	const path = "partner" // the example's default mount_path
	checkMount(ctx, t, v, path)
	if resp, err := v.root.read(ctx, path+"/settings"); err != nil {
		t.Errorf("reading the mount's settings: %v", err)
	} else if hosts, _ := json.Marshal(resp.Data["allowed_token_url_hosts"]); string(hosts) != `["127.0.0.1"]` {
		t.Errorf("settings: allowed_token_url_hosts = %s, want [\"127.0.0.1\"]", hosts)
	}
	checkConfig(ctx, t, v, path+"/config/dupr", map[string]any{
		"provider": "dupr", "environment": "sandbox", "token_url": sim.tokenURL("dupr"), "client_id": dupr.ID,
	})
	checkConfig(ctx, t, v, path+"/config/billing-api", map[string]any{
		"provider": "oauth2", "token_url": sim.tokenURL("oauth2"), "client_id": billing.ID,
		"scopes": []any{"invoices:read", "invoices:write"},
	})

	// Each team reads its token, and only its own.
	teams := map[string]*vaultClient{}
	for team, config := range map[string]string{"team-pickleball": "dupr", "team-billing": "billing-api"} {
		c, err := v.root.childToken(ctx, team)
		if err != nil {
			t.Fatal(err)
		}
		teams[config] = c
	}
	if _, err := readToken(ctx, teams["dupr"], path, "dupr"); err != nil {
		t.Errorf("team-pickleball cannot read the DUPR token: %v", err)
	}
	if _, err := teams["dupr"].write(ctx, path+"/refresh/dupr", nil); err != nil {
		t.Errorf("team-pickleball cannot force a refresh of the DUPR token: %v", err)
	}
	if _, err := teams["dupr"].read(ctx, path+"/token/billing-api"); statusOf(err) != http.StatusForbidden {
		t.Errorf("team-pickleball reading the billing API token: got %v, want HTTP 403", err)
	}

	// The consumer's token is the one Vault serves from its cache.
	consumed := tf.output("billing_api_token")
	mints := sim.mints(t, "oauth2")
	l, err := readToken(ctx, teams["billing-api"], path, "billing-api")
	if err != nil {
		t.Fatalf("team-billing cannot read the billing API token: %v", err)
	}
	checkLease(t, sim, "oauth2", path, "billing-api", l)
	if l.AccessToken != consumed {
		t.Errorf("the example's consumer got a different token than Vault serves")
	}
	if n := sim.mints(t, "oauth2") - mints; n != 0 {
		t.Errorf("reading the token after the consumer did caused %d mints, want 0 (the cached token)", n)
	}

	// Drift: a field Terraform wrote, changed outside, shows in the plan as
	// a change of that config, and the next apply puts it back. (The write
	// also dropped the cached token, so the consumer's output changes too;
	// that alone would make the exit code 2, hence the look at resources.)
	if _, err := v.root.write(ctx, path+"/config/billing-api", map[string]any{"scopes": "invoices:admin"}); err != nil {
		t.Fatal(err)
	}
	const billingConfig = "vault_generic_endpoint.billing_api (update)"
	if _, resources := tf.plan(); !slices.Equal(resources, []string{billingConfig}) {
		t.Errorf("scopes changed outside Terraform: the plan changes %v, want [%s]", resources, billingConfig)
	}
	tf.run("apply", "-input=false", "-auto-approve")
	checkConfig(ctx, t, v, path+"/config/billing-api", map[string]any{"scopes": []any{"invoices:read", "invoices:write"}})

	// The secret is never read back, so one changed outside Terraform does
	// not show (the documented price of ignore_absent_fields).
	if _, err := v.root.write(ctx, path+"/config/dupr", map[string]any{"client_secret": "changed-outside-" + randomString(8)}); err != nil {
		t.Fatal(err)
	}
	if changed, _ := tf.plan(); changed {
		t.Errorf("a client_secret changed outside Terraform shows in the plan, but Vault never returns it; the plan:\n%s", tf.log)
	}

	// A new secret through Terraform: the partner now accepts only the new
	// one. Until the apply, Vault serves the cached token without minting;
	// the apply rewrites the config, which drops that token, so the
	// consumer's read mints a new one with the new secret.
	before, err := readToken(ctx, teams["billing-api"], path, "billing-api")
	if err != nil {
		t.Fatal(err)
	}
	rotated := simClient{ID: billing.ID, Secret: "rotated-" + randomString(12)}
	if err := sim.admin(http.MethodPut, "clients/oauth2", map[string]any{"id": rotated.ID, "secret": rotated.Secret}, nil); err != nil {
		t.Fatal(err)
	}
	mints = sim.mints(t, "oauth2")
	if l, err := readToken(ctx, teams["billing-api"], path, "billing-api"); err != nil || l.AccessToken != before.AccessToken {
		t.Fatalf("before the apply, Vault should still serve the cached token (err %v)", err)
	}
	vars["billing_client_secret"] = rotated.Secret
	tf.setVars(vars)
	if _, resources := tf.plan(); !slices.Equal(resources, []string{billingConfig}) {
		t.Fatalf("a new billing_client_secret: the plan changes %v, want [%s]", resources, billingConfig)
	}
	tf.run("apply", "-input=false", "-auto-approve")
	if n := sim.mints(t, "oauth2") - mints; n != 1 {
		t.Errorf("applying a new secret caused %d mints, want 1 (the consumer's read after the cached token was dropped)", n)
	}
	consumed = tf.output("billing_api_token")
	if consumed == before.AccessToken {
		t.Errorf("after applying a new secret the consumer still got the token minted with the old one")
	}
	if !sim.active(t, "oauth2", consumed) {
		t.Errorf("the consumer's token after the new secret is not one the partner issued")
	}
	after, err := readToken(ctx, teams["billing-api"], path, "billing-api")
	if err != nil {
		t.Fatalf("reading the token after the new secret: %v", err)
	}
	if after.AccessToken != consumed {
		t.Errorf("Vault serves another token than the consumer got after the new secret")
	}
	if changed, _ := tf.plan(); changed {
		t.Errorf("the plan after applying the new secret has changes; its output:\n%s", tf.log)
	}

	// An upgrade: a second build reporting another version, under a file
	// name of its own. The apply moves the mount to it; the running plugin
	// changes only with a reload, which the provider does not do.
	upgrade, err := buildUpgrade()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.Remove(filepath.Join(env.pluginDir, upgrade.command)) })
	vars["plugin_command"], vars["plugin_sha256"], vars["plugin_version"] = upgrade.command, upgrade.sha256, upgrade.version
	tf.setVars(vars)
	tf.run("apply", "-input=false", "-auto-approve")
	if version, running := mountVersions(ctx, t, v, path); version != upgrade.version || running != env.pluginVersion {
		t.Errorf("after applying the upgrade the mount has plugin_version %s running %s, want %s running %s until a reload",
			version, running, upgrade.version, env.pluginVersion)
	}
	if _, err := v.root.write(ctx, "sys/plugins/reload/backend", map[string]any{"plugin": pluginName}); err != nil {
		t.Fatalf("reloading the plugin: %v", err)
	}
	if _, running := mountVersions(ctx, t, v, path); running != upgrade.version {
		t.Errorf("after the reload the mount runs %s, want %s", running, upgrade.version)
	}
	if _, err := v.root.read(ctx, "sys/plugins/catalog/secret/"+pluginName+"?version="+env.pluginVersion); statusOf(err) != http.StatusNotFound {
		t.Errorf("the version upgraded from is still registered (reading it: %v)", err)
	}
	if _, err := readToken(ctx, teams["billing-api"], path, "billing-api"); err != nil {
		t.Errorf("reading the token after the upgrade: %v", err)
	}
	if changed, _ := tf.plan(); changed {
		t.Errorf("the plan after the upgrade has changes; its output:\n%s", tf.log)
	}

	tf.run("destroy", "-input=false", "-auto-approve")
	checkGone(ctx, t, v, "sys/mounts/"+path, "the mount")
	checkGone(ctx, t, v, "sys/policies/acl/team-pickleball", "policy team-pickleball")
	checkGone(ctx, t, v, "sys/policies/acl/team-billing", "policy team-billing")
	checkGone(ctx, t, v, "sys/plugins/catalog/secret/"+pluginName, "the plugin's registration")

	v.Stop()
	if leaks := findSecrets([]string{v.LogPath}, []simClient{dupr, billing, rotated}); len(leaks) > 0 {
		t.Errorf("client secrets in the Vault log:\n  %s", strings.Join(leaks, "\n  "))
	}
}

// checkMount checks that path is a mount of the plugin running the
// version under test.
func checkMount(ctx context.Context, t *testing.T, v *vaultServer, path string) {
	t.Helper()
	resp, err := v.root.read(ctx, "sys/mounts/"+path)
	if err != nil {
		t.Fatalf("the example's mount: %v", err)
	}
	if typ := resp.Data["type"]; typ != pluginName {
		t.Errorf("%s/ is a mount of %v, want %s", path, typ, pluginName)
	}
	if version, running := mountVersions(ctx, t, v, path); version != env.pluginVersion || running != env.pluginVersion {
		t.Errorf("%s/ has plugin_version %s running %s, want %s", path, version, running, env.pluginVersion)
	}
}

// mountVersions are the plugin version a mount is set to and the one it
// runs, which differ after a tune until the plugin is reloaded.
func mountVersions(ctx context.Context, t *testing.T, v *vaultServer, path string) (version, running string) {
	t.Helper()
	resp, err := v.root.read(ctx, "sys/mounts/"+path)
	if err != nil {
		t.Fatalf("reading the mount %s/: %v", path, err)
	}
	version, _ = resp.Data["plugin_version"].(string)
	running, _ = resp.Data["running_plugin_version"].(string)
	return version, running
}

// pluginBuild is a plugin binary in the plugin directory.
type pluginBuild struct {
	command, version, sha256 string
}

// buildUpgrade builds the plugin under test again into the plugin
// directory, reporting another version, under a file name of its own as a
// deployment that keeps a binary per version would.
func buildUpgrade() (pluginBuild, error) {
	version := env.pluginVersion + "-upgrade"
	if strings.Contains(env.pluginVersion, "-") {
		version = env.pluginVersion + ".upgrade" // one pre-release, still semver
	}
	b := pluginBuild{command: pluginName + "_" + version, version: version}
	bin := filepath.Join(env.pluginDir, b.command)
	cmd := exec.Command("go", "build", "-o", bin,
		"-ldflags", "-X github.com/partnertoken/vault-plugin-secrets-partnertoken/backend.Version="+version, ".")
	cmd.Dir = ".." // the engine's module
	if out, err := cmd.CombinedOutput(); err != nil {
		return b, fmt.Errorf("building the plugin as %s: %v\n%s", version, err, out)
	}
	data, err := os.ReadFile(bin)
	if err != nil {
		return b, err
	}
	sum := sha256.Sum256(data)
	b.sha256 = hex.EncodeToString(sum[:])
	return b, nil
}

// checkConfig reads a config through Vault and checks the fields in want,
// that the secret is stored and that it is not readable.
func checkConfig(ctx context.Context, t *testing.T, v *vaultServer, path string, want map[string]any) {
	t.Helper()
	resp, err := v.root.read(ctx, path)
	if err != nil {
		t.Fatalf("reading %s: %v", path, err)
	}
	for field, value := range want {
		got, _ := json.Marshal(resp.Data[field])
		wanted, _ := json.Marshal(value)
		if string(got) != string(wanted) {
			t.Errorf("%s: %s = %s, want %s", path, field, got, wanted)
		}
	}
	if resp.Data["client_secret_set"] != true {
		t.Errorf("%s: client_secret_set = %v, want true", path, resp.Data["client_secret_set"])
	}
	if _, readable := resp.Data["client_secret"]; readable {
		t.Errorf("%s: a read returns client_secret", path)
	}
}

// checkGone checks that reading path is refused as absent after destroy.
func checkGone(ctx context.Context, t *testing.T, v *vaultServer, path, what string) {
	t.Helper()
	// sys/mounts/<path> answers 400 for a path that is not mounted.
	if _, err := v.root.read(ctx, path); statusOf(err) != http.StatusNotFound && statusOf(err) != http.StatusBadRequest {
		t.Errorf("%s is still there after destroy (reading %s: %v)", what, path, err)
	}
}

// pluginSHA256 is the checksum of the plugin binary under test, as the
// example's plugin_sha256 wants it.
func pluginSHA256() (string, error) {
	bin, err := os.ReadFile(filepath.Join(env.pluginDir, pluginName))
	if err != nil {
		return "", err
	}
	sum := sha256.Sum256(bin)
	return hex.EncodeToString(sum[:]), nil
}

// tofu runs OpenTofu on a copy of examples/terraform, with the provider
// installed from the offline mirror scripts/get-terraform.sh set up. Each
// command's output is kept in the test's directory.
type tofu struct {
	t     *testing.T
	bin   string
	dir   string // holds the copy in config/, logs and Vault's files
	env   []string
	steps int
	// stdout is the last command's standard output (an output's value),
	// log what was logged of it and its standard error, for failures.
	stdout, log string
}

// newTofu finds OpenTofu and the CLI configuration (from `make test-e2e`,
// else where scripts/get-terraform.sh puts them) and copies the example.
// Missing binaries fail the test: the example is documentation users copy,
// and a suite that silently stops applying it would let it rot.
// PARTNERTOKEN_E2E_SKIP_TERRAFORM=1 skips it on purpose instead.
func newTofu(t *testing.T) *tofu {
	t.Helper()
	if reason := os.Getenv("PARTNERTOKEN_E2E_SKIP_TERRAFORM"); reason != "" {
		t.Skipf("PARTNERTOKEN_E2E_SKIP_TERRAFORM is set (%s)", reason)
	}
	repo, err := filepath.Abs("..")
	if err != nil {
		t.Fatal(err)
	}
	bin := os.Getenv("PARTNERTOKEN_E2E_TOFU_BIN")
	cliConfig := os.Getenv("PARTNERTOKEN_E2E_TF_CLI_CONFIG")
	if bin == "" && cliConfig == "" {
		bin = filepath.Join(repo, ".cache", "terraform", "tofu-1.10.10")
		cliConfig = filepath.Join(repo, ".cache", "terraform", "tofurc")
	}
	for _, f := range []string{bin, cliConfig} {
		if _, err := os.Stat(f); f == "" || err != nil {
			t.Fatalf("OpenTofu or its CLI configuration is missing (%q): run scripts/get-terraform.sh, "+
				"which installs OpenTofu and terraform-provider-vault from ../shared/terraform (or TF_DIST), "+
				"or set PARTNERTOKEN_E2E_SKIP_TERRAFORM=<why> to skip this test", f)
		}
	}

	dir := filepath.Join(env.workDir, "terraform")
	config := filepath.Join(dir, "config")
	if err := os.MkdirAll(config, 0o700); err != nil {
		t.Fatal(err)
	}
	examples, err := filepath.Glob(filepath.Join(repo, "examples", "terraform", "*.tf"))
	if err != nil || len(examples) == 0 {
		t.Fatalf("no examples/terraform/*.tf to apply (%v)", err)
	}
	for _, f := range examples {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(config, filepath.Base(f)), data, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return &tofu{
		t:   t,
		bin: bin,
		dir: dir,
		env: childEnv(dir,
			"TF_CLI_CONFIG_FILE="+cliConfig,
			"TF_IN_AUTOMATION=1",
			"TF_INPUT=0",
			// No version check against the internet.
			"CHECKPOINT_DISABLE=1",
		),
	}
}

// setVars writes the variables as the configuration's
// terraform.tfvars.json, which tofu reads on every command.
func (tf *tofu) setVars(vars map[string]any) {
	tf.t.Helper()
	data, err := json.MarshalIndent(vars, "", "  ")
	if err != nil {
		tf.t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(tf.dir, "config", "terraform.tfvars.json"), data, 0o600); err != nil {
		tf.t.Fatal(err)
	}
}

// exec runs one tofu command in the configuration's directory, logs its
// output to <n>-<command>.log and returns its exit code.
func (tf *tofu) exec(args ...string) int {
	tf.t.Helper()
	tf.steps++
	logPath := filepath.Join(tf.dir, fmt.Sprintf("%02d-%s.log", tf.steps, args[0]))
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, tf.bin, append([]string{args[0], "-no-color"}, args[1:]...)...)
	cmd.Dir = filepath.Join(tf.dir, "config")
	cmd.Env = tf.env
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	tf.stdout = string(out)
	if args[0] == "output" || args[0] == "show" {
		// An output's value or a plan's JSON holds the bearer token.
		out = []byte("(stdout not logged: it holds a bearer token)\n")
	}
	out = append(out, stderr.String()...)
	tf.log = string(out)
	if writeErr := os.WriteFile(logPath, out, 0o600); writeErr != nil {
		tf.t.Error(writeErr)
	}
	var exit *exec.ExitError
	switch {
	case err == nil:
		return 0
	case errors.As(err, &exit) && ctx.Err() == nil:
		return exit.ExitCode()
	default:
		tf.t.Fatalf("tofu %s: %v\n%s", strings.Join(args, " "), err, out)
		return -1
	}
}

// run runs a tofu command that must succeed.
func (tf *tofu) run(args ...string) {
	tf.t.Helper()
	if code := tf.exec(args...); code != 0 {
		tf.t.Fatalf("tofu %s exited with %d:\n%s", strings.Join(args, " "), code, tf.log)
	}
}

// plan runs `tofu plan -detailed-exitcode` and tells whether it found
// any change (its exit code 2 rather than 0), and which managed resources
// it would change: a change of the consumer's output alone (a config
// written outside Terraform drops the cached token) is not a resource's.
func (tf *tofu) plan() (changed bool, resources []string) {
	tf.t.Helper()
	switch code := tf.exec("plan", "-input=false", "-detailed-exitcode", "-out=tfplan"); code {
	case 0:
		return false, nil
	case 2:
	default:
		tf.t.Fatalf("tofu plan exited with %d:\n%s", code, tf.log)
	}
	planLog := tf.log
	tf.run("show", "-json", "tfplan")
	var plan struct {
		ResourceChanges []struct {
			Address string `json:"address"`
			Mode    string `json:"mode"`
			Change  struct {
				Actions []string `json:"actions"`
			} `json:"change"`
		} `json:"resource_changes"`
	}
	if err := json.Unmarshal([]byte(tf.stdout), &plan); err != nil {
		tf.t.Fatalf("tofu show -json of the plan: %v", err)
	}
	for _, rc := range plan.ResourceChanges {
		if rc.Mode == "managed" && !slices.Equal(rc.Change.Actions, []string{"no-op"}) {
			resources = append(resources, rc.Address+" ("+strings.Join(rc.Change.Actions, ", ")+")")
		}
	}
	tf.log = planLog
	return true, resources
}

// output is the raw value of an output of the configuration.
func (tf *tofu) output(name string) string {
	tf.t.Helper()
	tf.run("output", "-raw", name)
	return tf.stdout
}
