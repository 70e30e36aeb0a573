package e2e

import (
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"net/url"
	"os"
	"strings"
	"testing"
)

// randomString returns n random bytes, hex-encoded.
func randomString(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// secretForms are the shapes a client secret could leak in: raw, encoded
// for a form or URL, base64 in every alphabet, and inside HTTP Basic and
// DUPR's x-authorization header (base64 of id:secret).
func secretForms(c simClient) []string {
	forms := []string{c.Secret, url.QueryEscape(c.Secret)}
	for _, raw := range []string{c.Secret, c.ID + ":" + c.Secret, url.QueryEscape(c.ID) + ":" + url.QueryEscape(c.Secret)} {
		for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
			forms = append(forms, enc.EncodeToString([]byte(raw)))
		}
	}
	return forms
}

// findSecrets lists which secret, in which form, appears in which file.
func findSecrets(files []string, clients []simClient) []string {
	var leaks []string
	for _, file := range files {
		data, err := os.ReadFile(file)
		if err != nil {
			leaks = append(leaks, fmt.Sprintf("%s: cannot read it to check: %v", file, err))
			continue
		}
		for _, c := range clients {
			for i, form := range secretForms(c) {
				if bytes.Contains(data, []byte(form)) {
					leaks = append(leaks, fmt.Sprintf("%s: the secret of client %s (form %d)", file, c.ID, i))
				}
			}
		}
	}
	return leaks
}

// TestNoSecretInLogs puts the shared server through configs, reads and
// failures with a file audit device on, then searches the audit log and
// Vault's own log (where the plugin logs) for the client secrets. TestMain
// searches again after all tests.
func TestNoSecretInLogs(t *testing.T) {
	ctx := ctxFor(t)
	c := shared.root
	var written []simClient // secrets written that the simulator does not know

	for _, p := range partners {
		if _, err := c.read(ctx, mount+"/token/"+p); err != nil {
			t.Errorf("reading token/%s: %v", p, err)
		}
		if _, err := c.read(ctx, mount+"/config/"+p); err != nil {
			t.Errorf("reading config/%s: %v", p, err)
		}

		// A wrong secret: the partner refuses it, the read fails.
		wrong := simClient{ID: shared.sim.client(p).ID, Secret: "wrong-" + randomString(10)}
		written = append(written, wrong)
		if err := configure(ctx, c, mount, "wrong-"+p, p, shared.sim, map[string]any{"client_secret": wrong.Secret}); err != nil {
			t.Fatal(err)
		}
		if _, err := c.read(ctx, mount+"/token/wrong-"+p); statusOf(err) < 400 {
			t.Errorf("reading a token with a wrong secret for %s: got %v, want an error", p, err)
		} else if strings.Contains(err.Error(), wrong.Secret) {
			t.Errorf("the error of %s quotes the secret", p)
		}
		// A forced refresh fails the same way.
		if _, err := c.write(ctx, mount+"/refresh/wrong-"+p, nil); err == nil {
			t.Errorf("refresh of wrong-%s succeeded", p)
		}

		// An endpoint nobody listens on.
		gone := simClient{ID: shared.sim.client(p).ID, Secret: "gone-" + randomString(10)}
		written = append(written, gone)
		if err := configure(ctx, c, mount, "gone-"+p, p, shared.sim, map[string]any{
			"client_secret": gone.Secret,
			"token_url":     "http://127.0.0.1:9/token",
			"timeout":       1,
		}); err != nil {
			t.Fatal(err)
		}
		if _, err := c.read(ctx, mount+"/token/gone-"+p); err == nil {
			t.Errorf("reading a token from an endpoint nobody listens on succeeded for %s", p)
		}

		// Writes the engine refuses, each carrying a secret.
		typo := simClient{ID: "typo", Secret: "typo-" + randomString(10)}
		written = append(written, typo)
		for _, body := range []map[string]any{
			{"provider": p, "token_url": shared.sim.tokenURL(p), "client_id": "x", "client_secert": typo.Secret},
			{"provider": p, "token_url": "ftp://example.com/token", "client_id": "x", "client_secret": typo.Secret},
			{"provider": "nosuchpartner", "token_url": shared.sim.tokenURL(p), "client_id": "x", "client_secret": typo.Secret},
		} {
			if _, err := c.write(ctx, mount+"/config/bad-"+p, body); statusOf(err) != 400 {
				t.Errorf("a bad config write for %s: got %v, want HTTP 400", p, err)
			} else if strings.Contains(err.Error(), typo.Secret) {
				t.Errorf("the error of a bad config write for %s quotes the secret", p)
			}
		}
	}
	for _, name := range []string{"wrong-", "gone-"} {
		for _, p := range partners {
			if _, err := c.delete(ctx, mount+"/config/"+name+p); err != nil {
				t.Errorf("deleting config/%s%s: %v", name, p, err)
			}
		}
	}

	// The file audit device logs a response before Vault sends it, so the
	// file is complete here.
	all := append(shared.sim.secrets(), written...)
	if leaks := findSecrets([]string{shared.audit, shared.vault.LogPath}, all); len(leaks) > 0 {
		t.Errorf("client secrets in the logs:\n  %s", strings.Join(leaks, "\n  "))
	}
	if info, err := os.Stat(shared.audit); err != nil || info.Size() == 0 {
		t.Errorf("the audit log is empty or missing (%v): the check above proves nothing", err)
	}
}
