package egress

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"io"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

var testNow = time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)

// testCert is a certificate with its key, for building chains.
type testCert struct {
	cert *x509.Certificate
	key  crypto.Signer
}

func (c testCert) pem() string {
	return string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.cert.Raw}))
}

func (c testCert) keyPEM(t *testing.T) string {
	der, err := x509.MarshalPKCS8PrivateKey(c.key)
	if err != nil {
		t.Fatal(err)
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}))
}

// issue makes a certificate for cn signed by parent (self-signed when nil).
func issue(t *testing.T, cn string, parent *testCert, edit func(*x509.Certificate)) testCert {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()),
		Subject:      pkix.Name{CommonName: cn, Organization: []string{"Partner Test"}},
		NotBefore:    testNow.Add(-time.Hour),
		NotAfter:     testNow.Add(90 * 24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}
	if parent == nil {
		tmpl.IsCA, tmpl.BasicConstraintsValid = true, true
		tmpl.KeyUsage |= x509.KeyUsageCertSign
		tmpl.ExtKeyUsage = nil
	}
	if edit != nil {
		edit(tmpl)
	}
	signer, issuer := crypto.Signer(key), tmpl
	if parent != nil {
		signer, issuer = parent.key, parent.cert
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, issuer, key.Public(), signer)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return testCert{cert: cert, key: key}
}

func TestParseClientCertificateAcceptsAChainAndItsKey(t *testing.T) {
	root := issue(t, "Partner Root", nil, nil)
	intermediate := issue(t, "Partner Clients", &root, func(c *x509.Certificate) {
		c.IsCA, c.BasicConstraintsValid, c.KeyUsage, c.ExtKeyUsage = true, true, x509.KeyUsageCertSign, nil
	})
	leaf := issue(t, "client-7", &intermediate, nil)
	cert, err := ParseClientCertificate(leaf.pem()+intermediate.pem(), leaf.keyPEM(t), testNow)
	if err != nil {
		t.Fatal(err)
	}
	if got := cert.Subject(); got != "CN=client-7,O=Partner Test" {
		t.Errorf("subject = %q", got)
	}
	if !cert.NotAfter().Equal(leaf.cert.NotAfter) || len(cert.TLS.Certificate) != 2 {
		t.Errorf("not after %s, chain of %d", cert.NotAfter(), len(cert.TLS.Certificate))
	}
}

func TestParseClientCertificateRefusesWithTheFieldAtFault(t *testing.T) {
	root := issue(t, "Partner Root", nil, nil)
	leaf := issue(t, "client-7", &root, nil)
	other := issue(t, "someone-else", &root, nil)
	serverOnly := issue(t, "server", &root, func(c *x509.Certificate) { c.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth} })
	expired := issue(t, "old", &root, func(c *x509.Certificate) { c.NotAfter = testNow.Add(-time.Minute) })
	future := issue(t, "new", &root, func(c *x509.Certificate) { c.NotBefore = testNow.Add(time.Hour) })
	weak, err := rsa.GenerateKey(rand.Reader, 1024)
	if err != nil {
		t.Fatal(err)
	}
	weakPEM := testCert{key: weak}.keyPEM(t)
	for _, tc := range []struct {
		name, chain, key, want string
	}{
		{"a certificate that is not PEM", "hello", leaf.keyPEM(t), "tls_client_certificate is not PEM"},
		{"a key in the certificate field", leaf.keyPEM(t), leaf.keyPEM(t), `tls_client_certificate holds a PEM "PRIVATE KEY" block`},
		{"garbage after the chain", leaf.pem() + "trailing words", leaf.keyPEM(t), "has text after its 1 certificate(s)"},
		{"a chain out of order", root.pem() + leaf.pem(), leaf.keyPEM(t), "certificate 1 (CN=Partner Root,O=Partner Test) is not issued by the next one"},
		{"an expired certificate", expired.pem(), expired.keyPEM(t), "tls_client_certificate (CN=old,O=Partner Test) expired on"},
		{"a certificate not yet valid", future.pem(), future.keyPEM(t), "is not valid until"},
		{"a server-only certificate", serverOnly.pem(), serverOnly.keyPEM(t), "lacks clientAuth"},
		{"another certificate's key", leaf.pem(), other.keyPEM(t), "tls_client_key does not match tls_client_certificate (CN=client-7,O=Partner Test)"},
		{"a key that is not PEM", leaf.pem(), "secret", "tls_client_key is not a PEM-encoded private key"},
		{"a certificate in the key field", leaf.pem(), leaf.pem(), `tls_client_key is a PEM "CERTIFICATE" block`},
		{"an encrypted key", leaf.pem(), strings.ReplaceAll(leaf.keyPEM(t), "PRIVATE KEY", "ENCRYPTED PRIVATE KEY"), "tls_client_key is encrypted"},
		{"a weak RSA key", leaf.pem(), weakPEM, "tls_client_key is an RSA key of 1024 bits; 2048 to 8192 are supported"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParseClientCertificate(tc.chain, tc.key, testNow)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error = %v, want %q", err, tc.want)
			}
			if strings.Contains(err.Error(), "MI") {
				t.Errorf("the error quotes PEM content: %v", err)
			}
		})
	}
}

