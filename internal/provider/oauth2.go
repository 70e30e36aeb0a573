package provider

import (
	"context"
	"encoding/base64"
	"errors"
	"maps"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"
)

// oauth2 is the generic OAuth 2.0 client credentials grant (RFC 6749 §4.4),
// for any partner that follows the standard.
type oauth2 struct{}

// reservedParams are set by the grant and the client authentication;
// token_params cannot override them.
var reservedParams = []string{"grant_type", "client_id", "client_secret", "scope", "assertion", "client_assertion", "client_assertion_type"}

func (oauth2) Spec() Spec {
	return Spec{
		Name:        "oauth2",
		DisplayName: "OAuth2",
		Description: "Any OAuth 2.0 token endpoint: the client credentials grant (RFC 6749 section 4.4) or the JWT bearer grant (RFC 7523 section 2.1), authenticated with a client secret, a signed JWT (private_key_jwt, client_secret_jwt) or a TLS client certificate (tls_client_auth).",
		Docs:        "https://www.rfc-editor.org/rfc/rfc6749#section-4.4",
		Fields: append([]Field{
			{
				Name:        "scopes",
				Type:        StringList,
				Description: "Scopes to request, sent space-separated in the scope parameter. Leave unset to let the partner apply its default scopes.",
				Check: func(v any) error {
					for _, s := range v.([]string) {
						if s == "" || strings.ContainsAny(s, " \"\\") {
							return errors.New("each scope must be non-empty and contain no spaces, quotes or backslashes (RFC 6749 section 3.3)")
						}
					}
					return nil
				},
			},
			{
				Name:        "token_params",
				Type:        StringMap,
				Description: "Extra form parameters for the token request, such as audience or resource.",
				Check: func(v any) error {
					for k := range v.(map[string]string) {
						for _, reserved := range reservedParams {
							if strings.EqualFold(k, reserved) {
								return errors.New(k + " is set by the engine; use the config's own field instead of token_params")
							}
						}
						if k == "" {
							return errors.New("parameter names must not be empty")
						}
					}
					return nil
				},
			},
			authMethodField,
			grantTypeField,
			{
				Name:        "token_lifetime",
				Type:        String,
				Description: "Lifetime to assume when the partner's answer has no expires_in and the token is not a JWT with an exp claim, as a duration such as 1h. Leave unset to refuse such answers.",
				Check:       checkDuration,
			},
		}, assertionFields...),
		Signs:       true,
		Credentials: oauth2Credentials,
		Check:       checkOAuth2,
	}
}

func (o oauth2) mint(ctx context.Context, req *Request) (*Token, error) {
	form := url.Values{}
	if err := req.addGrant(form); err != nil {
		return nil, err
	}
	if scopes := req.Options.List("scopes"); len(scopes) > 0 {
		form.Set("scope", strings.Join(scopes, " "))
	}
	// In a stable order, so that the request is byte-identical from one
	// mint to the next.
	params := req.Options.Map("token_params")
	for _, k := range slices.Sorted(maps.Keys(params)) {
		form.Set(k, params[k])
	}
	header := http.Header{"Content-Type": {"application/x-www-form-urlencoded"}}
	if err := req.authenticateClient(form, header); err != nil {
		return nil, err
	}

	resp, err := req.send(ctx, header, []byte(form.Encode()))
	if err != nil {
		return nil, err
	}
	fallback, _ := time.ParseDuration(req.Options.String("token_lifetime"))
	return req.parseOAuth2(resp, fallback, ExpiryConfigured)
}

// oauth2Response is the standard token response (RFC 6749 §5.1).
type oauth2Response struct {
	AccessToken string  `json:"access_token"`
	TokenType   string  `json:"token_type"`
	ExpiresIn   seconds `json:"expires_in"`
	Scope       string  `json:"scope"`
}

// parseOAuth2 reads a standard token response. Expiry comes from expires_in
// counted from when the request was sent or the JWT exp claim, whichever
// ends first (a partner that says an hour for a token its own claims end
// sooner is believed on the sooner); with neither, from the fallback
// lifetime (the partner's documented one, or the operator's), reported as
// fallbackSource.
func (r *Request) parseOAuth2(resp *response, fallback time.Duration, fallbackSource string) (*Token, error) {
	var body oauth2Response
	if err := r.decodeJSON(resp, &body); err != nil {
		return nil, err
	}
	if err := r.checkTokenType(resp, body.TokenType); err != nil {
		return nil, err
	}
	tok := &Token{AccessToken: body.AccessToken}
	if body.Scope != "" {
		tok.Extra = map[string]string{"scope": clean(body.Scope)}
	}
	if body.ExpiresIn.set {
		tok.ExpiresAt, tok.ExpirySource = resp.SentAt.Add(body.ExpiresIn.duration()), ExpiryExpiresIn
	}
	if exp, ok := jwtExpiry(body.AccessToken, resp.SentAt); ok && (tok.ExpiresAt.IsZero() || exp.Before(tok.ExpiresAt)) {
		tok.ExpiresAt, tok.ExpirySource = exp, ExpiryJWT
	}
	if tok.ExpiresAt.IsZero() && fallback > 0 {
		tok.ExpiresAt, tok.ExpirySource = resp.SentAt.Add(fallback), fallbackSource
	}
	return tok, nil
}

// basicAuth builds an HTTP Basic Authorization header value (RFC 7617).
func basicAuth(user, password string) string {
	return "Basic " + base64.StdEncoding.EncodeToString([]byte(user+":"+password))
}

func checkDuration(v any) error {
	d, err := time.ParseDuration(v.(string))
	if err != nil || d <= 0 {
		return errors.New("must be a positive duration such as 30m or 1h")
	}
	return nil
}
