package e2e

import (
	"context"
	"encoding/base64"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"
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

// TestSpecialPurposeAddressesThroughVault: on a mount with the default
// empty allowlist, token URLs at addresses the IANA special-purpose
// registries mark not globally routable are refused at config write, and
// an IPv6 address that carries an IPv4 address is judged as that address.
func TestSpecialPurposeAddressesThroughVault(t *testing.T) {
	ctx := ctxFor(t)
	const path, p = "partner-special", "oauth2"
	root := shared.root
	if _, err := root.write(ctx, "sys/mounts/"+path, map[string]any{"type": pluginName, "plugin_version": env.pluginVersion}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _, _ = root.delete(context.Background(), "sys/mounts/"+path) })
	client := shared.sim.client(p)
	write := func(url string) error {
		_, err := root.write(ctx, path+"/config/special", map[string]any{
			"provider": p, "token_url": url, "client_id": client.ID, "client_secret": client.Secret,
		})
		return err
	}
	for url, want := range map[string]string{
		"https://100.100.100.200/token":       "100.100.100.200 is a carrier-grade NAT address",
		"https://192.0.0.8/token":             "192.0.0.8 is a reserved address",
		"https://198.18.0.1/token":            "198.18.0.1 is a benchmarking address",
		"https://240.0.0.1/token":             "240.0.0.1 is a reserved address",
		"https://255.255.255.255/token":       "broadcast address, which is never allowed",
		"https://[64:ff9b::a00:1]/token":      "64:ff9b::a00:1 (the NAT64 form of 10.0.0.1) is a private address",
		"https://[64:ff9b:1:a9fe:a9:fe00::]/": "the local-use NAT64 form of 169.254.169.254) is a link-local address, which is never allowed",
		"https://[2002:a9fe:a9fe::1]/token":   "the 6to4 form of 169.254.169.254) is a link-local address",
		"https://[::a00:1]/token":             "the IPv4-compatible form of 10.0.0.1) is a private address",
		"https://[fec0::1]/token":             "fec0::1 is a site-local address",
	} {
		expectRefused(t, url, write(url), http.StatusBadRequest, "token_url", want)
	}
	if _, err := root.read(ctx, path+"/config/special"); statusOf(err) != http.StatusNotFound {
		t.Fatalf("a refused config was stored: %v", err)
	}
	// A CIDR entry allows carrier-grade NAT, never the metadata service
	// behind NAT64.
	if _, err := root.write(ctx, path+"/settings", map[string]any{"allowed_token_url_hosts": "100.64.0.0/10,169.254.0.0/16"}); err != nil {
		t.Fatal(err)
	}
	if err := write("https://100.100.100.200/token"); err != nil {
		t.Fatalf("with 100.64.0.0/10 allowed: %v", err)
	}
	expectRefused(t, "NAT64 of the metadata service with 169.254.0.0/16 allowed", write("https://[64:ff9b::a9fe:a9fe]/token"), http.StatusBadRequest, "token_url", "never allowed")
}

// TestHostsThatAreNotDNSNamesThroughVault: hosts that a proxy could read
// as an IPv4 address are refused at config write with a 400 naming
// token_url, and nothing is stored.
func TestHostsThatAreNotDNSNamesThroughVault(t *testing.T) {
	ctx := ctxFor(t)
	const name, p = "numeric-host", "oauth2"
	root := shared.root
	client := shared.sim.client(p)
	for _, url := range []string{
		"https://2852039166/latest/meta-data/",
		"https://0xa9fea9fe/latest/meta-data/",
		"https://0251.0376.0251.0376/latest/meta-data/",
		"https://169.254.169.254./latest/meta-data/",
	} {
		_, err := root.write(ctx, mount+"/config/"+name, map[string]any{
			"provider": p, "token_url": url, "client_id": client.ID, "client_secret": client.Secret,
		})
		expectRefused(t, url, err, http.StatusBadRequest, "token_url", "is neither an IP address nor a DNS name")
	}
	if _, err := root.read(ctx, mount+"/config/"+name); statusOf(err) != http.StatusNotFound {
		t.Fatalf("a refused config was stored: %v", err)
	}
}

