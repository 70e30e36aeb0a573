package provider

import (
	"context"
	"net/http"
)

// Podero is Podero's partner API token: an OAuth2 client credentials grant
// whose request is JSON, not the form RFC 6749 §4.4.2 specifies.
// https://developers.podero.com/partner-api/getting-started/get-access-token
type Podero struct{}

// poderoBody is the documented request body, byte for byte.
const poderoBody = `{"grant_type":"client_credentials"}`

func (Podero) Spec() Spec {
	return Spec{
		Name:        "podero",
		DisplayName: "Podero",
		Description: "Podero partner API access token (OAuth2 client credentials with a JSON request body).",
		Docs:        "https://developers.podero.com/partner-api/getting-started/get-access-token",
		Environments: []Environment{
			{Name: "production", TokenURL: "https://app.podero.com/oauth2/token/"},
			// "Remember to replace the subdomain if you're in a sandbox
			// environment": the partner API's sandbox host is sandbox-app.
			{Name: "sandbox", TokenURL: "https://sandbox-app.podero.com/oauth2/token/"},
		},
		// No DefaultLifetime: expires_in is part of every documented answer
		// and only "typically" 10 hours, and the token is opaque, so an
		// answer without it is refused rather than guessed at.
	}
}

func (p Podero) Mint(ctx context.Context, req *Request) (*Token, error) {
	partner := p.Spec().DisplayName
	// The docs encode "client_id:client_secret" as is (their Python and
	// JavaScript examples), not form-encoded first as RFC 6749 §2.3.1 would.
	header := http.Header{
		"Authorization": {basicAuth(req.ClientID, req.ClientSecret)},
		"Content-Type":  {"application/json"},
		"Cache-Control": {"no-cache"},
	}

	resp, err := req.send(ctx, partner, header, []byte(poderoBody))
	if err != nil {
		return nil, err
	}
	return req.parseOAuth2(partner, resp, 0)
}
