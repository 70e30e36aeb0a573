variable "vault_address" {
  description = "Vault's address, such as https://vault.example.com:8200. Null reads VAULT_ADDR."
  type        = string
  default     = null
}

variable "plugin_command" {
  description = "File name of the plugin binary in Vault's plugin directory. A name per version (such as vault-plugin-secrets-partnertoken_v0.2.0) lets the old binary stay until the mount runs the new one."
  type        = string
  default     = "vault-plugin-secrets-partnertoken"
}

variable "plugin_sha256" {
  description = "SHA-256 of the plugin binary in Vault's plugin directory (sha256sum vault-plugin-secrets-partnertoken)."
  type        = string
}

variable "plugin_version" {
  description = "The version compiled into the plugin binary (make build prints it), such as v0.1.0: Vault refuses a binary that reports another."
  type        = string
}

variable "mount_path" {
  description = "Where the engine is mounted."
  type        = string
  default     = "partner"
}

variable "allowed_token_url_hosts" {
  description = "Token endpoints the mount may call: host names, *.domain patterns, IP addresses, CIDRs. Empty allows any host whose addresses are globally routable; when set, every token URL must match an entry. Loopback, private and other special-purpose addresses need an IP or CIDR entry."
  type        = list(string)
  default     = []
}

# DUPR: a partner with documented environments.

variable "dupr_environment" {
  description = "DUPR environment: sandbox or production."
  type        = string
  default     = "production"
}

variable "dupr_token_url" {
  description = "Overrides the environment's token URL (a proxy, or a test double). Null uses the documented URL."
  type        = string
  default     = null
}

variable "dupr_client_id" {
  description = "DUPR client key."
  type        = string
}

variable "dupr_client_secret" {
  description = "DUPR client secret. Write-only in Vault, but kept in the Terraform state (see docs/terraform.md)."
  type        = string
  sensitive   = true
}

# billing-api: any OAuth2 client-credentials endpoint.

variable "billing_token_url" {
  description = "Token endpoint of the billing API's authorization server."
  type        = string
}

variable "billing_client_id" {
  description = "OAuth2 client id for the billing API."
  type        = string
}

variable "billing_client_secret" {
  description = "OAuth2 client secret for the billing API. Write-only in Vault, but kept in the Terraform state (see docs/terraform.md)."
  type        = string
  sensitive   = true
}

variable "billing_scopes" {
  description = "Scopes requested for billing API tokens."
  type        = list(string)
  default     = ["invoices:read", "invoices:write"]
}

# signing-api: an OAuth2 endpoint authenticated by a signed JWT
# (private_key_jwt) with a key generated in Vault.

variable "signing_token_url" {
  description = "Token endpoint of the signing API's authorization server."
  type        = string
}

variable "signing_client_id" {
  description = "OAuth2 client id for the signing API."
  type        = string
}

variable "signing_algorithm" {
  description = "What the generated key signs with: RS256, PS256, ES256 or EdDSA (FAPI profiles ask for PS256 or ES256)."
  type        = string
  default     = "ES256"
}
