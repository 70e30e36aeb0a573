package e2e

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"
)

// lease is a token read as a client sees it.
type lease struct {
	ID          string
	Renewable   bool
	Duration    time.Duration
	AccessToken string
	TokenType   string
	ExpiresAt   time.Time
	// ReceivedAt is when the answer arrived; the lease ends at the latest
	// Duration after it.
	ReceivedAt time.Time
}

func (l *lease) End() time.Time { return l.ReceivedAt.Add(l.Duration) }

// readToken reads token/<name> of the mount at path with c.
func readToken(ctx context.Context, c *vaultClient, path, name string) (*lease, error) {
	resp, err := c.read(ctx, path+"/token/"+name)
	if err != nil {
		return nil, err
	}
	l := &lease{
		ID:         resp.LeaseID,
		Renewable:  resp.Renewable,
		Duration:   time.Duration(resp.LeaseDuration) * time.Second,
		ReceivedAt: time.Now(),
	}
	l.AccessToken, _ = resp.Data["access_token"].(string)
	l.TokenType, _ = resp.Data["token_type"].(string)
	expires, _ := resp.Data["expires_at"].(string)
	l.ExpiresAt, err = time.Parse(time.RFC3339, expires)
	if err != nil {
		return l, err
	}
	return l, nil
}

// checkLease asserts what every token read must satisfy.
func checkLease(t *testing.T, sim *simulator, partner, path, name string, l *lease) {
	t.Helper()
	if l.AccessToken == "" {
		t.Fatalf("token/%s has no access_token", name)
	}
	if l.TokenType != "Bearer" {
		t.Errorf("token_type = %q, want Bearer", l.TokenType)
	}
	if want := path + "/token/" + name + "/"; !strings.HasPrefix(l.ID, want) {
		t.Errorf("lease_id = %q, want a lease under %s", l.ID, want)
	}
	if !l.Renewable {
		t.Errorf("the lease is not renewable; by default it is (lease_renewable), so Vault Proxy can cache it")
	}
	if l.Duration <= 0 {
		t.Errorf("lease_duration = %s, want a positive lease", l.Duration)
	}
	// expires_at is in whole seconds, rounded down, and the lease is
	// measured from when the answer arrived: both make this check stricter.
	if l.End().After(l.ExpiresAt) {
		t.Errorf("the lease (%s, ends %s) outlives the token (expires_at %s)",
			l.Duration, l.End().UTC().Format(time.RFC3339), l.ExpiresAt.UTC().Format(time.RFC3339))
	}
	if !sim.active(t, partner, l.AccessToken) {
		t.Errorf("the partner does not accept the token Vault handed out")
	}
}

// TestEveryPartner reads each simulated partner's token through Vault:
// a renewable lease that ends before the token does, for a token the
// partner accepts, minted once and then served from the cache.
func TestEveryPartner(t *testing.T) {
	for _, p := range partners {
		t.Run(p, func(t *testing.T) {
			ctx := ctxFor(t)
			before := shared.sim.mints(t, p)
			first, err := readToken(ctx, shared.root, mount, p)
			if err != nil {
				t.Fatalf("reading token/%s: %v", p, err)
			}
			checkLease(t, shared.sim, p, mount, p, first)
			if minted := shared.sim.mints(t, p) - before; minted > 1 {
				t.Errorf("one read minted %d tokens", minted)
			}

			afterFirst := shared.sim.mints(t, p)
			second, err := readToken(ctx, shared.root, mount, p)
			if err != nil {
				t.Fatalf("reading token/%s again: %v", p, err)
			}
			checkLease(t, shared.sim, p, mount, p, second)
			if second.AccessToken != first.AccessToken {
				t.Errorf("the second read returned another token: it did not come from the cache")
			}
			if n := shared.sim.mints(t, p); n != afterFirst {
				t.Errorf("the second read minted %d more tokens, want none", n-afterFirst)
			}
			if second.ID == first.ID {
				t.Errorf("both reads share lease %s; each reader gets its own lease", first.ID)
			}
		})
	}
}

// TestPoderoSecretWithFormCharacters configures, through Vault, a Podero
// client whose secret holds + / % : (which Podero's django-oauth-toolkit
// endpoint decodes after form-encoding, RFC 6749 §2.3.1), reads its token,
// and checks the partner accepts it and the secret is in no log.
func TestPoderoSecretWithFormCharacters(t *testing.T) {
	ctx := ctxFor(t)
	sim, err := startSimulator("podero-secret", nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(sim.Close)
	client := simClient{ID: "podero-client", Secret: "s3+cr/et%20:with-colon"}
	if err := sim.admin(http.MethodPut, "clients/podero", client, nil); err != nil {
		t.Fatalf("setting the simulated Podero client: %v", err)
	}
	if _, err := shared.root.write(ctx, mount+"/config/podero-plus", map[string]any{
		"provider":      "podero",
		"token_url":     sim.tokenURL("podero"),
		"client_id":     client.ID,
		"client_secret": client.Secret,
	}); err != nil {
		t.Fatalf("configuring podero-plus: %v", err)
	}
	t.Cleanup(func() { _, _ = shared.root.delete(context.Background(), mount+"/config/podero-plus") })

	l, err := readToken(ctx, shared.root, mount, "podero-plus")
	if err != nil {
		t.Fatalf("reading token/podero-plus: %v", err)
	}
	checkLease(t, sim, "podero", mount, "podero-plus", l)
	if leaks := findSecrets([]string{shared.audit, shared.vault.LogPath}, []simClient{client}); len(leaks) > 0 {
		t.Errorf("the secret is in the logs:\n  %s", strings.Join(leaks, "\n  "))
	}
}

// TestSetuWriteWarnsThroughVault checks that Setu's deprecation notice
// reaches the writer as a Vault warning, and that providers shows it and
// Dinie's /api/v3 token URLs.
func TestSetuWriteWarnsThroughVault(t *testing.T) {
	ctx := ctxFor(t)
	resp, err := shared.root.write(ctx, mount+"/config/setu", map[string]any{"timeout": "10s"})
	if err != nil {
		t.Fatalf("updating config/setu: %v", err)
	}
	const docs = "https://docs.setu.co/investments/deposits/sdk-integration/generate-partner-token"
	if len(resp.Warnings) != 1 || !strings.Contains(resp.Warnings[0], "deprecated") || !strings.Contains(resp.Warnings[0], docs) {
		t.Errorf("warnings = %q, want Setu's deprecation notice with its page", resp.Warnings)
	}

	providers, err := shared.root.read(ctx, mount+"/providers")
	if err != nil {
		t.Fatalf("reading providers: %v", err)
	}
	all, _ := providers.Data["providers"].(map[string]any)
	setu, _ := all["setu"].(map[string]any)
	if notice, _ := setu["deprecated"].(string); !strings.Contains(notice, docs) {
		t.Errorf("providers: setu deprecated = %q", notice)
	}
	dinie, _ := all["dinie"].(map[string]any)
	envs, _ := dinie["environments"].(map[string]any)
	for name, want := range map[string]string{
		"sandbox":    "https://sandbox.api.dinie.com.br/api/v3/auth/token",
		"production": "https://api.dinie.com.br/api/v3/auth/token",
	} {
		e, _ := envs[name].(map[string]any)
		if e["token_url"] != want {
			t.Errorf("providers: dinie %s token_url = %v, want %s", name, e["token_url"], want)
		}
	}
}
