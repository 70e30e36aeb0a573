package e2e

import (
	"context"
	"net/http"
	"strings"
	"testing"
)

// expectRefused fails the test unless err is an answer with status whose
// message contains every one of want.
func expectRefused(t *testing.T, what string, err error, status int, want ...string) {
	t.Helper()
	if statusOf(err) != status {
		t.Fatalf("%s: got %v, want HTTP %d", what, err, status)
	}
	for _, w := range want {
		if !strings.Contains(err.Error(), w) {
			t.Fatalf("%s: %q does not say %q", what, err, w)
		}
	}
}

// TestTokenURLHostsThroughVault mounts the plugin without the simulator's
// allowance: a loopback token_url is refused until the mount's settings
// allow it; private and link-local ones are refused; and a setting that
// stops allowing an address stops the connections to it.
func TestTokenURLHostsThroughVault(t *testing.T) {
	ctx := ctxFor(t)
	const path, p = "partner-ssrf", "oauth2"
	root := shared.root
	// Mounted by hand: mountOn would allow the simulator's address.
	if _, err := root.write(ctx, "sys/mounts/"+path, map[string]any{"type": pluginName, "plugin_version": env.pluginVersion}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _, _ = root.delete(context.Background(), "sys/mounts/"+path) })

	err := configure(ctx, root, path, p, p, shared.sim, nil)
	expectRefused(t, "a loopback token_url on a fresh mount", err, http.StatusBadRequest, "token_url", "127.0.0.1 is a loopback address", "allowed_token_url_hosts")
	if _, err := root.read(ctx, path+"/config/"+p); statusOf(err) != http.StatusNotFound {
		t.Fatalf("a refused config was stored: %v", err)
	}

	client := shared.sim.client(p)
	for url, want := range map[string]string{
		"https://169.254.169.254/latest/meta-data/": "link-local address, which is never allowed",
		"https://10.20.30.40/oauth/token":           "private address",
		"https://[fd00::1]/oauth/token":             "private address",
		"https://[fe80::1]/oauth/token":             "link-local",
	} {
		_, err := root.write(ctx, path+"/config/other", map[string]any{
			"provider": p, "token_url": url, "client_id": client.ID, "client_secret": client.Secret,
		})
		expectRefused(t, url, err, http.StatusBadRequest, "token_url", want)
	}
	// A CIDR cannot allow the metadata service.
	if _, err := root.write(ctx, path+"/settings", map[string]any{"allowed_token_url_hosts": "169.254.0.0/16"}); err != nil {
		t.Fatal(err)
	}
	_, err = root.write(ctx, path+"/config/other", map[string]any{
		"provider": p, "token_url": "https://169.254.169.254/token", "client_id": client.ID, "client_secret": client.Secret,
	})
	expectRefused(t, "the metadata service with 169.254.0.0/16 allowed", err, http.StatusBadRequest, "never allowed")

	if _, err := root.write(ctx, path+"/settings", map[string]any{"allowed_token_url_hosts": "127.0.0.1"}); err != nil {
		t.Fatal(err)
	}
	if err := configure(ctx, root, path, p, p, shared.sim, nil); err != nil {
		t.Fatalf("with 127.0.0.1 allowed: %v", err)
	}
	if _, err := readToken(ctx, root, path, p); err != nil {
		t.Fatalf("reading with 127.0.0.1 allowed: %v", err)
	}
	if err := configure(ctx, root, path, "late", p, shared.sim, nil); err != nil {
		t.Fatal(err)
	}

	// The connection is checked too: with the address no longer allowed,
	// a mint never reaches the simulator. The write stands, and names the
	// configs it strands.
	resp, err := root.write(ctx, path+"/settings", map[string]any{"allowed_token_url_hosts": "127.0.0.2"})
	if err != nil {
		t.Fatal(err)
	}
	if len(resp.Warnings) != 1 || !strings.Contains(resp.Warnings[0], "refuses the token endpoint of 2 config(s)") ||
		!strings.Contains(resp.Warnings[0], p) || !strings.Contains(resp.Warnings[0], "late") {
		t.Errorf("warnings = %q, want one naming the configs %s and late", resp.Warnings, p)
	}
	minted := shared.sim.mints(t, p)
	_, err = root.read(ctx, path+"/token/late")
	expectRefused(t, "a mint after the allowance was withdrawn", err, http.StatusBadGateway, "127.0.0.1 is a loopback address")
	if n := shared.sim.mints(t, p); n != minted {
		t.Fatalf("the simulator minted %d tokens for a refused address", n-minted)
	}
}

