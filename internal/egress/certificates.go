package egress

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
)

// The TLS material of a config: the client certificate the engine presents
// to the token endpoint (mutual TLS, RFC 8705 §2) and the CAs the
// endpoint's certificate must chain to. Both are checked when written, so
// that a config never holds material that fails at the first handshake;
// the errors name the config field at fault and never quote a key.

// The RSA client keys accepted: at least 2048 bits, as for signing keys
// (NIST SP 800-131A), and at most 8192, which bounds each handshake's work.
const (
	minClientRSABits = 2048
	maxClientRSABits = 8192
)

// ClientCertificate is a checked client certificate chain and its key.
type ClientCertificate struct {
	// TLS is what the client presents; its Leaf is set.
	TLS tls.Certificate
}

// Subject is the certificate's subject as RFC 4514 writes it, the string
// partners register for tls_client_auth (RFC 8705 §2.1.2).
func (c *ClientCertificate) Subject() string { return c.TLS.Leaf.Subject.String() }

// NotAfter is when the certificate expires.
func (c *ClientCertificate) NotAfter() time.Time { return c.TLS.Leaf.NotAfter }

// ParseClientCertificate reads tls_client_certificate (the client's
// certificate first, then its issuers) and tls_client_key, and checks that
// they belong together and the certificate is valid at now.
func ParseClientCertificate(chainPEM, keyPEM string, now time.Time) (*ClientCertificate, error) {
	chain, err := parseCertificates(chainPEM)
	if err != nil {
		return nil, fmt.Errorf("tls_client_certificate %w", err)
	}
	leaf := chain[0]
	switch {
	case now.Before(leaf.NotBefore):
		return nil, fmt.Errorf("tls_client_certificate (%s) is not valid until %s", leaf.Subject, leaf.NotBefore.UTC().Format(time.RFC3339))
	case now.After(leaf.NotAfter):
		return nil, fmt.Errorf("tls_client_certificate (%s) expired on %s", leaf.Subject, leaf.NotAfter.UTC().Format(time.RFC3339))
	case len(leaf.ExtKeyUsage) > 0 && !slices.Contains(leaf.ExtKeyUsage, x509.ExtKeyUsageClientAuth) && !slices.Contains(leaf.ExtKeyUsage, x509.ExtKeyUsageAny):
		return nil, fmt.Errorf("tls_client_certificate (%s) is not for client authentication: its extended key usage lacks clientAuth", leaf.Subject)
	}
	for i := 0; i+1 < len(chain); i++ {
		if chain[i].CheckSignatureFrom(chain[i+1]) != nil {
			return nil, fmt.Errorf("tls_client_certificate: certificate %d (%s) is not issued by the next one (%s): write the client certificate first, then each issuer in order", i+1, chain[i].Subject, chain[i+1].Subject)
		}
	}

	key, err := parsePrivateKey(keyPEM)
	if err != nil {
		return nil, fmt.Errorf("tls_client_key %w", err)
	}
	public, ok := key.Public().(interface{ Equal(crypto.PublicKey) bool })
	if !ok || !public.Equal(leaf.PublicKey) {
		return nil, fmt.Errorf("tls_client_key does not match tls_client_certificate (%s): write the key the certificate was issued for", leaf.Subject)
	}
	cert := tls.Certificate{PrivateKey: key, Leaf: leaf}
	for _, c := range chain {
		cert.Certificate = append(cert.Certificate, c.Raw)
	}
	return &ClientCertificate{TLS: cert}, nil
}

// ParseCACertificates reads ca_certificates, the CAs a config's token
// endpoint must chain to instead of the system's, each valid at now.
func ParseCACertificates(bundle string, now time.Time) (*x509.CertPool, error) {
	certs, err := parseCertificates(bundle)
	if err != nil {
		return nil, fmt.Errorf("ca_certificates %w", err)
	}
	pool := x509.NewCertPool()
	for i, c := range certs {
		if now.After(c.NotAfter) {
			return nil, fmt.Errorf("ca_certificates: certificate %d (%s) expired on %s: remove it", i+1, c.Subject, c.NotAfter.UTC().Format(time.RFC3339))
		}
		pool.AddCert(c)
	}
	return pool, nil
}

