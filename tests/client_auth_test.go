package e2e

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"math/big"
	"net/http"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// The client authentication of issue 31 through a real server: a partner
// (its own simulator) that wants mutual TLS with a certificate from its
// private CA bound to the client, and signed assertions; the engine mints
// with each method, rotates its key without a failed read, relays the
// partner's words when a key is wrong, and publishes its public keys to a
// policy that cannot read the config.

// clientAuthID is the client at the partner: a service account's email,
// so that a Google key file and the other methods share it.
const clientAuthID = "broker@partnertoken-e2e.iam.gserviceaccount.com"

// clientAuthSecret is long enough to sign HS256 (client_secret_jwt).
const clientAuthSecret = "client-secret-jwt-of-at-least-32-bytes"

// jwkSet is a JWK Set as the partner registers it.
type jwkSet struct {
	Keys []map[string]any `json:"keys"`
}

// clientAuthPartner is the simulator with the client registered, and the
// TLS material every config presents.
type clientAuthPartner struct {
	sim      *simulator
	cert     string
	certKey  string
	saKey    map[string]any
	saFile   string
	saKeyPEM string
}

func newClientAuthPartner(t *testing.T, lifetimes map[string]time.Duration) *clientAuthPartner {
	t.Helper()
	sim, err := startSimulator("clientauth", lifetimes)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(sim.Close)
	p := &clientAuthPartner{sim: sim}
	var issued struct {
		Certificate string `json:"certificate"`
		PrivateKey  string `json:"private_key"`
	}
	if err := sim.admin(http.MethodPost, "certificates", map[string]string{"common_name": clientAuthID, "lifetime": "240h"}, &issued); err != nil {
		t.Fatalf("issuing the client certificate: %v", err)
	}
	p.cert, p.certKey = issued.Certificate, issued.PrivateKey

	// The service account's key, as Google would issue it.
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	der, _ := x509.MarshalPKCS8PrivateKey(key)
	p.saKeyPEM = string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}))
	file, _ := json.Marshal(map[string]string{
		"type": "service_account", "project_id": "partnertoken-e2e", "private_key_id": "sa-key-1",
		"private_key": p.saKeyPEM, "client_email": clientAuthID, "client_id": "1234567890",
		"token_uri": sim.TLSTokenURLs["oauth2"],
	})
	p.saFile = string(file)
	p.saKey = map[string]any{
		"kty": "RSA", "kid": "sa-key-1", "alg": "RS256", "use": "sig",
		"n": base64.RawURLEncoding.EncodeToString(key.N.Bytes()),
		"e": base64.RawURLEncoding.EncodeToString(big.NewInt(int64(key.E)).Bytes()),
	}
	return p
}

// register replaces the partner's client: bound to the certificate, with
// the secret and the given public keys (plus the service account's).
func (p *clientAuthPartner) register(t *testing.T, keys ...map[string]any) {
	t.Helper()
	if err := p.sim.admin(http.MethodPut, "clients/oauth2", map[string]any{
		"id": clientAuthID, "secret": clientAuthSecret,
		"jwks":                       jwkSet{Keys: append(keys, p.saKey)},
		"tls_client_auth_subject_dn": "CN=" + clientAuthID,
	}, nil); err != nil {
		t.Fatalf("registering the client at the partner: %v", err)
	}
}

// config is the config of one method at this partner, over mutual TLS.
func (p *clientAuthPartner) config(fields map[string]any) map[string]any {
	data := map[string]any{
		"provider": "oauth2", "token_url": p.sim.TLSTokenURLs["oauth2"], "client_id": clientAuthID,
		"tls_client_certificate": p.cert, "tls_client_key": p.certKey, "ca_certificates": p.sim.CACertificate,
	}
	for k, v := range fields {
		data[k] = v
	}
	return data
}

// publicKeys reads config/<name>/jwks with c.
func publicKeys(ctx context.Context, t *testing.T, c *vaultClient, name string) []map[string]any {
	t.Helper()
	resp, err := c.read(ctx, mount+"/config/"+name+"/jwks")
	if err != nil {
		t.Fatalf("reading config/%s/jwks: %v", name, err)
	}
	raw, _ := json.Marshal(resp.Data["jwks"])
	var set jwkSet
	if err := json.Unmarshal(raw, &set); err != nil {
		t.Fatalf("config/%s/jwks is not a JWK Set: %v", name, err)
	}
	return set.Keys
}

