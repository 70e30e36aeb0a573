package provider

import (
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/partnertoken/vault-plugin-secrets-partnertoken/internal/signing"
)

// How an oauth2 client authenticates (the token endpoint auth methods of
// RFC 7591 §2 and OpenID Connect Core §9), and which grant it asks for.
const (
	authBasic         = "client_secret_basic"
	authPost          = "client_secret_post"
	authSecretJWT     = "client_secret_jwt"
	authPrivateKeyJWT = "private_key_jwt"
	authTLS           = "tls_client_auth"

	grantClientCredentials = "client_credentials"
	grantJWTBearer         = "jwt_bearer"
)

// The URNs of RFC 7523 §2.1 and §2.2.
const (
	jwtBearerGrantType     = "urn:ietf:params:oauth:grant-type:jwt-bearer"
	jwtBearerAssertionType = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
)

var authMethodField = Field{
	Name: "auth_method",
	Type: String,
	Description: "How the client authenticates: client_secret_basic sends an HTTP Basic Authorization header (RFC 6749 section 2.3.1); " +
		"client_secret_post sends client_id and client_secret in the form body; private_key_jwt sends a JWT signed with the config's private key " +
		"and client_secret_jwt one signed HS256 with client_secret (RFC 7523 section 2.2); tls_client_auth sends client_id and presents " +
		"tls_client_certificate (RFC 8705 section 2). With grant_type=jwt_bearer, client_secret_basic and client_secret_post authenticate the client only when client_secret is set.",
	Default: authBasic,
	Allowed: []string{authBasic, authPost, authPrivateKeyJWT, authSecretJWT, authTLS},
}

var grantTypeField = Field{
	Name: "grant_type",
	Type: String,
	Description: "client_credentials (RFC 6749 section 4.4), or jwt_bearer (RFC 7523 section 2.1): an assertion signed with the config's private key, " +
		"as Google service accounts, Salesforce, DocuSign and Box use; it needs no client secret.",
	Default: grantClientCredentials,
	Allowed: []string{grantClientCredentials, grantJWTBearer},
}

// assertionFields shape the assertions the config signs.
var assertionFields = []Field{
	{
		Name:        "assertion_audience",
		Type:        String,
		Description: "The aud of the assertions, when the partner wants another value than the token URL (such as its issuer identifier).",
	},
	{
		Name:        "assertion_issuer",
		Type:        String,
		Description: "(grant_type=jwt_bearer) The iss of the grant's assertion; defaults to client_id.",
	},
	{
		Name:        "assertion_subject",
		Type:        String,
		Description: "(grant_type=jwt_bearer) The sub of the grant's assertion: the user or account the token acts for. Left out when unset.",
	},
	{
		Name:        "assertion_claims",
		Type:        StringMap,
		Description: "(grant_type=jwt_bearer) Further claims of the grant's assertion, such as Google's scope. iss, sub, aud, exp, nbf, iat and jti are set by the engine.",
		Check:       func(v any) error { return signing.CheckClaims(v.(map[string]string)) },
	},
	{
		Name: "assertion_lifetime",
		Type: String,
		Description: "How long after it is signed an assertion expires, as a duration: at most 1h for the grant's assertion (the partner's limit; Salesforce's is 3m) " +
			"and at most 5m for a client assertion, which is capped there. Defaults to 5m.",
		Check: func(v any) error {
			d, err := time.ParseDuration(v.(string))
			if err != nil || d < time.Second || d > signing.MaxGrantLifetime {
				return fmt.Errorf("must be a duration between 1s and %s, such as 2m", signing.MaxGrantLifetime)
			}
			return nil
		},
	},
}

// Credentials says what a config must hold to authenticate, each as the
// setting that needs it ("auth_method=private_key_jwt"), or "" when that
// credential is not needed.
type Credentials struct {
	Secret      string
	Key         string
	Certificate string
	// SecretSigns is set when the secret is an HS256 key
	// (client_secret_jwt), which must be as long as the hash.
	SecretSigns bool
}

func oauth2Credentials(o Options) Credentials {
	var c Credentials
	method, grant := o.String("auth_method"), o.String("grant_type")
	switch method {
	case authBasic, authPost, "":
		if grant != grantJWTBearer {
			c.Secret = "auth_method=" + or(method, authBasic)
		}
	case authSecretJWT:
		c.Secret, c.SecretSigns = "auth_method="+method, true
	case authPrivateKeyJWT:
		c.Key = "auth_method=" + method
	case authTLS:
		c.Certificate = "auth_method=" + method
	}
	if grant == grantJWTBearer {
		c.Key = "grant_type=" + grant
	}
	return c
}

