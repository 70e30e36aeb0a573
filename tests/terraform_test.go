package e2e

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// TestTerraform applies examples/terraform, the configuration the docs
// show, with OpenTofu and terraform-provider-vault to a Vault server of its
// own, and checks through Vault that it did what it says. Then it shows how
// the write-only client secret meets drift detection (docs/terraform.md),
// upgrades the plugin, and destroys it all.
func TestTerraform(t *testing.T) {
	e := applyExample(t)
	e.checkApplied()
	e.checkFieldDrift()
	e.checkSecretDriftUnseen()
	e.checkNewSecret()
	e.checkUpgrade()
	e.checkDestroy()
}

// exampleMount is the example's default mount_path.
const exampleMount = "partner"

// billingConfigChange is how a plan lists a change of the billing-api
// config.
const billingConfigChange = "vault_generic_endpoint.billing_api (update)"

// terraformExample is the example applied to a Vault server and simulator
// of its own.
type terraformExample struct {
	t       *testing.T
	ctx     context.Context
	tf      *tofu
	v       *vaultServer
	sim     *simulator
	vars    map[string]any
	teams   map[string]*vaultClient // a token of each team, by config name
	secrets []simClient             // every client secret the test used
}

// applyExample starts a simulator and a Vault dev server, points the
// example at them and applies it; the plan right after must be empty.
func applyExample(t *testing.T) *terraformExample {
	tf := newTofu(t)
	e := &terraformExample{t: t, ctx: ctxFor(t), tf: tf}
	var err error
	if e.sim, err = startSimulator("terraform", nil); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(e.sim.Close)
	vaultDir := filepath.Join(tf.dir, "vault")
	if err := os.MkdirAll(vaultDir, 0o700); err != nil {
		t.Fatal(err)
	}
	if e.v, err = startVault(e.ctx, vaultDir); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(e.v.Stop)
	tf.env = append(tf.env, "VAULT_TOKEN="+rootToken)

	sum, err := pluginSHA256()
	if err != nil {
		t.Fatal(err)
	}
	dupr, billing := e.sim.client("dupr"), e.sim.client("oauth2")
	e.secrets = []simClient{dupr, billing}
	e.vars = map[string]any{
		"vault_address":  e.v.Addr,
		"plugin_sha256":  sum,
		"plugin_version": env.pluginVersion,
		// The simulator listens on loopback, which the engine refuses
		// unless the mount's settings allow it.
		"allowed_token_url_hosts": []string{"127.0.0.1"},
		"dupr_environment":        "sandbox",
		"dupr_token_url":          e.sim.tokenURL("dupr"),
		"dupr_client_id":          dupr.ID,
		"dupr_client_secret":      dupr.Secret,
		"billing_token_url":       e.sim.tokenURL("oauth2"),
		"billing_client_id":       billing.ID,
		"billing_client_secret":   billing.Secret,
		"billing_scopes":          []string{"invoices:read", "invoices:write"},
		// The same client at the partner, authenticated by a signed JWT.
		"signing_token_url": e.sim.tokenURL("oauth2"),
		"signing_client_id": billing.ID,
	}
	tf.setVars(e.vars)

	tf.run("init", "-input=false")
	tf.run("apply", "-input=false", "-auto-approve")
	if changed, _ := tf.plan(); changed {
		t.Fatalf("the plan right after apply has changes; its output:\n%s", tf.log)
	}
	return e
}

// checkApplied checks through Vault the mount, its settings, both configs
// (secret stored, not readable), the team policies, and that the
// consumer's token is the one Vault serves from its cache.
func (e *terraformExample) checkApplied() {
	t, ctx, v, sim := e.t, e.ctx, e.v, e.sim
	checkMount(ctx, t, v, exampleMount)
	if resp, err := v.root.read(ctx, exampleMount+"/settings"); err != nil {
		t.Errorf("reading the mount's settings: %v", err)
	} else if hosts, _ := json.Marshal(resp.Data["allowed_token_url_hosts"]); string(hosts) != `["127.0.0.1"]` {
		t.Errorf("settings: allowed_token_url_hosts = %s, want [\"127.0.0.1\"]", hosts)
	}
	checkConfig(ctx, t, v, exampleMount+"/config/dupr", map[string]any{
		"provider": "dupr", "environment": "sandbox", "token_url": sim.tokenURL("dupr"), "client_id": sim.client("dupr").ID,
	})
	checkConfig(ctx, t, v, exampleMount+"/config/billing-api", map[string]any{
		"provider": "oauth2", "token_url": sim.tokenURL("oauth2"), "client_id": sim.client("oauth2").ID,
		"scopes": []any{"invoices:read", "invoices:write"},
	})

	// Each team reads its token, and only its own.
	e.teams = map[string]*vaultClient{}
	for team, config := range map[string]string{"team-pickleball": "dupr", "team-billing": "billing-api"} {
		c, err := v.root.childToken(ctx, team)
		if err != nil {
			t.Fatal(err)
		}
		e.teams[config] = c
	}
	if _, err := readToken(ctx, e.teams["dupr"], exampleMount, "dupr"); err != nil {
		t.Errorf("team-pickleball cannot read the DUPR token: %v", err)
	}
	if _, err := e.teams["dupr"].write(ctx, exampleMount+"/refresh/dupr", nil); err != nil {
		t.Errorf("team-pickleball cannot force a refresh of the DUPR token: %v", err)
	}
	if _, err := e.teams["dupr"].read(ctx, exampleMount+"/token/billing-api"); statusOf(err) != http.StatusForbidden {
		t.Errorf("team-pickleball reading the billing API token: got %v, want HTTP 403", err)
	}

	e.checkSigningAPI()

	consumed := e.tf.output("billing_api_token")
	mints := sim.mints(t, "oauth2")
	l := e.readBillingToken()
	checkLease(t, sim, "oauth2", exampleMount, "billing-api", l)
	if l.AccessToken != consumed {
		t.Errorf("the example's consumer got a different token than Vault serves")
	}
	if n := sim.mints(t, "oauth2") - mints; n != 0 {
		t.Errorf("reading the token after the consumer did caused %d mints, want 0 (the cached token)", n)
	}
}

