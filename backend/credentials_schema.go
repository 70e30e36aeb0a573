package backend

import (
	"github.com/hashicorp/vault/sdk/framework"
)

// credentialFields are the config fields of credentials.
func credentialFields() map[string]*framework.FieldSchema {
	sensitive := &framework.DisplayAttributes{Sensitive: true}
	return map[string]*framework.FieldSchema{
		"private_key": {
			Type:         framework.TypeString,
			Description:  "PEM private key (PKCS #8, PKCS #1 or SEC 1; RSA of 2048 to 8192 bits, P-256 or Ed25519) that signs the config's assertions, for partners that issue keys themselves. Write-only. An empty value removes the key.",
			DisplayAttrs: sensitive,
		},
		"private_key_id": {
			Type:        framework.TypeString,
			Description: "The kid of private_key in the assertions' header and the JWKS. Unset, the key's RFC 7638 thumbprint. A write that replaces the key resets it unless it sets it too.",
		},
		"signing_algorithm": {
			Type:        framework.TypeString,
			Description: "RS256 (the default for RSA keys and for generated ones), PS256, ES256 (P-256) or EdDSA (Ed25519): what the private keys sign with.",
		},
		"generate_private_key": {
			Type:        framework.TypeBool,
			Description: "Generate the private key inside the engine (for signing_algorithm, default RS256) when the config has none that fits signing_algorithm; it never leaves the engine: read config/<name>/jwks for the public key to register at the partner. A repeated write keeps the key (so the field can stay in a Terraform configuration); with private_key=\"\" in the same write it replaces the key at once. Not stored.",
		},
		"next_private_key": {
			Type:         framework.TypeString,
			Description:  "The next private key during a rotation: published in the JWKS beside the current one, tried when the partner refuses the current key's assertion, and promoted once it works. Write-only. An empty value removes it.",
			DisplayAttrs: sensitive,
		},
		"next_private_key_id": {
			Type:        framework.TypeString,
			Description: "The kid of next_private_key. Unset, its RFC 7638 thumbprint.",
		},
		"generate_next_private_key": {
			Type:        framework.TypeBool,
			Description: "Generate next_private_key inside the engine, for the config's signing_algorithm, unless one is pending. Not stored.",
		},
		"service_account_json": {
			Type:         framework.TypeString,
			Description:  "A Google service-account key file as downloaded: the engine takes its private key (private_key_id as the kid), its client_email as client_id and its token_uri as token_url (unless the write sets one), and uses grant_type=jwt_bearer. Write-only; not stored as such.",
			DisplayAttrs: sensitive,
		},
		"tls_client_certificate": {
			Type:        framework.TypeString,
			Description: "PEM client certificate, then its issuers, presented on every connection to the token endpoint (mutual TLS, RFC 8705). Needs tls_client_key. Refused when expired or not for client authentication.",
		},
		"tls_client_key": {
			Type:         framework.TypeString,
			Description:  "PEM private key of tls_client_certificate. Write-only.",
			DisplayAttrs: sensitive,
		},
		"ca_certificates": {
			Type:        framework.TypeString,
			Description: "PEM bundle of the CAs the token endpoint's certificate must chain to, instead of the system's roots (a partner's private CA).",
		},
	}
}

// keyFields are the fields only a provider that signs assertions has.
var keyFields = []string{"private_key", "private_key_id", "signing_algorithm", "generate_private_key",
	"next_private_key", "next_private_key_id", "generate_next_private_key", "service_account_json"}
