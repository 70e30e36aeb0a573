# The engine: registered by checksum and version, then mounted at that
# version. To upgrade, see docs/terraform.md: the provider changes the
# mount's plugin_version but does not reload the running plugin.
resource "vault_plugin" "partnertoken" {
  type    = "secret"
  name    = "vault-plugin-secrets-partnertoken"
  command = var.plugin_command
  sha256  = var.plugin_sha256
  version = var.plugin_version

  # A new version replaces the registration: register it and move the
  # mount to it before the old one is deregistered.
  lifecycle {
    create_before_destroy = true
  }
}

resource "vault_mount" "partner" {
  path           = var.mount_path
  type           = vault_plugin.partnertoken.name
  plugin_version = vault_plugin.partnertoken.version
  description    = "Partner API bearer tokens"
}

# Mount-wide settings. allowed_token_url_hosts empty (the default) lets
# configs name any host whose addresses are globally routable; when set,
# every token URL must match an entry, and loopback, private and other
# special-purpose addresses are allowed only by an IP or CIDR entry that
# contains them. Written even when empty, so that emptying the variable
# clears the list in Vault.
resource "vault_generic_endpoint" "settings" {
  path                 = "${vault_mount.partner.path}/settings"
  ignore_absent_fields = true
  # settings cannot be deleted; they go with the mount.
  disable_delete = true
  data_json = jsonencode({
    allowed_token_url_hosts = var.allowed_token_url_hosts
  })
}
