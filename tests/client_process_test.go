package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// clientProcess is a running Vault Agent or Vault Proxy (`bao agent`/`bao
// proxy` on OpenBao) that authenticates with a token allowed to read one
// token/<name> path, logging at trace level into its own directory.
type clientProcess struct {
	who     string // "Agent" or "Proxy", for messages
	logPath string
	process *os.Process
	exited  chan struct{} // closed when the process exited, with its status in exitErr
	exitErr error
}

// startClientProcess gives config name a read-only policy on its token path,
// writes a child token holding it to a token file, and starts `<kind>
// -config=...` with the config that configBody adds to the shared
// vault and token-file auto_auth stanzas. who is "Agent" or "Proxy".
func startClientProcess(ctx context.Context, t *testing.T, who, name string, configBody string) *clientProcess {
	t.Helper()
	if _, err := shared.root.write(ctx, "sys/policies/acl/"+name, map[string]any{
		"policy": `path "` + mount + `/token/` + name + `" { capabilities = ["read"] }`,
	}); err != nil {
		t.Fatal(err)
	}
	clientToken, err := shared.root.childToken(ctx, name)
	if err != nil {
		t.Fatal(err)
	}

	kind := strings.ToLower(who)
	dir := filepath.Join(env.workDir, name)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	tokenFile := filepath.Join(dir, "vault-token")
	if err := os.WriteFile(tokenFile, []byte(clientToken.token), 0o600); err != nil {
		t.Fatal(err)
	}
	config := filepath.Join(dir, kind+".hcl")
	if err := os.WriteFile(config, []byte(fmt.Sprintf(`
vault {
  address = %q
}
auto_auth {
  method "token_file" {
    config = {
      token_file_path = %q
    }
  }
}
`, shared.vault.Addr, tokenFile)+configBody), 0o600); err != nil {
		t.Fatal(err)
	}

	return runClientProcess(t, who, dir, config)
}

// runClientProcess starts `<kind> -config=config` (kind: agent or proxy,
// from who) in dir, logging at trace level into dir.
func runClientProcess(t *testing.T, who, dir, config string) *clientProcess {
	t.Helper()
	kind := strings.ToLower(who)
	c := &clientProcess{who: who, logPath: filepath.Join(dir, kind+".log"), exited: make(chan struct{})}
	logFile, err := os.Create(c.logPath)
	if err != nil {
		t.Fatal(err)
	}
	// The process holds its own descriptor; ours is not needed after Start.
	defer logFile.Close()
	// Trace shows each read's sleep and renewal, for the timeline.
	cmd := serverCommand(dir, nil, kind, "-config="+config, "-log-level=trace")
	cmd.Stdout, cmd.Stderr = logFile, logFile
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	c.process = cmd.Process
	go func() {
		c.exitErr = cmd.Wait()
		close(c.exited)
	}()
	return c
}

// stop ends the process and fails the test if its log holds one of the
// simulator's client secrets; on failure it logs the end of the log.
func (c *clientProcess) stop(t *testing.T, sim *simulator) {
	t.Helper()
	terminate(c.process, c.exited, 10*time.Second)
	if leaks := findSecrets([]string{c.logPath}, sim.secrets()); len(leaks) > 0 {
		t.Errorf("client secrets in the %s's log:\n  %s", c.who, strings.Join(leaks, "\n  "))
	}
	if t.Failed() {
		t.Logf("the %s's log ends with:\n%s", c.who, tail(c.logPath, 30))
	}
}

// ifExited is nil while the process runs; once it has exited, an error
// with its status and the end of its log that stops poll.
func (c *clientProcess) ifExited() error {
	select {
	case <-c.exited:
		return stopPolling(fmt.Errorf("the %s exited (%v); its log:\n%s", c.who, c.exitErr, tail(c.logPath, 30)))
	default:
		return nil
	}
}

// checkCachedReads runs read, the doc block id, twice in app, each time
// until it prints an answer of this Proxy's without errors, and checks that
// both answers hold a token the partner accepts and one lease: the second
// read is served from the Proxy's cache.
func (c *clientProcess) checkCachedReads(ctx context.Context, t *testing.T, app docShell, id, read string, sim *simulator, partner string) {
	t.Helper()
	var leases []string
	for range 2 {
		var answer vaultResponse
		if err := poll(ctx, 60*time.Second, func() error {
			if err := c.ifExited(); err != nil {
				return err
			}
			out, err := app.exec(t, ctx, read)
			if err != nil {
				return fmt.Errorf("%s: %v: %s", id, err, out)
			}
			answer = vaultResponse{}
			if err := json.Unmarshal([]byte(out), &answer); err != nil || len(answer.Errors) > 0 {
				return fmt.Errorf("%s answered %q (%v)", id, out, err)
			}
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		if token, _ := answer.Data["access_token"].(string); !sim.active(t, partner, token) {
			t.Errorf("the Proxy served a token the partner does not accept: %+v", answer)
		}
		leases = append(leases, answer.LeaseID)
	}
	if leases[0] == "" || leases[0] != leases[1] {
		t.Errorf("two reads through the Proxy got the leases %q: want one lease, from the Proxy's cache", leases)
	}
}