// checkSigningAPI registers the JWKS the example outputs at the partner,
// as an operator would, and reads a token minted with the generated key.
func (e *terraformExample) checkSigningAPI() {
	t, ctx, v, sim := e.t, e.ctx, e.v, e.sim
	resp, err := v.root.read(ctx, exampleMount+"/config/signing-api")
	if err != nil {
		t.Fatal(err)
	}
	if resp.Data["auth_method"] != "private_key_jwt" || resp.Data["private_key_set"] != true || resp.Data["signing_algorithm"] != "ES256" {
		t.Errorf("config/signing-api: auth_method %v, private_key_set %v, signing_algorithm %v",
			resp.Data["auth_method"], resp.Data["private_key_set"], resp.Data["signing_algorithm"])
	}
	var jwks struct {
		Keys []map[string]any `json:"keys"`
	}
	if err := json.Unmarshal([]byte(e.tf.output("signing_api_jwks")), &jwks); err != nil || len(jwks.Keys) != 1 || jwks.Keys[0]["d"] != nil {
		t.Fatalf("the signing_api_jwks output is not one public key (%v): %v", err, jwks.Keys)
	}
	billing := sim.client("oauth2")
	if err := sim.admin(http.MethodPut, "clients/oauth2", map[string]any{"id": billing.ID, "secret": billing.Secret, "jwks": jwks}, nil); err != nil {
		t.Fatal(err)
	}
	l, err := readToken(ctx, v.root, exampleMount, "signing-api")
	if err != nil {
		t.Fatalf("reading token/signing-api with the generated key registered: %v", err)
	}
	checkLease(t, sim, "oauth2", exampleMount, "signing-api", l)
}

// checkFieldDrift changes a field Terraform wrote outside Terraform: the
// plan shows a change of that config, and the next apply puts it back.
// (The write also dropped the cached token, so the consumer's output
// changes too; that alone would make the exit code 2, hence the look at
// the resources.)
func (e *terraformExample) checkFieldDrift() {
	t := e.t
	if _, err := e.v.root.write(e.ctx, exampleMount+"/config/billing-api", map[string]any{"scopes": "invoices:admin"}); err != nil {
		t.Fatal(err)
	}
	if _, resources := e.tf.plan(); !slices.Equal(resources, []string{billingConfigChange}) {
		t.Errorf("scopes changed outside Terraform: the plan changes %v, want [%s]", resources, billingConfigChange)
	}
	e.tf.run("apply", "-input=false", "-auto-approve")
	checkConfig(e.ctx, t, e.v, exampleMount+"/config/billing-api", map[string]any{"scopes": []any{"invoices:read", "invoices:write"}})
}

// checkSecretDriftUnseen changes a secret outside Terraform: Vault never
// returns it, so the plan cannot show it (the documented price of
// ignore_absent_fields).
func (e *terraformExample) checkSecretDriftUnseen() {
	if _, err := e.v.root.write(e.ctx, exampleMount+"/config/dupr", map[string]any{"client_secret": "changed-outside-" + randomString(8)}); err != nil {
		e.t.Fatal(err)
	}
	if changed, _ := e.tf.plan(); changed {
		e.t.Errorf("a client_secret changed outside Terraform shows in the plan, but Vault never returns it; the plan:\n%s", e.tf.log)
	}
}

