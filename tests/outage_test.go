package e2e

import (
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestAgentKeepsTheLastTokenThroughAPartnerOutage: Vault never hands out a
// token past its lease, but a reader keeps what it last got. Through a
// partner outage longer than a token's life, a Vault Agent's rendered file
// keeps the last token after it has expired (the Agent's reads fail and it
// retries; it neither empties the file nor exits), and once the partner
// answers again the Agent renders a new token. docs/reading-tokens.md says
// so.
func TestAgentKeepsTheLastTokenThroughAPartnerOutage(t *testing.T) {
	ctx := ctxFor(t)
	const p = "dupr"
	run := fmt.Sprint(agentRuns.Add(1))
	name := "outage-" + p + "-" + run
	sim, err := startSimulator("outage-"+run, map[string]time.Duration{p: agentLifetime})
	if err != nil {
		t.Fatal(err)
	}
	defer sim.Close()
	// A short timeout: each failed mint during the outage ends soon.
	if err := configure(ctx, shared.root, mount, name, p, sim, map[string]any{"timeout": "2s"}); err != nil {
		t.Fatal(err)
	}
	rendered := filepath.Join(env.workDir, name, name+".token")
	agent := startClientProcess(ctx, t, "Agent", name, fmt.Sprintf(`template {
  contents    = "{{ with secret \"%s/token/%s\" }}{{ .Data.access_token }}{{ end }}"
  destination = %q
}
`, mount, name, rendered))
	defer agent.stop(t, sim)
	readRendered := func() string {
		data, _ := os.ReadFile(rendered)
		return strings.TrimSpace(string(data))
	}
	awaitRender := func(other string, within time.Duration) string {
		t.Helper()
		for deadline := time.Now().Add(within); ; {
			if tok := readRendered(); tok != "" && tok != other {
				return tok
			}
			select {
			case <-agent.exited:
				t.Fatalf("the Agent exited (%v)", agent.exitErr)
			case <-time.After(200 * time.Millisecond):
			}
			if time.Now().After(deadline) {
				t.Fatalf("the Agent rendered no new token within %s", within)
			}
		}
	}
	first := awaitRender("", 30*time.Second)

	// The partner goes down: every request is answered 503.
	if err := sim.admin(http.MethodPost, "faults/"+p, map[string]any{"status": 503, "times": 1_000_000}, nil); err != nil {
		t.Fatal(err)
	}
	down := time.Now()
	for time.Since(down) < agentLifetime+10*time.Second {
		select {
		case <-agent.exited:
			t.Fatalf("the Agent exited during the outage (%v)", agent.exitErr)
		case <-time.After(time.Second):
		}
		if tok := readRendered(); tok != first {
			t.Fatalf("%s into the outage the file holds %q, want the last token rendered before it", time.Since(down).Round(time.Second), tok)
		}
	}
	if sim.active(t, p, first) {
		t.Fatalf("the token in the file has not expired after %s of outage: the test proves nothing", agentLifetime+10*time.Second)
	}

	// The partner answers again.
	if err := sim.admin(http.MethodPost, "reset", nil, nil); err != nil {
		t.Fatal(err)
	}
	next := awaitRender(first, 2*time.Minute)
	if !sim.active(t, p, next) {
		t.Errorf("after the outage the Agent rendered a token the partner does not accept")
	}
}
