package e2e

import (
	"context"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestClientAuthenticationDocs runs the commands of the client
// authentication pages, one page per method, with the vault CLI against
// the shared server: the partner's URL, client and files become the
// simulator's, and after each the engine must do what the page says.
func TestClientAuthenticationDocs(t *testing.T) {
	ctx := ctxFor(t)
	const (
		mutualTLS       = "docs/client-auth-mutual-tls.md"
		privateKeyJWT   = "docs/client-auth-private-key-jwt.md"
		clientSecretJWT = "docs/client-auth-client-secret-jwt.md"
		tlsClientAuth   = "docs/client-auth-tls-client-auth.md"
		jwtBearer       = "docs/client-auth-jwt-bearer.md"
	)
	p := newClientAuthPartner(t, nil)
	client := p.sim.client("oauth2")
	dir := t.TempDir()
	for name, content := range map[string]string{
		"client-chain.pem": p.cert, "client-key.pem": p.certKey, "partner-ca.pem": p.sim.CACertificate,
		"service-account.json": p.saFile,
	} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	t.Cleanup(func() {
		for _, name := range []string{"bank", "gcp"} {
			_, _ = shared.root.delete(context.Background(), mount+"/config/"+name)
		}
	})
	register := func(keys ...map[string]any) {
		t.Helper()
		if err := p.sim.admin(http.MethodPut, "clients/oauth2", map[string]any{
			"id": client.ID, "secret": client.Secret, "jwks": jwkSet{Keys: append(keys, p.saKey)},
			"tls_client_auth_subject_dn": "CN=" + clientAuthID,
		}, nil); err != nil {
			t.Fatal(err)
		}
	}
	partner := map[string]string{
		"https://auth.partner.example/oauth2/token": p.sim.TLSTokenURLs["oauth2"],
		"client_id=my-client":                       "client_id=" + client.ID,
	}
	mints := func(what string) {
		t.Helper()
		if _, err := shared.root.write(ctx, mount+"/refresh/bank", nil); err != nil {
			t.Fatalf("%s: the config the page wrote does not mint: %v", what, err)
		}
	}
	register()

	// The reader types the client secret.
	typed := docShell{addr: shared.vault.Addr, token: rootToken, dir: dir, stdin: client.Secret + "\n"}
	if out := typed.run(t, ctx, "the block clientauth-mtls of "+mutualTLS, docBlock(t, mutualTLS, "run", "clientauth-mtls", partner)); strings.Contains(out, client.Secret) {
		t.Errorf("the mutual TLS page's commands printed the client secret")
	}
	mints("mutual TLS")

	runDocBlock(t, ctx, shared.vault, privateKeyJWT, "clientauth-private-key-jwt", dir, partner)
	jwks, err := os.ReadFile(filepath.Join(dir, "bank-jwks.json"))
	if err != nil {
		t.Fatal(err)
	}
	var set jwkSet
	if err := json.Unmarshal(jwks, &set); err != nil || len(set.Keys) != 1 || set.Keys[0]["crv"] != "P-256" {
		t.Fatalf("bank-jwks.json is not one P-256 key (%v): %s", err, jwks)
	}
	register(set.Keys...)
	mints("private_key_jwt")

	// The page's policy reads the JWKS and not the config.
	policy := strings.ReplaceAll(docBlock(t, privateKeyJWT, "run", "clientauth-jwks-policy", nil), "partner/", mount+"/")
	if _, err := shared.root.write(ctx, "sys/policies/acl/jwks-reader", map[string]any{"policy": policy}); err != nil {
		t.Fatal(err)
	}
	reader, err := shared.root.childToken(ctx, "jwks-reader")
	if err != nil {
		t.Fatal(err)
	}
	if keys := publicKeys(ctx, t, reader, "bank"); len(keys) != 1 {
		t.Errorf("the page's policy reads %d keys, want the one", len(keys))
	}
	if _, err := reader.read(ctx, mount+"/config/bank"); statusOf(err) != http.StatusForbidden {
		t.Errorf("the page's policy may read the config: %v, want HTTP 403", err)
	}

	runDocBlock(t, ctx, shared.vault, privateKeyJWT, "clientauth-rotation", dir, nil)
	jwks, _ = os.ReadFile(filepath.Join(dir, "bank-jwks.json"))
	if err := json.Unmarshal(jwks, &set); err != nil || len(set.Keys) != 2 {
		t.Fatalf("during the rotation bank-jwks.json holds %d keys (%v), want 2", len(set.Keys), err)
	}

	if out := typed.run(t, ctx, "the block clientauth-secret-jwt of "+clientSecretJWT, docBlock(t, clientSecretJWT, "run", "clientauth-secret-jwt", partner)); strings.Contains(out, client.Secret) {
		t.Errorf("the client_secret_jwt page's commands printed the client secret")
	}
	mints("client_secret_jwt")

	out := runDocBlock(t, ctx, shared.vault, tlsClientAuth, "clientauth-tls-client-auth", dir, partner)
	if !strings.Contains(out, "CN="+clientAuthID) {
		t.Errorf("the page's status read printed %q, want the certificate's subject", out)
	}
	mints("tls_client_auth")

	runDocBlock(t, ctx, shared.vault, jwtBearer, "clientauth-jwt-bearer", dir, nil)
	resp, err := shared.root.read(ctx, mount+"/config/gcp")
	if err != nil {
		t.Fatal(err)
	}
	if resp.Data["client_id"] != clientAuthID || resp.Data["grant_type"] != "jwt_bearer" || resp.Data["token_url"] != p.sim.TLSTokenURLs["oauth2"] {
		t.Errorf("config/gcp as the page wrote it: client_id %v, grant_type %v, token_url %v", resp.Data["client_id"], resp.Data["grant_type"], resp.Data["token_url"])
	}
}
