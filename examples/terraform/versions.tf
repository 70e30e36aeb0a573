terraform {
  # OpenTofu 1.10 or Terraform 1.5 and later. The end-to-end test applies
  # this configuration with OpenTofu 1.10.10 (tests/terraform_test.go).
  required_version = ">= 1.5"

  required_providers {
    vault = {
      source  = "hashicorp/vault"
      version = "~> 5.11"
    }
  }
}

# The token comes from VAULT_TOKEN (or ~/.vault-token), never from a
# variable: it would end up in plan files.
provider "vault" {
  address = var.vault_address
}