// checkOAuth2 refuses settings that the chosen grant would ignore.
func checkOAuth2(o Options) error {
	if o.String("grant_type") == grantJWTBearer {
		return nil
	}
	for _, name := range []string{"assertion_issuer", "assertion_subject", "assertion_claims"} {
		if _, set := o[name]; set {
			return fmt.Errorf("%s applies to grant_type=jwt_bearer only: set grant_type=jwt_bearer or unset %s", name, name)
		}
	}
	return nil
}

func or(s, fallback string) string {
	if s == "" {
		return fallback
	}
	return s
}

// addGrant sets the grant's parameters: grant_type, and for the JWT
// bearer grant its assertion (RFC 7523 §2.1).
func (r *Request) addGrant(form url.Values) error {
	if r.Options.String("grant_type") != grantJWTBearer {
		form.Set("grant_type", "client_credentials")
		return nil
	}
	if r.Key == nil {
		return r.notConfigured("grant_type=jwt_bearer needs a private key: write private_key, generate_private_key=true or service_account_json")
	}
	assertion, err := r.sign(r.Key, signing.Assertion{
		Issuer:   or(r.Options.String("assertion_issuer"), r.ClientID),
		Subject:  r.Options.String("assertion_subject"),
		Audience: r.audience(),
		Lifetime: r.assertionLifetime(signing.MaxGrantLifetime),
		Claims:   r.Options.Map("assertion_claims"),
	})
	if err != nil {
		return err
	}
	form.Set("grant_type", jwtBearerGrantType)
	form.Set("assertion", assertion)
	return nil
}

// authenticateClient adds the client's authentication by auth_method
// (RFC 6749 §2.3, RFC 7523 §2.2, RFC 8705 §2): one method per request,
// as §2.3 requires.
func (r *Request) authenticateClient(form url.Values, header http.Header) error {
	method := or(r.Options.String("auth_method"), authBasic)
	switch method {
	case authBasic, authPost:
		if r.ClientSecret == "" && r.Options.String("grant_type") == grantJWTBearer {
			return nil // the grant's assertion alone identifies the client
		}
		if method == authPost {
			form.Set("client_id", r.ClientID)
			form.Set("client_secret", r.ClientSecret)
		} else {
			header.Set("Authorization", basicAuth(url.QueryEscape(r.ClientID), url.QueryEscape(r.ClientSecret)))
		}
		return nil
	case authTLS:
		// The certificate travels in the handshake; client_id says whose
		// it is (RFC 8705 §2: "the client_id parameter ... MUST be included").
		form.Set("client_id", r.ClientID)
		return nil
	}

	key := r.Key
	if method == authSecretJWT {
		var err error
		if key, err = signing.SecretKey(r.ClientSecret); err != nil {
			return r.notConfigured("client_secret " + err.Error())
		}
	} else if key == nil {
		return r.notConfigured("auth_method=private_key_jwt needs a private key: write private_key, generate_private_key=true or service_account_json")
	}
	// RFC 7523 §3: iss and sub are the client id; the audience is the
	// token endpoint.
	assertion, err := r.sign(key, signing.Assertion{
		Issuer:   r.ClientID,
		Subject:  r.ClientID,
		Audience: r.audience(),
		Lifetime: r.assertionLifetime(signing.MaxClientLifetime),
	})
	if err != nil {
		return err
	}
	form.Set("client_id", r.ClientID)
	form.Set("client_assertion_type", jwtBearerAssertionType)
	form.Set("client_assertion", assertion)
	return nil
}

// sign signs an assertion at the request's clock and remembers its
// signature for redaction.
func (r *Request) sign(key *signing.Key, a signing.Assertion) (string, error) {
	jws, err := a.Sign(key, r.now())
	if err != nil {
		return "", &Error{Partner: r.partner, Message: "cannot sign the assertion: " + err.Error()}
	}
	r.signatures = append(r.signatures, jws[strings.LastIndexByte(jws, '.')+1:])
	r.red = nil // built again with the signature
	return jws, nil
}

func (r *Request) audience() string { return or(r.Options.String("assertion_audience"), r.TokenURL) }

// assertionLifetime is assertion_lifetime, or the default, capped at limit.
func (r *Request) assertionLifetime(limit time.Duration) time.Duration {
	d, err := time.ParseDuration(r.Options.String("assertion_lifetime"))
	if err != nil || d <= 0 {
		d = signing.DefaultLifetime
	}
	return min(d, limit)
}

// notConfigured is a mint the config cannot make: no partner was asked,
// and asking again cannot help until the config is rewritten (an Error
// with no status and no cause is never retried).
func (r *Request) notConfigured(message string) *Error {
	return &Error{Partner: r.partner, Message: message}
}
