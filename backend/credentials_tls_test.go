package backend

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/vault/sdk/logical"

	"github.com/partnertoken/vault-plugin-secrets-partnertoken/internal/partnersim"
)

// tlsConfigData is an oauth2 config against the simulator's TLS listener,
// trusting its CA, with a client certificate for the test client.
func tlsConfigData(t *testing.T, sim *authSim, lifetime time.Duration) map[string]any {
	cert, key, err := sim.sim.IssueClientCertificate(testClientID, lifetime)
	if err != nil {
		t.Fatal(err)
	}
	return map[string]any{
		"provider": "oauth2", "token_url": sim.sim.TLSTokenURL(partnersim.OAuth2), "client_id": testClientID,
		"auth_method": "tls_client_auth", "tls_client_certificate": cert, "tls_client_key": key,
		"ca_certificates": sim.sim.CACertificate(),
	}
}

func TestTLSClientAuthAndAPrivateCA(t *testing.T) {
	env := newTestEnv(t)
	sim := newAuthSim(t, env)
	sim.accept(partnersim.Client{CertificateSubject: "CN=" + testClientID})
	data := tlsConfigData(t, sim, 10*24*time.Hour)
	env.mustOK(logical.CreateOperation, "config/p", data)
	env.readToken("p")
	if got := sim.presented(); !slices.Equal(got, []string{"tls_client_auth/"}) {
		t.Errorf("the partner saw %v", got)
	}

	status := env.mustOK(logical.ReadOperation, "status/p", nil).Data
	wantExpiry := env.clock.Now().Add(10 * 24 * time.Hour).UTC().Format(time.RFC3339)
	if status["tls_client_certificate_subject"] != "CN="+testClientID || status["tls_client_certificate_expires_at"] != wantExpiry {
		t.Errorf("status = %v", status)
	}
	if w, _ := status["tls_client_certificate_warning"].(string); !strings.Contains(w, "expires on "+wantExpiry) {
		t.Errorf("a certificate 10 days from expiry: warning %q", w)
	}
	if !strings.Contains(env.logs.String(), "TLS client certificate expires soon") {
		t.Error("the expiring certificate is not in the log")
	}
	read := env.mustOK(logical.ReadOperation, "config/p", nil).Data
	if read["tls_client_key_set"] != true || strings.Contains(read["tls_client_certificate"].(string), "PRIVATE KEY") {
		t.Errorf("config read: tls_client_key_set %v", read["tls_client_key_set"])
	}

	// Without ca_certificates the system's roots do not know the partner:
	// refused at once, saying what to set, not retried until the timeout.
	env.mustOK(logical.UpdateOperation, "config/p", map[string]any{"ca_certificates": ""})
	resp, err := env.request(logical.ReadOperation, "token/p", nil)
	if err == nil && !resp.IsError() || err != nil && !strings.Contains(err.Error(), "is not trusted") ||
		err != nil && !strings.Contains(err.Error(), "ca_certificates") || err != nil && strings.Contains(err.Error(), "attempts") {
		t.Errorf("without ca_certificates: %v %v", resp, err)
	}
}

// TestEveryProviderPresentsTheClientCertificate: mutual TLS is not only
// for oauth2's tls_client_auth: a DUPR client bound to a certificate mints
// with its key and the certificate.
func TestEveryProviderPresentsTheClientCertificate(t *testing.T) {
	env := newTestEnv(t)
	sim := newAuthSim(t, env)
	dupr := partnersim.DefaultClients()[partnersim.DUPR]
	dupr.CertificateSubject = "CN=dupr-partner"
	if err := sim.sim.SetClient(partnersim.DUPR, dupr); err != nil {
		t.Fatal(err)
	}
	cert, key, err := sim.sim.IssueClientCertificate("dupr-partner", 90*24*time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	data := simConfig(sim.sim, partnersim.DUPR, "")
	data["token_url"] = sim.sim.TLSTokenURL(partnersim.DUPR)
	data["ca_certificates"] = sim.sim.CACertificate()
	env.mustOK(logical.CreateOperation, "config/d", data)
	if resp, err := env.request(logical.ReadOperation, "token/d", nil); err == nil && !resp.IsError() {
		t.Fatal("DUPR minted without the client certificate it is bound to")
	}
	env.mustOK(logical.UpdateOperation, "config/d", map[string]any{"tls_client_certificate": cert, "tls_client_key": key})
	env.readToken("d")
	if _, ok := env.mustOK(logical.ReadOperation, "status/d", nil).Data["tls_client_certificate_warning"]; ok {
		t.Error("a certificate 90 days from expiry is warned about")
	}
}