// checkNewSecret applies a new billing secret that the partner now
// requires. Until the apply, Vault serves the cached token without
// minting; the apply rewrites the config, which drops that token, so the
// consumer's read mints a new one with the new secret.
func (e *terraformExample) checkNewSecret() {
	t, sim := e.t, e.sim
	before := e.readBillingToken()
	rotated := simClient{ID: sim.client("oauth2").ID, Secret: "rotated-" + randomString(12)}
	e.secrets = append(e.secrets, rotated)
	if err := sim.admin(http.MethodPut, "clients/oauth2", map[string]any{"id": rotated.ID, "secret": rotated.Secret}, nil); err != nil {
		t.Fatal(err)
	}
	mints := sim.mints(t, "oauth2")
	if l := e.readBillingToken(); l.AccessToken != before.AccessToken {
		t.Fatalf("before the apply, Vault should still serve the cached token")
	}

	e.vars["billing_client_secret"] = rotated.Secret
	e.tf.setVars(e.vars)
	if _, resources := e.tf.plan(); !slices.Equal(resources, []string{billingConfigChange}) {
		t.Fatalf("a new billing_client_secret: the plan changes %v, want [%s]", resources, billingConfigChange)
	}
	e.tf.run("apply", "-input=false", "-auto-approve")
	if n := sim.mints(t, "oauth2") - mints; n != 1 {
		t.Errorf("applying a new secret caused %d mints, want 1 (the consumer's read after the cached token was dropped)", n)
	}
	consumed := e.tf.output("billing_api_token")
	if consumed == before.AccessToken {
		t.Errorf("after applying a new secret the consumer still got the token minted with the old one")
	}
	if !sim.active(t, "oauth2", consumed) {
		t.Errorf("the consumer's token after the new secret is not one the partner issued")
	}
	if e.readBillingToken().AccessToken != consumed {
		t.Errorf("Vault serves another token than the consumer got after the new secret")
	}
	if changed, _ := e.tf.plan(); changed {
		t.Errorf("the plan after applying the new secret has changes; its output:\n%s", e.tf.log)
	}
}

// checkUpgrade applies a second build reporting another version, under a
// file name of its own. The apply moves the mount to it and deregisters
// the old version; the running plugin changes only with a reload, which
// the provider does not do.
func (e *terraformExample) checkUpgrade() {
	t, ctx, v := e.t, e.ctx, e.v
	upgrade, err := buildUpgrade()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.Remove(filepath.Join(env.pluginDir, upgrade.command)) })
	e.vars["plugin_command"], e.vars["plugin_sha256"], e.vars["plugin_version"] = upgrade.command, upgrade.sha256, upgrade.version
	e.tf.setVars(e.vars)
	e.tf.run("apply", "-input=false", "-auto-approve")
	if version, running := mountVersions(ctx, t, v, exampleMount); version != upgrade.version || running != env.pluginVersion {
		t.Errorf("after applying the upgrade the mount has plugin_version %s running %s, want %s running %s until a reload",
			version, running, upgrade.version, env.pluginVersion)
	}
	// The reload as docs/terraform.md says, which prints the version running.
	out := runDocBlock(t, ctx, v, "docs/terraform.md", "terraform-reload", t.TempDir(), nil)
	if _, running := mountVersions(ctx, t, v, exampleMount); running != upgrade.version || !strings.HasSuffix(strings.TrimSpace(out), upgrade.version) {
		t.Errorf("after the reload the mount runs %s, want %s; the block printed:\n%s", running, upgrade.version, out)
	}
	if _, err := v.root.read(ctx, "sys/plugins/catalog/secret/"+pluginName+"?version="+env.pluginVersion); statusOf(err) != http.StatusNotFound {
		t.Errorf("the version upgraded from is still registered (reading it: %v)", err)
	}
	e.readBillingToken()
	if changed, _ := e.tf.plan(); changed {
		t.Errorf("the plan after the upgrade has changes; its output:\n%s", e.tf.log)
	}
}

// checkDestroy destroys the example and checks that Vault holds none of
// it, and that no client secret reached Vault's log.
func (e *terraformExample) checkDestroy() {
	t, ctx, v := e.t, e.ctx, e.v
	e.tf.run("destroy", "-input=false", "-auto-approve")
	checkGone(ctx, t, v, "sys/mounts/"+exampleMount, "the mount")
	checkGone(ctx, t, v, "sys/policies/acl/team-pickleball", "policy team-pickleball")
	checkGone(ctx, t, v, "sys/policies/acl/team-billing", "policy team-billing")
	checkGone(ctx, t, v, "sys/plugins/catalog/secret/"+pluginName, "the plugin's registration")

	v.Stop()
	if leaks := findSecrets([]string{v.LogPath}, e.secrets); len(leaks) > 0 {
		t.Errorf("client secrets in the Vault log:\n  %s", strings.Join(leaks, "\n  "))
	}
}

// readBillingToken reads token/billing-api as team-billing.
func (e *terraformExample) readBillingToken() *lease {
	e.t.Helper()
	l, err := readToken(e.ctx, e.teams["billing-api"], exampleMount, "billing-api")
	if err != nil {
		e.t.Fatalf("team-billing reading its token: %v", err)
	}
	return l
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