func TestClientAuthEachMethodMints(t *testing.T) {
	ctx := ctxFor(t)
	p := newClientAuthPartner(t, nil)
	configs := map[string]map[string]any{
		"ca-private-key-jwt":   p.config(map[string]any{"auth_method": "private_key_jwt", "generate_private_key": true, "signing_algorithm": "ES256"}),
		"ca-client-secret-jwt": p.config(map[string]any{"auth_method": "client_secret_jwt", "client_secret": clientAuthSecret}),
		"ca-tls-client-auth":   p.config(map[string]any{"auth_method": "tls_client_auth"}),
		"ca-jwt-bearer": p.config(map[string]any{"service_account_json": p.saFile, "client_id": nil, "token_url": nil,
			"assertion_subject": "user@partnertoken-e2e.example", "assertion_claims": map[string]string{"scope": "https://www.googleapis.com/auth/cloud-platform"}}),
	}
	for name, data := range configs {
		for k, v := range data {
			if v == nil {
				delete(data, k)
			}
		}
		if _, err := shared.root.write(ctx, mount+"/config/"+name, data); err != nil {
			t.Fatalf("writing config/%s: %v", name, err)
		}
		t.Cleanup(func() { _, _ = shared.root.delete(context.Background(), mount+"/config/"+name) })
	}
	p.register(t, publicKeys(ctx, t, shared.root, "ca-private-key-jwt")...)

	for name := range configs {
		l, err := readToken(ctx, shared.root, mount, name)
		if err != nil {
			t.Errorf("token/%s: %v", name, err)
			continue
		}
		if !p.sim.active(t, "oauth2", l.AccessToken) {
			t.Errorf("token/%s: the partner does not know the token", name)
		}
	}
	status, err := shared.root.read(ctx, mount+"/status/ca-tls-client-auth")
	if err != nil {
		t.Fatal(err)
	}
	if status.Data["tls_client_certificate_subject"] != "CN="+clientAuthID {
		t.Errorf("status: tls_client_certificate_subject = %v", status.Data["tls_client_certificate_subject"])
	}
	if w, _ := status.Data["tls_client_certificate_warning"].(string); !strings.Contains(w, "renew it at the partner") {
		t.Errorf("status of a certificate 10 days from expiry: warning %q", w)
	}
	// No private key the test wrote is in the audit log or the server's log.
	for _, file := range []string{shared.audit, shared.vault.LogPath} {
		data, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		for what, key := range map[string]string{"the service account's key": p.saKeyPEM, "the TLS client key": p.certKey} {
			for _, line := range strings.Split(key, "\n")[1:3] {
				if bytes.Contains(data, []byte(line)) {
					t.Errorf("%s: %s is in it", file, what)
				}
			}
		}
	}
}

// TestClientAuthKeyRotationWithoutAFailedRead reads a token in a loop while
// the config gains a next key, the partner registers it and drops the old
// one, and the engine refreshes the token ahead on its own: the refused
// current key is followed by the next one, which is promoted, and no read
// fails. Tokens live 10 s, so the refresh comes within seconds.
func TestClientAuthKeyRotationWithoutAFailedRead(t *testing.T) {
	ctx := ctxFor(t)
	p := newClientAuthPartner(t, map[string]time.Duration{"oauth2": 10 * time.Second})
	const name = "ca-rotation"
	if _, err := shared.root.write(ctx, mount+"/config/"+name, p.config(map[string]any{
		"auth_method": "private_key_jwt", "generate_private_key": true, "private_key_id": "key-1",
	})); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _, _ = shared.root.delete(context.Background(), mount+"/config/"+name) })
	p.register(t, publicKeys(ctx, t, shared.root, name)...)
	if _, err := readToken(ctx, shared.root, mount, name); err != nil {
		t.Fatal(err)
	}

	var failed atomic.Value
	stop := make(chan struct{})
	var readers sync.WaitGroup
	readers.Go(func() {
		for {
			select {
			case <-stop:
				return
			default:
			}
			if _, err := readToken(ctx, shared.root, mount, name); err != nil {
				failed.Store(err)
			}
			time.Sleep(20 * time.Millisecond)
		}
	})

	if _, err := shared.root.write(ctx, mount+"/config/"+name, map[string]any{"generate_next_private_key": true, "next_private_key_id": "key-2"}); err != nil {
		t.Fatal(err)
	}
	both := publicKeys(ctx, t, shared.root, name)
	if len(both) != 2 || both[0]["kid"] != "key-1" || both[1]["kid"] != "key-2" {
		t.Fatalf("jwks during the rotation = %v", both)
	}
	p.register(t, both...)
	time.Sleep(200 * time.Millisecond) // reads with both keys registered
	p.register(t, both[1])             // the partner retires the old key

	// The next refresh ahead (at 80% of the token's 10 s) rotates.
	var resp *vaultResponse
	deadline := time.Now().Add(30 * time.Second)
	for {
		var err error
		if resp, err = shared.root.read(ctx, mount+"/config/"+name); err != nil {
			t.Fatal(err)
		}
		if resp.Data["private_key_id"] == "key-2" || time.Now().After(deadline) {
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	close(stop)
	readers.Wait()
	if err, _ := failed.Load().(error); err != nil {
		t.Errorf("a read failed during the rotation: %v", err)
	}
	if resp.Data["private_key_id"] != "key-2" || resp.Data["next_private_key_set"] != false {
		t.Errorf("after the rotation: private_key_id %v, next_private_key_set %v", resp.Data["private_key_id"], resp.Data["next_private_key_set"])
	}
	if keys := publicKeys(ctx, t, shared.root, name); len(keys) != 1 || keys[0]["kid"] != "key-2" {
		t.Errorf("jwks after the rotation = %v, want the promoted key alone", keys)
	}
}

// TestClientAuthWrongKeyRefusedWithThePartnersWords: a key the partner
// does not know fails the read with the partner's explanation.
func TestClientAuthWrongKeyRefusedWithThePartnersWords(t *testing.T) {
	ctx := ctxFor(t)
	p := newClientAuthPartner(t, nil)
	p.register(t)
	const name = "ca-wrong-key"
	if _, err := shared.root.write(ctx, mount+"/config/"+name, p.config(map[string]any{
		"auth_method": "private_key_jwt", "generate_private_key": true, "signing_algorithm": "EdDSA", "private_key_id": "unregistered",
	})); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _, _ = shared.root.delete(context.Background(), mount+"/config/"+name) })
	_, err := readToken(ctx, shared.root, mount, name)
	if err == nil || !strings.Contains(err.Error(), "HTTP 401") || !strings.Contains(err.Error(), "no key registered for the client has kid") || !strings.Contains(err.Error(), "unregistered") {
		t.Errorf("reading with an unregistered key: %v, want the partner's 401 and its words", err)
	}
}
