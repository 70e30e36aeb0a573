# One config per partner. client_secret is write-only in Vault: a read of
# config/<name> returns client_secret_set instead. ignore_absent_fields
# makes the provider compare only the fields Vault returns, so:
#   - the secret never shows as drift (Vault never returns it);
#   - a change of the secret variable is still a change of data_json, and
#     applying it rewrites the config, which drops the cached token;
#   - every other field written here is read back, so a change made
#     outside Terraform shows in the next plan.
# The secret is in the Terraform state (data_json): see docs/terraform.md.
#
# depends_on settings: with a loopback token URL the config write is
# refused until the mount allows its host.

# A partner with documented environments: the environment picks the token
# URL, token_url overrides it.
resource "vault_generic_endpoint" "dupr" {
  path                 = "${vault_mount.partner.path}/config/dupr"
  ignore_absent_fields = true
  data_json = jsonencode(merge(
    {
      provider      = "dupr"
      environment   = var.dupr_environment
      client_id     = var.dupr_client_id
      client_secret = var.dupr_client_secret
    },
    var.dupr_token_url == null ? {} : { token_url = var.dupr_token_url },
  ))
  depends_on = [vault_generic_endpoint.settings]
}

# Any OAuth2 client-credentials endpoint.
resource "vault_generic_endpoint" "billing_api" {
  path                 = "${vault_mount.partner.path}/config/billing-api"
  ignore_absent_fields = true
  data_json = jsonencode({
    provider      = "oauth2"
    token_url     = var.billing_token_url
    client_id     = var.billing_client_id
    client_secret = var.billing_client_secret
    scopes        = var.billing_scopes
  })
  depends_on = [vault_generic_endpoint.settings]
}

# An OAuth2 endpoint that authenticates the client with a JWT signed by a
# private key (private_key_jwt) instead of a secret. The engine generates
# the key and keeps it: nothing secret is in this file or the state.
# generate_private_key makes a key only when the config has none, so
# applying again (after any change here) keeps the key the partner
# registered; Vault does not return it, so ignore_absent_fields never sees
# it as drift.
resource "vault_generic_endpoint" "signing_api" {
  path                 = "${vault_mount.partner.path}/config/signing-api"
  ignore_absent_fields = true
  data_json = jsonencode({
    provider             = "oauth2"
    token_url            = var.signing_token_url
    client_id            = var.signing_client_id
    auth_method          = "private_key_jwt"
    generate_private_key = true
    signing_algorithm    = var.signing_algorithm
  })
  depends_on = [vault_generic_endpoint.settings]
}

# The public key to register for the client at the partner, as a JWK Set
# (RFC 7517). The provider marks everything it reads as sensitive; the
# JWKS holds nothing secret, hence nonsensitive.
data "vault_generic_secret" "signing_api_jwks" {
  path       = "${vault_mount.partner.path}/config/signing-api/jwks"
  depends_on = [vault_generic_endpoint.signing_api]
}

output "signing_api_jwks" {
  description = "The JWK Set to register for the signing API's client at the partner."
  value       = nonsensitive(jsonencode(jsondecode(data.vault_generic_secret.signing_api_jwks.data_json).jwks))
}
