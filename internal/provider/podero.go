package provider

import (
	"context"
	"net/http"
	"net/url"
)

// podero is Podero's partner API token: an OAuth2 client credentials grant
// whose request is JSON, not the form RFC 6749 §4.4.2 specifies.
// https://developers.podero.com/partner-api/getting-started/get-access-token
// docs/partners.md#podero lists the sources of each fact below.
type podero struct{}

// poderoBody is the documented request body, byte for byte.
const poderoBody = `{"grant_type":"client_credentials"}`

func (podero) Spec() Spec {
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

func (p podero) mint(ctx context.Context, req *Request) (*Token, error) {
	// The token endpoint is django-oauth-toolkit, which unquote_plus'es id
	// and secret after splitting the Basic pair (RFC 6749 §2.3.1), so they
	// are form-encoded first. For the letters, digits and - . _ ~ of the
	// docs' examples that changes nothing; a secret holding + / % : mints
	// only this way (docs/partners.md#podero).
	header := http.Header{
		"Authorization": {basicAuth(url.QueryEscape(req.ClientID), url.QueryEscape(req.ClientSecret))},
		"Content-Type":  {"application/json"},
		"Cache-Control": {"no-cache"},
	}

	resp, err := req.send(ctx, header, []byte(poderoBody))
	if err != nil {
		return nil, err
	}
	return req.parseOAuth2(resp, 0, "")
}
