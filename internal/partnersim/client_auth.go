package partnersim

import (
	"errors"
	"fmt"
	"net/http"
)

// check refuses a client no partner could register: one without an id or
// any credential, or with keys that are not public keys.
func (c Client) check(partner string) error {
	if c.ID == "" {
		return fmt.Errorf("%s client: id is required", partner)
	}
	if c.Secret == "" && c.JWKS == nil && c.CertificateSubject == "" {
		return fmt.Errorf("%s client: give a secret, jwks or tls_client_auth_subject_dn", partner)
	}
	if c.JWKS != nil {
		if len(c.JWKS.Keys) == 0 {
			return fmt.Errorf("%s client: jwks holds no keys", partner)
		}
		for i, k := range c.JWKS.Keys {
			// A partner that received a private key would have to treat
			// the client as compromised.
			if !k.Valid() || !k.IsPublic() {
				return fmt.Errorf("%s client: jwks key %d is not a valid public key", partner, i+1)
			}
		}
	}
	return nil
}

// checkCertificateBinding refuses a request of a client bound to a
// certificate (Client.CertificateSubject) that did not come with it.
func (s *Server) checkCertificateBinding(p *partner, r *http.Request) *reply {
	want := s.client(p.name).CertificateSubject
	if want == "" {
		return nil
	}
	got, err := peerSubject(r)
	if err == nil && got == want {
		return nil
	}
	if err == nil {
		err = fmt.Errorf("the client certificate's subject %q is not the client's %q", got, want)
	}
	return p.fail(http.StatusUnauthorized, p.code(http.StatusUnauthorized), err.Error()+" (RFC 8705 section 2.1.2)")
}

// peerSubject is the subject of the verified client certificate of r.
func peerSubject(r *http.Request) (string, error) {
	switch {
	case r.TLS == nil:
		return "", errors.New("a client certificate is required: use the TLS listener")
	case len(r.TLS.VerifiedChains) == 0:
		// The listener only verifies certificates that were given.
		return "", errors.New("a client certificate issued by the simulator's CA is required")
	}
	return r.TLS.VerifiedChains[0][0].Subject.String(), nil
}
