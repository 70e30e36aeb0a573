// Package signing holds the keys the engine signs JWT assertions with and
// the assertions themselves: private_key_jwt and client_secret_jwt client
// authentication (RFC 7523 §2.2, OpenID Connect Core §9) and the JWT bearer
// grant (RFC 7523 §2.1). It parses, generates and checks private keys,
// renders their public halves as a JWK Set (RFC 7517) to register at the
// partner, and reads Google service-account key files.
//
// A private key never leaves this package except as the PEM the engine
// stores seal-wrapped; no error message quotes key material.
package signing

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/subtle"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/go-jose/go-jose/v4"
)

// The signature algorithms a key may sign with (RFC 7518 §3.1, RFC 8037 §3.1).
const (
	RS256 = "RS256"
	PS256 = "PS256"
	ES256 = "ES256"
	EdDSA = "EdDSA"
	// HS256 signs client_secret_jwt assertions with the client secret.
	HS256 = "HS256"
)

// Algorithms are the algorithms a private key may sign with.
var Algorithms = []string{RS256, PS256, ES256, EdDSA}

const (
	// minRSABits is the smallest RSA modulus accepted (RFC 7518 §3.3:
	// "A key of size 2048 bits or larger MUST be used").
	minRSABits = 2048
	// maxRSABits bounds the work of every signature.
	maxRSABits = 8192
	// generatedRSABits is the size of generated RSA keys.
	generatedRSABits = 2048
	// minSecretBytes is the shortest client secret HS256 may sign with
	// (RFC 7518 §3.2: a key at least as long as the hash output).
	minSecretBytes = 32
)

// Key is a key the engine signs assertions with, and how it signs.
type Key struct {
	// Algorithm is one of Algorithms, or HS256 for a client secret.
	Algorithm string
	// ID goes in the assertion header's kid and the JWK's kid: the
	// operator's private_key_id, else the key's RFC 7638 thumbprint.
	ID string
	// private is *rsa.PrivateKey, *ecdsa.PrivateKey, ed25519.PrivateKey
	// or, for HS256, the secret's bytes.
	private any
}

// ParseKey reads a PEM private key (PKCS #8, PKCS #1 or SEC 1) that is to
// sign with algorithm, or with the default for its type (RS256 for RSA,
// ES256 for P-256, EdDSA for Ed25519) when algorithm is empty. id is the
// key's kid; empty, its thumbprint.
func ParseKey(pemText, algorithm, id string) (*Key, error) {
	block, rest := pem.Decode([]byte(strings.TrimSpace(pemText)))
	switch {
	case block == nil:
		return nil, errors.New("is not a PEM-encoded private key (want a block such as -----BEGIN PRIVATE KEY-----)")
	case len(strings.TrimSpace(string(rest))) > 0:
		return nil, errors.New("holds more than one PEM block: write the private key alone")
	case block.Type == "ENCRYPTED PRIVATE KEY" || block.Headers["Proc-Type"] != "":
		return nil, errors.New("is encrypted: write it unencrypted (the engine stores it seal-wrapped)")
	}
	var private any
	var err error
	switch block.Type {
	case "PRIVATE KEY":
		private, err = x509.ParsePKCS8PrivateKey(block.Bytes)
	case "RSA PRIVATE KEY":
		private, err = x509.ParsePKCS1PrivateKey(block.Bytes)
	case "EC PRIVATE KEY":
		private, err = x509.ParseECPrivateKey(block.Bytes)
	default:
		return nil, fmt.Errorf("is a PEM %q block, not a private key (want PRIVATE KEY, RSA PRIVATE KEY or EC PRIVATE KEY)", block.Type)
	}
	if err != nil {
		return nil, errors.New("is a PEM block whose private key does not parse")
	}
	return newKey(private, algorithm, id)
}

// GenerateKey makes a new key pair for algorithm (RS256 when empty):
// RSA keys of 2048 bits, P-256 for ES256, Ed25519 for EdDSA.
func GenerateKey(algorithm, id string) (*Key, error) {
	if algorithm == "" {
		algorithm = RS256
	}
	var private any
	var err error
	switch algorithm {
	case RS256, PS256:
		private, err = rsa.GenerateKey(rand.Reader, generatedRSABits)
	case ES256:
		private, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	case EdDSA:
		_, private, err = ed25519.GenerateKey(rand.Reader)
	default:
		return nil, unsupported(algorithm)
	}
	if err != nil {
		return nil, fmt.Errorf("generating a %s key: %w", algorithm, err)
	}
	return newKey(private, algorithm, id)
}

// SecretKey is the HS256 key of client_secret_jwt: the client secret's bytes.
func SecretKey(secret string) (*Key, error) {
	if len(secret) < minSecretBytes {
		return nil, fmt.Errorf("is %d bytes; HS256 needs a secret of at least %d bytes (RFC 7518 section 3.2)", len(secret), minSecretBytes)
	}
	return &Key{Algorithm: HS256, private: []byte(secret)}, nil
}

