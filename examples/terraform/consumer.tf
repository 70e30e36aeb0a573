# A consumer of the billing API token. OpenTofu 1.10 has no ephemeral
# resources, so this is a data source, and a data source's result is
# stored in the Terraform state and in plan files: the bearer token (valid
# for the partner's token lifetime) is readable by whoever reads the state.
# With Terraform 1.10+ or OpenTofu 1.11+, `ephemeral "vault_generic_secret"`
# keeps it out (docs/terraform.md). For long-running consumers, prefer
# Vault Agent: it renews and re-reads the token as it changes.
data "vault_generic_secret" "billing_api_token" {
  path = "${vault_mount.partner.path}/token/billing-api"

  # Read after the config exists (and again after it changed).
  depends_on = [vault_generic_endpoint.billing_api]
}

# Pass it to what calls the billing API, such as a provider's
# `headers = { Authorization = "Bearer ${...}" }`.
output "billing_api_token" {
  value     = data.vault_generic_secret.billing_api_token.data["access_token"]
  sensitive = true
}
