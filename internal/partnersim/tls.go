package partnersim

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"time"
)

// The simulator's TLS side: a private test CA, made at Start, that signs
// the TLS listener's certificate (for 127.0.0.1 and localhost) and the
// client certificates tests ask for. A client that trusts the system's
// roots cannot connect; one that trusts the CA (ca_certificates) can,
// which is what a partner with a private CA looks like. The listener asks
// for a client certificate and verifies one chained to the CA; which
// client it belongs to is decided per request (RFC 8705 §2.1.2).

// testCA is the simulator's certificate authority.
type testCA struct {
	cert *x509.Certificate
	key  crypto.Signer
	pool *x509.CertPool
}

// caLifetime is how long the CA and the listener's certificate live: a
// dev simulator runs for days, never for a year.
const caLifetime = 365 * 24 * time.Hour

// validity spans the simulator's clock and the real one, with room: the
// client checking the listener's certificate goes by its own clock.
func validity(simNow time.Time) (notBefore, notAfter time.Time) {
	early, late := simNow, time.Now()
	if late.Before(early) {
		early, late = late, early
	}
	return early.Add(-time.Hour), late.Add(caLifetime)
}

func newTestCA(now time.Time) (*testCA, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial(),
		Subject:               pkix.Name{CommonName: "partnersim test CA", Organization: []string{"partnersim"}},
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
	}
	tmpl.NotBefore, tmpl.NotAfter = validity(now)
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		return nil, err
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, err
	}
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	return &testCA{cert: cert, key: key, pool: pool}, nil
}

func serial() *big.Int {
	n, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		panic(err)
	}
	return n
}

// issue signs a leaf certificate for a new P-256 key.
func (ca *testCA) issue(tmpl *x509.Certificate) (*x509.Certificate, *ecdsa.PrivateKey, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, err
	}
	tmpl.SerialNumber = serial()
	tmpl.KeyUsage = x509.KeyUsageDigitalSignature
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, key.Public(), ca.key)
	if err != nil {
		return nil, nil, err
	}
	cert, err := x509.ParseCertificate(der)
	return cert, key, err
}

// serverCertificate is the TLS listener's certificate.
func (ca *testCA) serverCertificate(now time.Time) (tls.Certificate, error) {
	notBefore, notAfter := validity(now)
	cert, key, err := ca.issue(&x509.Certificate{
		Subject:     pkix.Name{CommonName: "partnersim"},
		NotBefore:   notBefore,
		NotAfter:    notAfter,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		DNSNames:    []string{"localhost"},
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback},
	})
	if err != nil {
		return tls.Certificate{}, err
	}
	return tls.Certificate{Certificate: [][]byte{cert.Raw}, PrivateKey: key, Leaf: cert}, nil
}

// tlsConfig asks for a client certificate and verifies any given against
// the CA at the simulator's clock (which issued it); a request without one
// is still served, and refused by the partner's rules if its client needs
// one.
func (ca *testCA) tlsConfig(server tls.Certificate, now func() time.Time) *tls.Config {
	return &tls.Config{
		Certificates: []tls.Certificate{server},
		ClientAuth:   tls.VerifyClientCertIfGiven,
		ClientCAs:    ca.pool,
		MinVersion:   tls.VersionTLS12,
		Time:         now,
	}
}

// IssueClientCertificate returns a client certificate for commonName,
// valid from now for lifetime, and its private key, both PEM: what a
// partner hands a client it registers for mutual TLS. Its subject is
// "CN=<commonName>", the value a client's CertificateSubject names.
func (s *Server) IssueClientCertificate(commonName string, lifetime time.Duration) (certPEM, keyPEM string, err error) {
	if s.ca == nil {
		return "", "", errNoTLS
	}
	if commonName == "" || lifetime < time.Second {
		return "", "", errors.New("a client certificate needs a common name and a lifetime of at least 1s")
	}
	now := s.now()
	cert, key, err := s.ca.issue(&x509.Certificate{
		Subject:     pkix.Name{CommonName: commonName},
		NotBefore:   now.Add(-time.Minute),
		NotAfter:    now.Add(lifetime),
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	})
	if err != nil {
		return "", "", fmt.Errorf("issuing a client certificate: %w", err)
	}
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return "", "", err
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: cert.Raw})),
		string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})), nil
}

var errNoTLS = errors.New("the simulator serves no TLS: start it with Options.TLSAddr (-tls-addr)")

// CACertificate is the PEM of the CA the TLS listener's certificate chains
// to, for a client's ca_certificates; empty without TLS.
func (s *Server) CACertificate() string {
	if s.ca == nil {
		return ""
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: s.ca.cert.Raw}))
}

// TLSURL is the base URL of the TLS listener, e.g. https://127.0.0.1:41235;
// empty before Start or without TLS.
func (s *Server) TLSURL() string {
	if s.tlsLn == nil {
		return ""
	}
	return "https://" + s.tlsLn.Addr().String()
}

// TLSTokenURL is a partner's token endpoint on the TLS listener.
func (s *Server) TLSTokenURL(partner string) string {
	p := partners[partner]
	if p == nil || s.tlsLn == nil {
		return ""
	}
	return s.TLSURL() + "/" + p.name + s.paths(p)[0]
}
