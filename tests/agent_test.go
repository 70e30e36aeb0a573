package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

const (
	// agentLifetime is the life of the tokens the Agent renders: short, so
	// the watch sees several of them expire.
	agentLifetime = 30 * time.Second
	// agentWatch is how long the rendered file is watched.
	agentWatch = 2 * time.Minute
)

// TestAgentKeepsValidToken runs a real Vault Agent (`bao agent` on OpenBao) that renders a partner
// token into a file, against tokens that live 30 seconds, and checks every
// second for two minutes that the file holds a token the partner accepts.
// That needs the lease to end before the token does, the Agent to re-read
// (the lease is not renewable), and the engine to have a fresh token ready
// when it does.
func TestAgentKeepsValidToken(t *testing.T) {
	ctx := ctxFor(t)
	const p = "dupr"
	name := "agent-" + p
	sim, err := startSimulator("agent", map[string]time.Duration{p: agentLifetime})
	if err != nil {
		t.Fatal(err)
	}
	defer sim.Close()
	if err := configure(ctx, shared.root, mount, name, p, sim, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := shared.root.write(ctx, "sys/policies/acl/agent-"+name, map[string]any{
		"policy": `path "` + mount + `/token/` + name + `" { capabilities = ["read"] }`,
	}); err != nil {
		t.Fatal(err)
	}
	agentToken, err := shared.root.childToken(ctx, "agent-"+name)
	if err != nil {
		t.Fatal(err)
	}

	dir := filepath.Join(env.workDir, "agent")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	tokenFile := filepath.Join(dir, "vault-token")
	rendered := filepath.Join(dir, name+".token")
	if err := os.WriteFile(tokenFile, []byte(agentToken.token), 0o600); err != nil {
		t.Fatal(err)
	}
	config := filepath.Join(dir, "agent.hcl")
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
template {
  contents    = "{{ with secret \"%s/token/%s\" }}{{ .Data.access_token }}{{ end }}"
  destination = %q
}
`, shared.vault.Addr, tokenFile, mount, name, rendered)), 0o600); err != nil {
		t.Fatal(err)
	}

	logPath := filepath.Join(dir, "agent.log")
	logFile, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	defer logFile.Close()
	agent := serverCommand(dir, nil, "agent", "-config="+config, "-log-level=debug")
	agent.Stdout, agent.Stderr = logFile, logFile
	if err := agent.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{}) // closed when the Agent exited, with its status in exitErr
	var exitErr error
	go func() {
		exitErr = agent.Wait()
		close(exited)
	}()
	defer func() {
		terminate(agent.Process, exited, 10*time.Second)
		if leaks := findSecrets([]string{logPath}, sim.secrets()); len(leaks) > 0 {
			t.Errorf("client secrets in the Agent's log:\n  %s", strings.Join(leaks, "\n  "))
		}
		if t.Failed() {
			t.Logf("the Agent's log ends with:\n%s", tail(logPath, 30))
		}
	}()

	// The first render.
	readRendered := func() string {
		data, _ := os.ReadFile(rendered)
		return strings.TrimSpace(string(data))
	}
	for deadline := time.Now().Add(30 * time.Second); readRendered() == ""; {
		select {
		case <-exited:
			t.Fatalf("the Agent exited (%v); its log:\n%s", exitErr, tail(logPath, 30))
		case <-time.After(200 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("the Agent rendered nothing within 30s; its log:\n%s", tail(logPath, 30))
		}
	}

	// The watch: every second the file must hold a token the partner accepts.
	start := time.Now()
	seen := map[string]time.Time{} // token -> first seen
	var bad int
	ticker := time.NewTicker(time.Second)
	defer ticker.Stop()
	for time.Since(start) < agentWatch {
		select {
		case <-exited:
			t.Fatalf("the Agent exited during the watch (%v)", exitErr)
		case <-ticker.C:
		}
		tok := readRendered()
		if _, ok := seen[tok]; !ok {
			seen[tok] = time.Now()
		}
		if tok == "" || !sim.active(t, p, tok) {
			bad++
			t.Errorf("after %s the rendered file holds a token the partner does not accept (token %d seen)",
				time.Since(start).Round(time.Second), len(seen))
		}
	}

	// Several tokens expired during the watch, and each was minted once
	// for every reader: the Agent's reads were served from the cache.
	if want := int(agentWatch/agentLifetime) + 1; len(seen) < want {
		t.Errorf("the file held %d different tokens in %s, want at least %d: the Agent did not follow the expiries",
			len(seen), agentWatch, want)
	}
	if minted, limit := sim.mints(t, p), 2*int(agentWatch/agentLifetime)+3; minted > limit {
		t.Errorf("%d tokens were minted in %s for one reader, want at most %d", minted, agentWatch, limit)
	}
	t.Logf("the Agent rendered %d tokens in %s, %d minted, %d bad checks", len(seen), agentWatch, sim.mints(t, p), bad)
}
