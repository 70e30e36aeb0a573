package e2e

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
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
// That needs the lease to end before the token does, the Agent to renew and
// then re-read the renewable lease (a renewal never extends it) or re-read
// a non-renewable one, and the engine to have a fresh token ready when it
// does. The three ways of reading run side by side.
func TestAgentKeepsValidToken(t *testing.T) {
	for _, mode := range []struct {
		name   string
		config map[string]any
	}{
		{"renewable lease per read (the default)", nil},
		{"non-renewable lease per read", map[string]any{"lease_renewable": false}},
		{"no lease: ttl and rotation_period", map[string]any{"lease_mode": "none"}},
	} {
		t.Run(mode.name, func(t *testing.T) {
			t.Parallel()
			watchAgent(t, mode.config)
		})
	}
}

// agentRuns numbers the Agents of a run, for their config names and dirs.
var agentRuns atomic.Int32

// renderingAgent is a Vault Agent that renders the token of its own config
// of partner into a file, against its own simulator, whose tokens live
// agentLifetime.
type renderingAgent struct {
	*clientProcess
	name, partner string
	sim           *simulator
	rendered      string // the file the Agent renders the token into
}

// startRenderingAgent starts a simulator, a config of its dupr partner
// with extra, named prefix-dupr-<run>, and an Agent rendering its token.
// The caller stops the Agent (stop); the simulator closes with the test.
func startRenderingAgent(ctx context.Context, t *testing.T, prefix string, extra map[string]any) *renderingAgent {
	t.Helper()
	const p = "dupr"
	run := fmt.Sprint(agentRuns.Add(1))
	name := prefix + "-" + p + "-" + run
	sim, err := startSimulator(prefix+"-"+run, map[string]time.Duration{p: agentLifetime})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(sim.Close)
	if err := configure(ctx, shared.root, mount, name, p, sim, extra); err != nil {
		t.Fatal(err)
	}
	rendered := filepath.Join(env.workDir, name, name+".token")
	agent := startClientProcess(ctx, t, "Agent", name, fmt.Sprintf(`template {
  contents    = "{{ with secret \"%s/token/%s\" }}{{ .Data.access_token }}{{ end }}"
  destination = %q
}
`, mount, name, rendered))
	return &renderingAgent{clientProcess: agent, name: name, partner: p, sim: sim, rendered: rendered}
}

// token is what the rendered file holds, "" before the first render.
func (a *renderingAgent) token() string {
	data, _ := os.ReadFile(a.rendered)
	return strings.TrimSpace(string(data))
}

// awaitToken waits up to within until the file holds a token other than
// other, and returns it; the test fails if the Agent exits first.
func (a *renderingAgent) awaitToken(t *testing.T, other string, within time.Duration) string {
	t.Helper()
	for deadline := time.Now().Add(within); ; {
		if tok := a.token(); tok != "" && tok != other {
			return tok
		}
		select {
		case <-a.exited:
			t.Fatalf("the Agent exited (%v); its log:\n%s", a.exitErr, tail(a.logPath, 30))
		case <-time.After(200 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("the Agent rendered no new token within %s; its log:\n%s", within, tail(a.logPath, 30))
		}
	}
}

func watchAgent(t *testing.T, extra map[string]any) {
	ctx := ctxFor(t)
	agent := startRenderingAgent(ctx, t, "agent", extra)
	name, p, sim := agent.name, agent.partner, agent.sim
	began := time.Now()
	checks := newTimeline(mount + "/token/" + name) // the test's own checks of the file
	defer func() {
		agent.stop(t, sim)
		if t.Failed() || os.Getenv("PARTNERTOKEN_E2E_TIMELINE") != "" {
			t.Log(agentTimeline(ctx, checks, name, p, sim, agent.logPath, began))
		}
	}()

	// The first render.
	agent.awaitToken(t, "", 30*time.Second)

	// The watch: every second the file must hold a token the partner accepts.
	start := time.Now()
	seen := map[string]time.Time{} // token -> first seen
	var bad int
	ticker := time.NewTicker(time.Second)
	defer ticker.Stop()
	for time.Since(start) < agentWatch {
		select {
		case <-agent.exited:
			t.Fatalf("the Agent exited during the watch (%v)", agent.exitErr)
		case <-ticker.C:
		}
		tok := agent.token()
		if _, ok := seen[tok]; !ok {
			seen[tok] = time.Now()
			checks.add(time.Now(), "test", tok, "the file holds this token now")
		}
		if tok == "" || !sim.active(t, p, tok) {
			bad++
			checks.add(time.Now(), "test", tok, "BAD: the partner does not accept the token in the file")
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

// agentTimeline merges the test's checks with what the audit log, the
// engine's lease lines, the simulator and the Agent's log tell about the
// tokens of config name since began.
func agentTimeline(ctx context.Context, checks *timeline, name, partner string, sim *simulator, agentLog string, began time.Time) string {
	tl := checks
	tl.learnHashes(ctx, shared.root, "file", append([]string(nil), tl.tokens...))
	tokenOf := tl.addAudit(shared.audit, began)
	// Tokens that Vault handed out but the file never showed.
	for _, tok := range tokenOf {
		tl.number(tok)
	}
	tl.addEngine(shared.vault.LogPath, name, tokenOf, began)
	tl.addPartnerExpiries(sim, partner)
	tl.addReader("agent", agentLog, began)
	return tl.String()
}