func TestParseCACertificates(t *testing.T) {
	root := issue(t, "Partner Root", nil, nil)
	second := issue(t, "Partner Root 2", nil, nil)
	old := issue(t, "Old Root", nil, func(c *x509.Certificate) { c.NotAfter = testNow.Add(-time.Hour) })
	pool, err := ParseCACertificates(root.pem()+"\n"+second.pem(), testNow)
	if err != nil {
		t.Fatal(err)
	}
	leaf := issue(t, "token.partner.test", &second, func(c *x509.Certificate) {
		c.ExtKeyUsage, c.DNSNames = []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}, []string{"token.partner.test"}
	})
	if _, err := leaf.cert.Verify(x509.VerifyOptions{Roots: pool, DNSName: "token.partner.test", CurrentTime: testNow}); err != nil {
		t.Errorf("a server certificate from the second CA does not verify: %v", err)
	}
	for _, tc := range []struct{ name, bundle, want string }{
		{"an empty bundle", "  \n", "ca_certificates is empty"},
		{"text that is not PEM", "-----BEGIN", "ca_certificates is not PEM"},
		{"an expired CA", root.pem() + old.pem(), "certificate 2 (CN=Old Root,O=Partner Test) expired on"},
	} {
		if _, err := ParseCACertificates(tc.bundle, testNow); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: error = %v, want %q", tc.name, err, tc.want)
		}
	}
}

// TestTLSConfigPresentsTheCertificateAndTrustsOnlyTheBundle shakes hands
// with servers: one that requires a client certificate from the partner's
// CA, and one whose certificate chains to a CA the config does not list.
func TestTLSConfigPresentsTheCertificateAndTrustsOnlyTheBundle(t *testing.T) {
	now := time.Now()
	partnerCA := issue(t, "Partner CA", nil, func(c *x509.Certificate) { c.NotBefore, c.NotAfter = now.Add(-time.Hour), now.Add(time.Hour) })
	serverCert := func(ca *testCert) tls.Certificate {
		leaf := issue(t, "127.0.0.1", ca, func(c *x509.Certificate) {
			c.NotBefore, c.NotAfter = now.Add(-time.Hour), now.Add(time.Hour)
			c.ExtKeyUsage, c.IPAddresses = []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}, []net.IP{net.IPv4(127, 0, 0, 1)}
		})
		return tls.Certificate{Certificate: [][]byte{leaf.cert.Raw}, PrivateKey: leaf.key}
	}
	clientLeaf := issue(t, "client-7", &partnerCA, func(c *x509.Certificate) { c.NotBefore, c.NotAfter = now.Add(-time.Hour), now.Add(time.Hour) })
	client, err := ParseClientCertificate(clientLeaf.pem(), clientLeaf.keyPEM(t), now)
	if err != nil {
		t.Fatal(err)
	}
	roots, err := ParseCACertificates(partnerCA.pem(), now)
	if err != nil {
		t.Fatal(err)
	}
	clientCAs := x509.NewCertPool()
	clientCAs.AddCert(partnerCA.cert)

	serve := func(cert tls.Certificate) string {
		srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			_, _ = io.WriteString(w, r.TLS.PeerCertificates[0].Subject.CommonName)
		}))
		srv.TLS = &tls.Config{Certificates: []tls.Certificate{cert}, ClientAuth: tls.RequireAndVerifyClientCert, ClientCAs: clientCAs}
		srv.StartTLS()
		t.Cleanup(srv.Close)
		return srv.URL
	}
	get := func(url string, cfg *tls.Config) (string, error) {
		c := &http.Client{Transport: &http.Transport{TLSClientConfig: cfg}}
		defer c.CloseIdleConnections()
		resp, err := c.Get(url)
		if err != nil {
			return "", err
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		return string(b), err
	}

	partner := serve(serverCert(&partnerCA))
	if got, err := get(partner, TLSConfig(client, roots)); err != nil || got != "client-7" {
		t.Errorf("the partner saw %q (%v), want the client certificate client-7", got, err)
	}
	if _, err := get(partner, TLSConfig(nil, roots)); err == nil {
		t.Error("the partner accepted a connection without a client certificate")
	}
	otherCA := issue(t, "Someone Else's CA", nil, func(c *x509.Certificate) { c.NotBefore, c.NotAfter = now.Add(-time.Hour), now.Add(time.Hour) })
	impostor := serve(serverCert(&otherCA))
	if _, err := get(impostor, TLSConfig(client, roots)); err == nil || !strings.Contains(err.Error(), "certificate signed by unknown authority") {
		t.Errorf("a server outside ca_certificates: %v, want an unknown authority", err)
	}
}
