package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"
)

const (
	// proxyLifetime is the life of the tokens read through Vault Proxy.
	proxyLifetime = 30 * time.Second
	// proxyReads app reads are spread over proxyWatch: more than two
	// token lifetimes, so the Proxy must hand out new tokens.
	proxyReads = 1000
	proxyWatch = 75 * time.Second
)

// TestProxyServesManyReadsFromOneLeasePerToken runs a real `vault proxy`
// with its cache and use_auto_auth_token = "force", as the documented cache
// for apps that read on every request, and has an app read token/<name>
// through it 1,000 times over more than two token lifetimes. The lease is
// renewable, so the Proxy caches it: Vault must see at most one read per
// token lifetime, and the app must get each new token once the old lease
// ends, never an expired one.
func TestProxyServesManyReadsFromOneLeasePerToken(t *testing.T) {
	ctx := ctxFor(t)
	const p = "dupr"
	name := "proxy-" + p
	sim, err := startSimulator("proxy", map[string]time.Duration{p: proxyLifetime})
	if err != nil {
		t.Fatal(err)
	}
	defer sim.Close()
	if err := configure(ctx, shared.root, mount, name, p, sim, nil); err != nil {
		t.Fatal(err)
	}
	path := mount + "/token/" + name
	port, err := freePortPair()
	if err != nil {
		t.Fatal(err)
	}
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	proxy := startClientProcess(ctx, t, "Proxy", name, fmt.Sprintf(`cache {}
api_proxy {
  use_auto_auth_token = "force"
}
listener "tcp" {
  address     = %q
  tls_disable = true
}
`, addr))
	logPath, exited := proxy.logPath, proxy.exited
	began := time.Now()
	checks := newTimeline(path)
	defer func() {
		proxy.stop(t, sim)
		if t.Failed() {
			t.Log(proxyTimeline(ctx, checks, name, p, sim, logPath, began))
		}
	}()

	// The app: no Vault token of its own; the Proxy adds its auto-auth one.
	app := &http.Client{Timeout: 30 * time.Second}
	read := func() (string, error) {
		resp, err := app.Get("http://" + addr + "/v1/" + path)
		if err != nil {
			return "", err
		}
		defer resp.Body.Close()
		var body struct {
			Data struct {
				AccessToken string `json:"access_token"`
			} `json:"data"`
			Errors []string `json:"errors"`
		}
		if err := json.NewDecoder(resp.Body).Decode(&body); err != nil || resp.StatusCode != http.StatusOK {
			return "", fmt.Errorf("HTTP %d %v %v", resp.StatusCode, body.Errors, err)
		}
		return body.Data.AccessToken, nil
	}
	if err := poll(ctx, 30*time.Second, func() error {
		select {
		case <-exited:
			return stopPolling(fmt.Errorf("the Proxy exited; its log:\n%s", tail(logPath, 30)))
		default:
		}
		_, err := read()
		return err
	}); err != nil {
		t.Fatal(err)
	}

	vaultReadsBefore := countAuditReads(t, shared.audit, path, began)
	start := time.Now()
	seen := map[string]bool{}
	lastCheck := time.Time{}
	var bad int
	for i := range proxyReads {
		time.Sleep(time.Until(start.Add(time.Duration(i) * proxyWatch / proxyReads)))
		tok, err := read()
		if err != nil {
			t.Fatalf("read %d through the Proxy: %v", i, err)
		}
		// The partner is asked about each new token and then once a second.
		if !seen[tok] || time.Since(lastCheck) >= time.Second {
			if !seen[tok] {
				checks.add(time.Now(), "test", tok, "the app gets this token now")
			}
			seen[tok] = true
			lastCheck = time.Now()
			if !sim.active(t, p, tok) {
				bad++
				checks.add(time.Now(), "test", tok, "BAD: the partner does not accept the token the app got")
				t.Errorf("after %s read %d got a token the partner does not accept", time.Since(start).Round(time.Second), i)
			}
		}
	}
	elapsed := time.Since(start)
	vaultReads := countAuditReads(t, shared.audit, path, began) - vaultReadsBefore

	lifetimes := int(elapsed/proxyLifetime) + 1
	if vaultReads > lifetimes {
		t.Errorf("%d app reads in %s reached Vault %d times, want at most one per token lifetime (%d)",
			proxyReads, elapsed.Round(time.Second), vaultReads, lifetimes)
	}
	if want := int(elapsed / proxyLifetime); len(seen) < want {
		t.Errorf("the app got %d different tokens in %s, want at least %d: the Proxy did not hand out the new token",
			len(seen), elapsed.Round(time.Second), want)
	}
	t.Logf("%d app reads in %s through Vault Proxy: %d reached Vault, %d tokens, %d bad checks",
		proxyReads, elapsed.Round(time.Second), vaultReads, len(seen), bad)
}

// countAuditReads counts the reads of path that Vault received since since.
func countAuditReads(t *testing.T, auditLog, path string, since time.Time) int {
	t.Helper()
	tl := newTimeline(path)
	tl.addAudit(auditLog, since)
	n := 0
	for _, e := range tl.events {
		if strings.HasSuffix(e.text, " received") {
			n++
		}
	}
	return n
}

// proxyTimeline is agentTimeline for the Proxy's log.
func proxyTimeline(ctx context.Context, checks *timeline, name, partner string, sim *simulator, proxyLog string, began time.Time) string {
	tl := checks
	tl.learnHashes(ctx, shared.root, "file", append([]string(nil), tl.tokens...))
	tokenOf := tl.addAudit(shared.audit, began)
	tl.addEngine(shared.vault.LogPath, name, tokenOf, began)
	tl.addPartnerExpiries(sim, partner)
	tl.addReader("proxy", proxyLog, began)
	return tl.String()
}