// newKey checks that private fits algorithm and completes the key.
func newKey(private any, algorithm, id string) (*Key, error) {
	if algorithm == "" {
		if algorithm = defaultAlgorithm(private); algorithm == "" {
			return nil, fits(private, "")
		}
	}
	if !slices.Contains(Algorithms, algorithm) {
		return nil, unsupported(algorithm)
	}
	if err := fits(private, algorithm); err != nil {
		return nil, err
	}
	k := &Key{Algorithm: algorithm, ID: id, private: private}
	if k.ID == "" {
		k.ID = k.Thumbprint()
	}
	return k, nil
}

func defaultAlgorithm(private any) string {
	switch private := private.(type) {
	case *rsa.PrivateKey:
		return RS256
	case *ecdsa.PrivateKey:
		if private.Curve == elliptic.P256() {
			return ES256
		}
	case ed25519.PrivateKey:
		return EdDSA
	}
	return ""
}

// fits reports why private cannot sign with algorithm, if it cannot.
func fits(private any, algorithm string) error {
	switch private := private.(type) {
	case *rsa.PrivateKey:
		if algorithm != RS256 && algorithm != PS256 {
			return fmt.Errorf("is an RSA key, which signs with RS256 or PS256, not %s", algorithm)
		}
		if bits := private.N.BitLen(); bits < minRSABits {
			return fmt.Errorf("is an RSA key of %d bits; %s needs at least %d (RFC 7518 section 3.3)", bits, algorithm, minRSABits)
		} else if bits > maxRSABits {
			return fmt.Errorf("is an RSA key of %d bits; at most %d are supported", bits, maxRSABits)
		}
		return nil
	case *ecdsa.PrivateKey:
		if private.Curve != elliptic.P256() {
			return fmt.Errorf("is an EC key on %s; only P-256 is supported (ES256)", private.Curve.Params().Name)
		}
		if algorithm != ES256 {
			return fmt.Errorf("is a P-256 key, which signs with ES256, not %s", algorithm)
		}
		return nil
	case ed25519.PrivateKey:
		if algorithm != EdDSA {
			return fmt.Errorf("is an Ed25519 key, which signs with EdDSA, not %s", algorithm)
		}
		return nil
	default:
		return fmt.Errorf("is a %T key; supported are RSA (2048 bits or more), P-256 and Ed25519", private)
	}
}

func unsupported(algorithm string) error {
	return fmt.Errorf("%q is not a supported signing algorithm: use one of %s", algorithm, strings.Join(Algorithms, ", "))
}

// CheckAlgorithm reports whether algorithm is one a private key may sign with.
func CheckAlgorithm(algorithm string) error {
	if !slices.Contains(Algorithms, algorithm) {
		return unsupported(algorithm)
	}
	return nil
}

// Fits reports why k cannot sign with algorithm, if it cannot: a stored
// key checked against a newly written signing_algorithm.
func (k *Key) Fits(algorithm string) error {
	if err := CheckAlgorithm(algorithm); err != nil {
		return err
	}
	return fits(k.private, algorithm)
}

// WithAlgorithm is k signing with algorithm, which it must fit.
func (k *Key) WithAlgorithm(algorithm string) (*Key, error) {
	if err := k.Fits(algorithm); err != nil {
		return nil, err
	}
	copied := *k
	copied.Algorithm = algorithm
	return &copied, nil
}

// PEM is the private key as PKCS #8 PEM, the form the engine stores.
func (k *Key) PEM() string {
	der, err := x509.MarshalPKCS8PrivateKey(k.private)
	if err != nil {
		// Every key newKey accepts marshals.
		panic(fmt.Sprintf("signing: marshalling a %s key: %v", k.Algorithm, err))
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}))
}

// Public is the public half of an asymmetric key; nil for HS256.
func (k *Key) Public() crypto.PublicKey {
	if signer, ok := k.private.(crypto.Signer); ok {
		return signer.Public()
	}
	return nil
}

// PublicPEM is the public key as a PEM SubjectPublicKeyInfo, as partners
// that register a key rather than a JWK ask for it.
func (k *Key) PublicPEM() string {
	der, err := x509.MarshalPKIXPublicKey(k.Public())
	if err != nil {
		panic(fmt.Sprintf("signing: marshalling a %s public key: %v", k.Algorithm, err))
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}))
}

// Thumbprint is the key's RFC 7638 JWK thumbprint (SHA-256, base64url).
func (k *Key) Thumbprint() string {
	jwk := jose.JSONWebKey{Key: k.Public()}
	sum, err := jwk.Thumbprint(crypto.SHA256)
	if err != nil {
		panic(fmt.Sprintf("signing: thumbprint of a %s key: %v", k.Algorithm, err))
	}
	return base64.RawURLEncoding.EncodeToString(sum)
}

// Equal reports whether k and o are the same private key.
func (k *Key) Equal(o *Key) bool {
	if k == nil || o == nil {
		return k == o
	}
	type equaler interface{ Equal(crypto.PrivateKey) bool }
	if e, ok := k.private.(equaler); ok {
		return e.Equal(o.private)
	}
	a, aOK := k.private.([]byte)
	b, bOK := o.private.([]byte)
	return aOK && bOK && subtle.ConstantTimeCompare(a, b) == 1
}
