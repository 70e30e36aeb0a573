# The engine: registered by checksum and version, then mounted at that
# version. To upgrade, see docs/terraform.md: the provider changes the
# mount's plugin_version but does not reload the running plugin.
resource "vault_plugin" "partnertoken" {
  type    = "secret"
  name    = "vault-plugin-secrets-partnertoken"
  command = "vault-plugin-secrets-partnertoken"
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

# Mount-wide settings, written only when there is something to allow: the
# engine refuses token URLs on loopback or private addresses unless their
# host is listed here.
resource "vault_generic_endpoint" "settings" {
  count = length(var.allowed_token_url_hosts) > 0 ? 1 : 0

  path                 = "${vault_mount.partner.path}/settings"
  ignore_absent_fields = true
  # settings cannot be deleted; they go with the mount.
  disable_delete = true
  data_json = jsonencode({
    allowed_token_url_hosts = var.allowed_token_url_hosts
  })
}
