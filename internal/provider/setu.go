package provider

import (
	"context"
	"net/http"
	"net/url"
	"time"
)

// setu is Setu's deprecated partner token (Deposits / FD SDK, configured on
// the Bridge): client credentials in a form body, answered with camelCase
// accessToken and refreshToken and no expires_in.
// https://docs.setu.co/investments/deposits/sdk-integration/generate-partner-token
// docs/partners.md#setu lists the sources of each fact below.
type setu struct{}

// setuDeprecation is Setu's own notice on the page this provider follows.
const setuDeprecation = "Setu marks this API as deprecated: its page \"has deprecated content, which is relevant only to integrations " +
	"that have already been completed\" and sends new customers to another integration guide. Use it only for an existing " +
	"Setu Deposits integration; see " + setuDocs

const setuDocs = "https://docs.setu.co/investments/deposits/sdk-integration/generate-partner-token"

func (setu) Spec() Spec {
	return Spec{
		Name:        "setu",
		DisplayName: "Setu",
		Description: "Setu partner access token (the deprecated Bridge partner token of the Deposits SDK). Setu gives the token endpoint at onboarding, so token_url is required.",
		Docs:        setuDocs,
		Deprecation: setuDeprecation,
		// The docs give only the path POST /auth/token, never a host, so
		// there is no environment to offer: token_url is required.
		// "The partner accessToken is valid for 15 minutes" (Setu docs); the
		// token's own exp is preferred, since the documented sample lives 5.
		DefaultLifetime: 15 * time.Minute,
	}
}

func (s setu) mint(ctx context.Context, req *Request) (*Token, error) {
	// "Include these as URL encoded body parameters", in the documented order.
	body := "grant_type=client_credentials" +
		"&client_id=" + url.QueryEscape(req.ClientID) +
		"&client_secret=" + url.QueryEscape(req.ClientSecret)
	header := http.Header{"Content-Type": {"application/x-www-form-urlencoded"}}

	resp, err := req.send(ctx, header, []byte(body))
	if err != nil {
		return nil, err
	}

	// refreshToken is deliberately not decoded: Setu says it "can be ignored",
	// and a credential the engine never holds cannot leak.
	var answer struct {
		AccessToken string `json:"accessToken"`
	}
	if err := req.decodeJSON(resp, &answer); err != nil {
		return nil, err
	}
	tok := &Token{AccessToken: answer.AccessToken}
	if exp, ok := jwtExpiry(answer.AccessToken, resp.SentAt); ok {
		tok.ExpiresAt, tok.ExpirySource = exp, ExpiryJWT
	}
	return tok, nil
}