// encodedPart is the first run of 12 characters of a base64 encoding of
// secret or of id:secret (any alphabet, padded or not) that text holds; ""
// when it holds none.
func encodedPart(text, id, secret string) string {
	for _, raw := range []string{secret, id + ":" + secret} {
		for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
			form := enc.EncodeToString([]byte(raw))
			for i := 0; i+12 <= len(form); i++ {
				if strings.Contains(text, form[i:i+12]) {
					return form[i : i+12]
				}
			}
		}
	}
	return ""
}

// TestBase64EchoesThroughVault has the partner quote the Basic credentials
// it was sent back unpadded and in URL-safe base64: neither the reader's
// 502, status/<name>'s last_error, a verify=true write's error nor Vault's
// log holds 12 characters of any base64 encoding of the secret.
func TestBase64EchoesThroughVault(t *testing.T) {
	ctx := ctxFor(t)
	const name, p = "echoing", "oauth2"
	root := shared.root
	// "?>~~" three times puts "?>~" on every base64 alignment: the
	// encodings hold + and / (- and _ URL-safe).
	c := simClient{ID: shared.sim.client(p).ID, Secret: "echo-" + randomString(8) + "?>~~?>~~?>~~"}
	credentials := []byte(c.ID + ":" + c.Secret)
	if std := base64.StdEncoding.EncodeToString(credentials); std == base64.URLEncoding.EncodeToString(credentials) {
		t.Fatalf("the credentials' encodings do not differ by alphabet: %s", std)
	}
	echo := func(encoded string) {
		t.Helper()
		body := `{"error":"invalid_client","error_description":"Authorization: Basic ` + encoded + ` is not a client we know"}`
		if err := shared.sim.admin(http.MethodPost, "faults/"+p, map[string]any{"status": 401, "body": body}, nil); err != nil {
			t.Fatal(err)
		}
	}
	if err := configure(ctx, root, mount, name, p, shared.sim, map[string]any{"client_secret": c.Secret}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _, _ = root.delete(context.Background(), mount+"/config/"+name) })

	echo(base64.RawStdEncoding.EncodeToString(credentials))
	_, err := root.read(ctx, mount+"/token/"+name)
	expectRefused(t, "a read the partner answers with the unpadded credentials", err, http.StatusBadGateway, "HTTP 401")
	if part := encodedPart(err.Error(), c.ID, c.Secret); part != "" {
		t.Errorf("the reader's error %q holds %q of the credentials", err, part)
	}
	status, err := root.read(ctx, mount+"/status/"+name)
	if err != nil {
		t.Fatal(err)
	}
	lastError, _ := status.Data["last_error"].(string)
	if lastError == "" {
		t.Fatalf("status shows no last_error: %v", status.Data)
	}
	if part := encodedPart(lastError, c.ID, c.Secret); part != "" {
		t.Errorf("status/%s's last_error %q holds %q of the credentials", name, lastError, part)
	}

	echo(base64.RawURLEncoding.EncodeToString(credentials))
	_, err = root.write(ctx, mount+"/config/"+name, map[string]any{"client_secret": c.Secret, "verify": true})
	expectRefused(t, "a verify the partner answers with the URL-safe credentials", err, http.StatusBadRequest, "nothing was stored", "HTTP 401")
	if part := encodedPart(err.Error(), c.ID, c.Secret); part != "" {
		t.Errorf("the verify error %q holds %q of the credentials", err, part)
	}

	for _, file := range []string{shared.vault.LogPath, shared.audit} {
		data, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		if part := encodedPart(string(data), c.ID, c.Secret); part != "" {
			t.Errorf("%s holds %q of the credentials", file, part)
		}
	}
}

