package partnersim

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"
)

// tlsClient trusts the simulator's CA and presents the given client
// certificate (none when certPEM is empty).
func tlsClient(t *testing.T, s *Server, certPEM, keyPEM string) *http.Client {
	t.Helper()
	roots := x509.NewCertPool()
	if !roots.AppendCertsFromPEM([]byte(s.CACertificate())) {
		t.Fatal("the CA certificate does not parse")
	}
	cfg := &tls.Config{RootCAs: roots}
	if certPEM != "" {
		cert, err := tls.X509KeyPair([]byte(certPEM), []byte(keyPEM))
		if err != nil {
			t.Fatal(err)
		}
		cfg.Certificates = []tls.Certificate{cert}
	}
	c := &http.Client{Transport: &http.Transport{TLSClientConfig: cfg}}
	t.Cleanup(c.CloseIdleConnections)
	return c
}

func postWith(t *testing.T, c *http.Client, target string, header map[string]string, body string) result {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, target, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return result{resp.StatusCode, resp.Header, b}
}

// TestTLSClientAuthBindsTheCertificateToTheClient: over the TLS listener
// an oauth2 client bound to a certificate subject authenticates with the
// certificate and client_id alone (RFC 8705 §2); without the certificate,
// with another subject's or over plain HTTP it is refused.
func TestTLSClientAuthBindsTheCertificateToTheClient(t *testing.T) {
	s, _ := start(t, Options{TLSAddr: "127.0.0.1:0"})
	if !strings.HasPrefix(s.TLSTokenURL(OAuth2), "https://127.0.0.1:") {
		t.Fatalf("TLSTokenURL = %q", s.TLSTokenURL(OAuth2))
	}
	c := demo(OAuth2)
	c.CertificateSubject = "CN=" + c.ID
	if err := s.SetClient(OAuth2, c); err != nil {
		t.Fatal(err)
	}
	cert, key, err := s.IssueClientCertificate(c.ID, 24*time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	otherCert, otherKey, err := s.IssueClientCertificate("someone-else", 24*time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	body := url.Values{"grant_type": {"client_credentials"}, "client_id": {c.ID}}.Encode()

	postWith(t, tlsClient(t, s, cert, key), s.TLSTokenURL(OAuth2), formHeader, body).expect(t, http.StatusOK, map[string]any{"token_type": "Bearer"})
	if got := s.Presented(OAuth2); len(got) != 1 || got[0].Method != "tls_client_auth" || got[0].ClientID != c.ID {
		t.Errorf("presented = %+v", got)
	}
	// The binding holds for every method: a secret alone is not enough.
	postWith(t, tlsClient(t, s, "", ""), s.TLSTokenURL(OAuth2), map[string]string{"Content-Type": formType, "Authorization": basic(c.ID, c.Secret)}, "grant_type=client_credentials").
		expect(t, http.StatusUnauthorized, map[string]any{"error": "invalid_client"})
	for name, res := range map[string]result{
		"no certificate":          postWith(t, tlsClient(t, s, "", ""), s.TLSTokenURL(OAuth2), formHeader, body),
		"another subject":         postWith(t, tlsClient(t, s, otherCert, otherKey), s.TLSTokenURL(OAuth2), formHeader, body),
		"the plain HTTP listener": post(t, s.TokenURL(OAuth2), formHeader, body),
	} {
		m := res.expect(t, http.StatusUnauthorized, map[string]any{"error": "invalid_client"})
		if d, _ := m["error_description"].(string); !strings.Contains(d, "RFC 8705") {
			t.Errorf("%s: error_description = %q", name, d)
		}
	}
	// A client that is not bound to a certificate cannot use it.
	c.CertificateSubject = ""
	if err := s.SetClient(OAuth2, c); err != nil {
		t.Fatal(err)
	}
	postWith(t, tlsClient(t, s, cert, key), s.TLSTokenURL(OAuth2), formHeader, body).
		expect(t, http.StatusUnauthorized, map[string]any{"error": "invalid_client"})
}

// TestEveryPartnerServesTLSWithThePrivateCA: a client that trusts only the
// system's roots cannot connect; one that trusts the test CA reaches DUPR,
// whose certificate-bound client must present its certificate besides its
// key.
func TestEveryPartnerServesTLSWithThePrivateCA(t *testing.T) {
	s, _ := start(t, Options{TLSAddr: "127.0.0.1:0"})
	if _, err := http.Post(s.TLSTokenURL(DUPR), "application/json", strings.NewReader("{}")); err == nil || !strings.Contains(err.Error(), "certificate") {
		t.Errorf("a client with the system's roots connected: %v", err)
	}
	c := demo(DUPR)
	c.CertificateSubject = "CN=dupr-partner"
	if err := s.SetClient(DUPR, c); err != nil {
		t.Fatal(err)
	}
	cert, key, err := s.IssueClientCertificate("dupr-partner", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	header := map[string]string{"Content-Type": "application/json", "x-authorization": base64.StdEncoding.EncodeToString([]byte(c.ID + ":" + c.Secret))}
	postWith(t, tlsClient(t, s, cert, key), s.TLSTokenURL(DUPR), header, "{}").expect(t, http.StatusOK, map[string]any{"status": "SUCCESS"})
	postWith(t, tlsClient(t, s, "", ""), s.TLSTokenURL(DUPR), header, "{}").expect(t, http.StatusUnauthorized, map[string]any{"status": "FAILURE"})
}

// TestTLSTokenURLs: every partner is on the TLS listener, at the path of
// its plain HTTP one.
func TestTLSTokenURLs(t *testing.T) {
	s, _ := start(t, Options{TLSAddr: "127.0.0.1:0"})
	for _, p := range Partners() {
		plain, tls := s.TokenURL(p), s.TLSTokenURL(p)
		if tls == "" || strings.TrimPrefix(tls, s.TLSURL()) != strings.TrimPrefix(plain, s.URL()) {
			t.Errorf("%s: TLS token URL %q for %q", p, tls, plain)
		}
	}
	if New(Options{}).TLSTokenURL(OAuth2) != "" {
		t.Error("a simulator without TLS has a TLS token URL")
	}
}

func TestIssueClientCertificate(t *testing.T) {
	if _, _, err := New(Options{}).IssueClientCertificate("c", time.Hour); err == nil {
		t.Error("a simulator without TLS issued a certificate")
	}
	s, _ := start(t, Options{TLSAddr: "127.0.0.1:0"})
	certPEM, _, err := s.IssueClientCertificate("client-7", 10*24*time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	roots.AppendCertsFromPEM([]byte(s.CACertificate()))
	block, _ := pem.Decode([]byte(certPEM))
	leaf, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	if leaf.Subject.String() != "CN=client-7" || !leaf.NotAfter.Equal(epoch.Add(10*24*time.Hour)) {
		t.Errorf("subject %s, not after %s", leaf.Subject, leaf.NotAfter)
	}
	if _, err := leaf.Verify(x509.VerifyOptions{Roots: roots, CurrentTime: epoch, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}); err != nil {
		t.Errorf("the client certificate does not chain to the CA for client authentication: %v", err)
	}
}