// parseCertificates reads one or more PEM CERTIFICATE blocks and nothing else.
func parseCertificates(text string) ([]*x509.Certificate, error) {
	rest := []byte(strings.TrimSpace(text))
	var certs []*x509.Certificate
	for len(bytes.TrimSpace(rest)) > 0 {
		var block *pem.Block
		block, rest = pem.Decode(rest)
		switch {
		case block == nil && len(certs) == 0:
			return nil, errors.New("is not PEM: write the certificates as -----BEGIN CERTIFICATE----- blocks")
		case block == nil:
			return nil, fmt.Errorf("has text after its %d certificate(s) that is not PEM", len(certs))
		case block.Type != "CERTIFICATE":
			return nil, fmt.Errorf("holds a PEM %q block: write certificates only", block.Type)
		}
		c, err := x509.ParseCertificate(block.Bytes)
		if err != nil {
			return nil, fmt.Errorf("certificate %d does not parse", len(certs)+1)
		}
		certs = append(certs, c)
	}
	if len(certs) == 0 {
		return nil, errors.New("is empty")
	}
	return certs, nil
}

// parsePrivateKey reads one unencrypted PEM private key.
func parsePrivateKey(text string) (crypto.Signer, error) {
	block, rest := pem.Decode([]byte(strings.TrimSpace(text)))
	switch {
	case block == nil:
		return nil, errors.New("is not a PEM-encoded private key")
	case len(bytes.TrimSpace(rest)) > 0:
		return nil, errors.New("holds more than one PEM block: write the private key alone")
	case block.Type == "ENCRYPTED PRIVATE KEY" || block.Headers["Proc-Type"] != "":
		return nil, errors.New("is encrypted: write it unencrypted (the engine stores it seal-wrapped)")
	}
	var key any
	var err error
	switch block.Type {
	case "PRIVATE KEY":
		key, err = x509.ParsePKCS8PrivateKey(block.Bytes)
	case "RSA PRIVATE KEY":
		key, err = x509.ParsePKCS1PrivateKey(block.Bytes)
	case "EC PRIVATE KEY":
		key, err = x509.ParseECPrivateKey(block.Bytes)
	default:
		return nil, fmt.Errorf("is a PEM %q block, not a private key", block.Type)
	}
	if err != nil {
		return nil, errors.New("is a PEM block whose private key does not parse")
	}
	switch key := key.(type) {
	case *rsa.PrivateKey:
		if bits := key.N.BitLen(); bits < minClientRSABits || bits > maxClientRSABits {
			return nil, fmt.Errorf("is an RSA key of %d bits; %d to %d are supported", bits, minClientRSABits, maxClientRSABits)
		}
		return key, nil
	case *ecdsa.PrivateKey:
		return key, nil
	case ed25519.PrivateKey:
		return key, nil
	default:
		return nil, fmt.Errorf("is a %T key; supported are RSA, ECDSA and Ed25519", key)
	}
}

// TLSConfig is the TLS configuration of a config's connections: roots,
// when set, replace the system's CAs; client, when set, is presented
// whenever the server asks for a certificate, whatever CAs it names (a
// partner's list is often incomplete, and sending none fails obscurely).
func TLSConfig(client *ClientCertificate, roots *x509.CertPool) *tls.Config {
	cfg := &tls.Config{MinVersion: tls.VersionTLS12, RootCAs: roots}
	if client != nil {
		cfg.GetClientCertificate = func(*tls.CertificateRequestInfo) (*tls.Certificate, error) { return &client.TLS, nil }
	}
	return cfg
}

// Leaf is the first certificate of a chain, unchecked: what status pages
// describe, expired or not.
func Leaf(chainPEM string) (*x509.Certificate, error) {
	chain, err := parseCertificates(chainPEM)
	if err != nil {
		return nil, fmt.Errorf("tls_client_certificate %w", err)
	}
	return chain[0], nil
}