// TestNamesAreCanonicalThroughVault: Vault matches ACL paths
// case-sensitively, so a policy that denies token/canon and grants
// token/* lets token/CANON through to the plugin, which must refuse it
// rather than fold it onto canon.
func TestNamesAreCanonicalThroughVault(t *testing.T) {
	ctx := ctxFor(t)
	const name, p = "canon", "dupr"
	root := shared.root
	if err := configure(ctx, root, mount, name, p, shared.sim, map[string]any{"ttl": "10m"}); err != nil {
		t.Fatal(err)
	}
	if _, err := root.write(ctx, "sys/policies/acl/all-but-canon", map[string]any{
		"policy": `path "` + mount + `/token/*" { capabilities = ["read"] }
path "` + mount + `/token/` + name + `" { capabilities = ["deny"] }`,
	}); err != nil {
		t.Fatal(err)
	}
	team, err := root.childToken(ctx, "all-but-canon")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := team.read(ctx, mount+"/token/"+name); statusOf(err) != http.StatusForbidden {
		t.Fatalf("the policy does not deny token/%s: %v", name, err)
	}
	for _, spelled := range []string{"CANON", "Canon"} {
		resp, err := team.read(ctx, mount+"/token/"+spelled)
		if resp != nil && resp.Data["access_token"] != nil {
			t.Fatalf("token/%s returned the token of %s past the policy", spelled, name)
		}
		expectRefused(t, "token/"+spelled, err, http.StatusBadRequest, "lower-case letters")
	}

	_, err = root.write(ctx, mount+"/config/CaNoN", map[string]any{"ttl": "20m"})
	expectRefused(t, "config/CaNoN", err, http.StatusBadRequest, "lower-case letters")
	resp, err := root.read(ctx, mount+"/config/"+name)
	if err != nil {
		t.Fatal(err)
	}
	if ttl := resp.Data["ttl"]; ttl != float64(600) {
		t.Fatalf("a write to config/CaNoN changed config/%s: ttl %v", name, ttl)
	}
	if _, err := root.read(ctx, mount+"/config/CANON"); statusOf(err) != http.StatusBadRequest {
		t.Fatalf("reading config/CANON: got %v, want HTTP 400", err)
	}
}

// TestNextSecretStaysWithItsEndpointThroughVault stores a pending
// next_client_secret that a second simulator would accept, then moves the
// config there with a secret it refuses: the second simulator must never
// receive the stored next secret (it would have minted with it).
func TestNextSecretStaysWithItsEndpointThroughVault(t *testing.T) {
	ctx := ctxFor(t)
	const name, p = "moving", "oauth2"
	root := shared.root
	other, err := startSimulator("other-endpoint", nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(other.Close)
	if err := configure(ctx, root, mount, name, p, shared.sim, map[string]any{
		"next_client_secret": other.client(p).Secret,
	}); err != nil {
		t.Fatal(err)
	}
	_, err = root.write(ctx, mount+"/config/"+name, map[string]any{
		"token_url": other.tokenURL(p), "client_secret": "refused-by-the-other-endpoint", "verify": true,
	})
	expectRefused(t, "a verified move with a refused secret", err, http.StatusBadRequest, "nothing was stored", "HTTP 401")

	if _, err := root.write(ctx, mount+"/config/"+name, map[string]any{
		"token_url": other.tokenURL(p), "client_secret": "refused-by-the-other-endpoint",
	}); err != nil {
		t.Fatal(err)
	}
	resp, err := root.read(ctx, mount+"/config/"+name)
	if err != nil {
		t.Fatal(err)
	}
	if resp.Data["next_client_secret_set"] != false {
		t.Fatal("the next secret survived the move to another endpoint")
	}
	_, err = root.read(ctx, mount+"/token/"+name)
	expectRefused(t, "a read after the move", err, http.StatusBadGateway, "HTTP 401")
	if n := other.mints(t, p); n != 0 {
		t.Fatalf("the other endpoint minted %d tokens: it received the next secret stored for the first", n)
	}
}

// simRequests counts the requests that reached partner at s.
func simRequests(t *testing.T, s *simulator, partner string) int {
	t.Helper()
	return s.allStats(t)[partner].Requests
}

// TestRetryAfterIsRememberedThroughVault: a 429 with Retry-After: 120 is
// remembered on the config, so the reads after it fail at once with a 502
// naming the partner and the wait, without reaching the partner; status
// and metrics show it; a config write clears it.
func TestRetryAfterIsRememberedThroughVault(t *testing.T) {
	ctx := ctxFor(t)
	const name, p = "rate-limited", "oauth2"
	root := shared.root
	if err := configure(ctx, root, mount, name, p, shared.sim, map[string]any{"timeout": "2s"}); err != nil {
		t.Fatal(err)
	}
	if err := shared.sim.admin(http.MethodPost, "faults/"+p, map[string]any{"status": 429, "retry_after": "120"}, nil); err != nil {
		t.Fatal(err)
	}
	before := simRequests(t, shared.sim, p)
	_, err := root.read(ctx, mount+"/token/"+name)
	expectRefused(t, "the rate-limited read", err, http.StatusBadGateway, "HTTP 429")
	for range 4 {
		_, err := root.read(ctx, mount+"/token/"+name)
		expectRefused(t, "a read during the wait", err, http.StatusBadGateway, "OAuth2 token endpoint", "asked to wait until", "no new request for another")
	}
	if n := simRequests(t, shared.sim, p) - before; n != 1 {
		t.Fatalf("five reads sent %d requests to the partner, want 1", n)
	}
	status, err := root.read(ctx, mount+"/status/"+name)
	if err != nil {
		t.Fatal(err)
	}
	if status.Data["backoff"] != "partner asked to wait" || status.Data["backoff_until"] == nil {
		t.Fatalf("status shows no remembered wait: %v", status.Data)
	}
	text := rawGet(t, ctx, root, mount+"/metrics?format=prometheus")
	if want := `partnertoken_retry_after_held_total{config="` + name + `",provider="oauth2"} 4`; !strings.Contains(text, want) {
		t.Fatalf("Prometheus text has no %q", want)
	}
	if _, err := root.write(ctx, mount+"/config/"+name, map[string]any{"timeout": "3s"}); err != nil {
		t.Fatal(err)
	}
	if _, err := readToken(ctx, root, mount, name); err != nil {
		t.Fatalf("a config write did not clear the wait: %v", err)
	}
}
