package signing

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"strings"
	"sync"
	"testing"
)

// Keys are made once per test binary: RSA generation is slow under -race.
var (
	rsa2048 = sync.OnceValue(func() *rsa.PrivateKey { return mustRSA(2048) })
	rsa1024 = sync.OnceValue(func() *rsa.PrivateKey { return mustRSA(1024) })
)

func mustRSA(bits int) *rsa.PrivateKey {
	k, err := rsa.GenerateKey(rand.Reader, bits)
	if err != nil {
		panic(err)
	}
	return k
}

func pemOf(t testing.TB, typ string, der []byte) string {
	t.Helper()
	return string(pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}))
}

func pkcs8(t testing.TB, key any) string {
	t.Helper()
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	return pemOf(t, "PRIVATE KEY", der)
}

func TestParseKeyAcceptsEveryFormAndDefaultsTheAlgorithm(t *testing.T) {
	p256, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	_, ed, _ := ed25519.GenerateKey(rand.Reader)
	sec1, _ := x509.MarshalECPrivateKey(p256)
	for _, tc := range []struct {
		name, pem, algorithm, want string
	}{
		{"an RSA key in PKCS #8 signs RS256", pkcs8(t, rsa2048()), "", RS256},
		{"an RSA key in PKCS #1 signs RS256", pemOf(t, "RSA PRIVATE KEY", x509.MarshalPKCS1PrivateKey(rsa2048())), "", RS256},
		{"an RSA key may sign PS256", pkcs8(t, rsa2048()), PS256, PS256},
		{"a P-256 key in PKCS #8 signs ES256", pkcs8(t, p256), "", ES256},
		{"a P-256 key in SEC 1 signs ES256", pemOf(t, "EC PRIVATE KEY", sec1), "", ES256},
		{"an Ed25519 key signs EdDSA", pkcs8(t, ed), "", EdDSA},
		{"surrounding white space is ignored", "\n  " + pkcs8(t, ed) + "\n\n", EdDSA, EdDSA},
	} {
		t.Run(tc.name, func(t *testing.T) {
			k, err := ParseKey(tc.pem, tc.algorithm, "")
			if err != nil {
				t.Fatal(err)
			}
			if k.Algorithm != tc.want {
				t.Errorf("algorithm = %s, want %s", k.Algorithm, tc.want)
			}
			if k.ID != k.Thumbprint() || len(k.ID) != 43 {
				t.Errorf("a key without private_key_id has kid %q, want its 43-character thumbprint", k.ID)
			}
			again, err := ParseKey(k.PEM(), k.Algorithm, "")
			if err != nil || !again.Equal(k) {
				t.Errorf("the stored PEM does not parse back to the same key: %v", err)
			}
		})
	}
}

func TestParseKeyRefusesWithWhatToFix(t *testing.T) {
	p384, _ := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	p256, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	_, ed, _ := ed25519.GenerateKey(rand.Reader)
	rsaPEM := pkcs8(t, rsa2048())
	encrypted := strings.Replace(rsaPEM, "PRIVATE KEY", "ENCRYPTED PRIVATE KEY", 2)
	certificate := strings.Replace(rsaPEM, "PRIVATE KEY", "CERTIFICATE", 2)
	for _, tc := range []struct {
		name, pem, algorithm, want string
	}{
		{"text that is not PEM", "not a key", "", "is not a PEM-encoded private key"},
		{"a certificate instead of a key", certificate, "", `is a PEM "CERTIFICATE" block`},
		{"an encrypted key", encrypted, "", "is encrypted"},
		{"two keys at once", rsaPEM + rsaPEM, "", "more than one PEM block"},
		{"a PEM block whose bytes are not a key", "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n", "", "does not parse"},
		{"an RSA key under 2048 bits", pkcs8(t, rsa1024()), "", "RSA key of 1024 bits; RS256 needs at least 2048"},
		{"an RSA key for ES256", rsaPEM, ES256, "is an RSA key, which signs with RS256 or PS256, not ES256"},
		{"a P-384 key", pkcs8(t, p384), "", "only P-256 is supported"},
		{"a P-256 key for RS256", pkcs8(t, p256), RS256, "is a P-256 key, which signs with ES256, not RS256"},
		{"an Ed25519 key for ES256", pkcs8(t, ed), ES256, "is an Ed25519 key, which signs with EdDSA, not ES256"},
		{"an algorithm nobody supports", rsaPEM, "HS512", `"HS512" is not a supported signing algorithm: use one of RS256, PS256, ES256, EdDSA`},
		{"HS256, which is for client secrets", rsaPEM, HS256, "is not a supported signing algorithm"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParseKey(tc.pem, tc.algorithm, "")
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error = %v, want one saying %q", err, tc.want)
			}
			if strings.Contains(err.Error(), "MII") {
				t.Errorf("the error quotes key material: %v", err)
			}
		})
	}
}

func TestGenerateKeyMakesAKeyForEachAlgorithm(t *testing.T) {
	for _, alg := range append([]string{""}, Algorithms...) {
		k, err := GenerateKey(alg, "given-kid")
		if err != nil {
			t.Fatalf("%q: %v", alg, err)
		}
		if want := map[string]string{"": RS256}[alg]; want != "" && k.Algorithm != want || want == "" && k.Algorithm != alg {
			t.Errorf("GenerateKey(%q) signs %s", alg, k.Algorithm)
		}
		if k.ID != "given-kid" {
			t.Errorf("kid = %q, want the one given", k.ID)
		}
		if again, err := ParseKey(k.PEM(), k.Algorithm, k.ID); err != nil || !again.Equal(k) {
			t.Errorf("%s: the generated key does not survive storage: %v", alg, err)
		}
		if !strings.HasPrefix(k.PublicPEM(), "-----BEGIN PUBLIC KEY-----") {
			t.Errorf("%s: public PEM = %q", alg, k.PublicPEM())
		}
	}
	if _, err := GenerateKey(HS256, ""); err == nil {
		t.Error("GenerateKey made an HS256 key, which is the client secret")
	}
}

func TestSecretKeyNeedsAsManyBytesAsTheHash(t *testing.T) {
	if _, err := SecretKey(strings.Repeat("s", 31)); err == nil || !strings.Contains(err.Error(), "at least 32 bytes") {
		t.Errorf("a 31-byte secret: %v", err)
	}
	k, err := SecretKey(strings.Repeat("s", 32))
	if err != nil || k.Algorithm != HS256 || k.ID != "" {
		t.Errorf("a 32-byte secret: %+v %v", k, err)
	}
}

func TestKeyFitsAndWithAlgorithm(t *testing.T) {
	k, err := ParseKey(pkcs8(t, rsa2048()), "", "")
	if err != nil {
		t.Fatal(err)
	}
	if err := k.Fits(ES256); err == nil {
		t.Error("an RSA key fits ES256")
	}
	ps, err := k.WithAlgorithm(PS256)
	if err != nil || ps.Algorithm != PS256 || k.Algorithm != RS256 || !ps.Equal(k) {
		t.Errorf("WithAlgorithm(PS256) = %+v, %v; the original must stay RS256", ps, err)
	}
}
