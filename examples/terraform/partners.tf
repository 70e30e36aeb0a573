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
