package signing

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
)

// ServiceAccount is what the engine takes from a Google service-account
// key file: who signs, with which key, for which token endpoint
// (https://developers.google.com/identity/protocols/oauth2/service-account#httprest).
type ServiceAccount struct {
	// ClientEmail is the assertion's issuer.
	ClientEmail string
	// TokenURI is the token endpoint and the assertion's audience.
	TokenURI string
	// Key is the file's private key, with private_key_id as its kid.
	Key *Key
}

// serviceAccountFile is the key file as Google writes it; the fields the
// engine does not use (project_id, client_id, auth_uri, ...) are ignored.
type serviceAccountFile struct {
	Type         string `json:"type"`
	PrivateKeyID string `json:"private_key_id"`
	PrivateKey   string `json:"private_key"`
	ClientEmail  string `json:"client_email"`
	TokenURI     string `json:"token_uri"`
}

// ParseServiceAccount reads a service-account key file. Its errors name
// the file's field at fault and never quote the file, which holds the key.
func ParseServiceAccount(data string) (*ServiceAccount, error) {
	var f serviceAccountFile
	if err := json.Unmarshal([]byte(data), &f); err != nil {
		var syntax *json.SyntaxError
		if errors.As(err, &syntax) {
			return nil, fmt.Errorf("is not JSON (syntax error at byte %d): write the key file as downloaded", syntax.Offset)
		}
		return nil, errors.New("is not a service-account key file: its fields have the wrong types")
	}
	switch {
	case f.Type != "service_account":
		return nil, fmt.Errorf("has type %q, not service_account: write a service-account key file", f.Type)
	case f.ClientEmail == "":
		return nil, errors.New("has no client_email")
	case f.PrivateKey == "":
		return nil, errors.New("has no private_key")
	case f.TokenURI == "":
		return nil, errors.New("has no token_uri")
	}
	if u, err := url.Parse(f.TokenURI); err != nil || u.Scheme != "https" || u.Host == "" {
		return nil, errors.New("has a token_uri that is not an https URL")
	}
	// Google's keys are RSA and sign RS256, the only algorithm its token
	// endpoint accepts for this grant.
	key, err := ParseKey(f.PrivateKey, RS256, f.PrivateKeyID)
	if err != nil {
		return nil, fmt.Errorf("private_key %w", err)
	}
	return &ServiceAccount{ClientEmail: f.ClientEmail, TokenURI: f.TokenURI, Key: key}, nil
}
