package e2e

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// tofu runs OpenTofu on a copy of examples/terraform, with the provider
// installed from where scripts/get-terraform.sh found it (the registry or
// an offline mirror). Each command's output is kept in the test's
// directory.
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

// newTofu finds OpenTofu and the CLI configuration that scripts/get-terraform.sh
// obtained (`make test-e2e` runs it and passes their paths; without make,
// where the script leaves them) and copies the example.
//
// Where the script found no Vault provider, neither in the registry nor in
// a mirror, make passes why in PARTNERTOKEN_E2E_TERRAFORM_UNAVAILABLE: the
// test is then skipped with a warning, except in CI (CI set), where it
// fails. The example is documentation users copy, and a CI that silently
// stops applying it would let it rot. PARTNERTOKEN_E2E_SKIP_TERRAFORM=<why>
// skips it on purpose.
func newTofu(t *testing.T) *tofu {
	t.Helper()
	var why string
	reportResult(t, "PARTNERTOKEN_E2E_TERRAFORM_RESULT", &why)
	if why = os.Getenv("PARTNERTOKEN_E2E_SKIP_TERRAFORM"); why != "" {
		t.Skipf("PARTNERTOKEN_E2E_SKIP_TERRAFORM is set (%s)", why)
	}
	if why = os.Getenv("PARTNERTOKEN_E2E_TERRAFORM_UNAVAILABLE"); why != "" {
		if os.Getenv("CI") != "" {
			t.Fatalf("cannot apply examples/terraform: %s (a failure in CI, where CI is set; elsewhere a skip)", why)
		}
		t.Skipf("WARNING: examples/terraform was NOT applied: %s", why)
	}
	repo, err := filepath.Abs("..")
	if err != nil {
		t.Fatal(err)
	}
	bin := os.Getenv("PARTNERTOKEN_E2E_TOFU_BIN")
	cliConfig := os.Getenv("PARTNERTOKEN_E2E_TF_CLI_CONFIG")
	if bin == "" && cliConfig == "" {
		bin = filepath.Join(repo, ".cache", "terraform", "tofu")
		cliConfig = filepath.Join(repo, ".cache", "terraform", "tofurc")
	}
	for _, f := range []string{bin, cliConfig} {
		if _, err := os.Stat(f); f == "" || err != nil {
			t.Fatalf("OpenTofu or its CLI configuration is missing (%q): scripts/get-terraform.sh obtains them "+
				"(make test-e2e runs it; see what it printed), "+
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