// TestCredentialsOver4KiBThroughVault: client_id, client_secret and
// next_client_secret over 4 KiB are refused with a 400 naming the field,
// without quoting the value; 4 KiB is accepted.
func TestCredentialsOver4KiBThroughVault(t *testing.T) {
	ctx := ctxFor(t)
	const name, p = "long-credentials", "oauth2"
	root := shared.root
	t.Cleanup(func() { _, _ = root.delete(context.Background(), mount+"/config/"+name) })
	for _, field := range []string{"client_id", "client_secret", "next_client_secret"} {
		value := strings.Repeat("x", 4096) + randomString(8)[:1]
		err := configure(ctx, root, mount, name, p, shared.sim, map[string]any{field: value})
		expectRefused(t, field+" of 4097 bytes", err, http.StatusBadRequest, field+" is too long: at most 4096 bytes")
		if strings.Contains(err.Error(), strings.Repeat("x", 64)) {
			t.Errorf("the refusal of %s quotes the value", field)
		}
	}
	if _, err := root.read(ctx, mount+"/config/"+name); statusOf(err) != http.StatusNotFound {
		t.Fatalf("a refused config was stored: %v", err)
	}
	if err := configure(ctx, root, mount, name, p, shared.sim, map[string]any{"next_client_secret": strings.Repeat("n", 4096)}); err != nil {
		t.Fatalf("a next_client_secret of 4096 bytes: %v", err)
	}
}

// checkNothingRecorded fails the test if the mount's metrics hold a series
// of config name.
func checkNothingRecorded(t *testing.T, ctx context.Context, root *vaultClient, name string) {
	t.Helper()
	text := rawGet(t, ctx, root, mount+"/metrics?format=prometheus")
	if label := `config="` + name + `"`; strings.Contains(text, label) {
		t.Errorf("the metrics hold series of %s, whose config is not stored", name)
	}
}

// checkStartsAtZero configures name and fails the test unless its status
// shows nothing from before.
func checkStartsAtZero(t *testing.T, ctx context.Context, root *vaultClient, name string) {
	t.Helper()
	if err := configure(ctx, root, mount, name, "oauth2", shared.sim, nil); err != nil {
		t.Fatal(err)
	}
	status, err := root.read(ctx, mount+"/status/"+name)
	if err != nil {
		t.Fatal(err)
	}
	if status.Data["mint_count"] != float64(0) || status.Data["last_error"] != nil || status.Data["last_mint_at"] != nil {
		t.Errorf("a new config of %s inherits: %v", name, status.Data)
	}
}

// TestNamesNeverStoredRecordNothingThroughVault: a verify=true write the
// partner refuses, and a mint whose config is deleted while the partner
// answers, leave no metric series and no status under the name; a new
// config of the name starts at zero.
func TestNamesNeverStoredRecordNothingThroughVault(t *testing.T) {
	ctx := ctxFor(t)
	const p = "oauth2"
	root := shared.root
	client := shared.sim.client(p)

	const refused = "verify-refused"
	t.Cleanup(func() { _, _ = root.delete(context.Background(), mount+"/config/"+refused) })
	_, err := root.write(ctx, mount+"/config/"+refused, map[string]any{
		"provider": p, "token_url": shared.sim.tokenURL(p), "client_id": client.ID,
		"client_secret": "refused-" + randomString(8), "verify": true,
	})
	expectRefused(t, "a verify with a wrong secret", err, http.StatusBadRequest, "nothing was stored", "HTTP 401")
	checkNothingRecorded(t, ctx, root, refused)
	checkStartsAtZero(t, ctx, root, refused)

	const deleted = "deleted-mid-mint"
	t.Cleanup(func() { _, _ = root.delete(context.Background(), mount+"/config/"+deleted) })
	if err := configure(ctx, root, mount, deleted, p, shared.sim, nil); err != nil {
		t.Fatal(err)
	}
	if err := shared.sim.admin(http.MethodPost, "faults/"+p, map[string]any{"delay": "2s"}, nil); err != nil {
		t.Fatal(err)
	}
	before := simRequests(t, shared.sim, p)
	reads := make(chan error, 2)
	for range 2 { // the second shares the first one's mint
		go func() {
			_, err := root.read(ctx, mount+"/token/"+deleted)
			reads <- err
		}()
	}
	for simRequests(t, shared.sim, p) == before {
		if ctx.Err() != nil {
			t.Fatal("the mint never reached the simulator")
		}
		time.Sleep(10 * time.Millisecond)
	}
	if _, err := root.delete(ctx, mount+"/config/"+deleted); err != nil {
		t.Fatal(err)
	}
	for range 2 {
		if err := <-reads; err == nil {
			t.Error("a read of a config deleted during its mint returned a token")
		}
	}
	checkNothingRecorded(t, ctx, root, deleted)
	checkStartsAtZero(t, ctx, root, deleted)
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
