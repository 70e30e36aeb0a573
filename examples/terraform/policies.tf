# A policy per team: read its partner's token and force a refresh when the
# partner rejected a token early. Nothing under config/.

resource "vault_policy" "team_pickleball" {
  name   = "team-pickleball"
  policy = <<-EOT
    path "${vault_mount.partner.path}/token/dupr"   { capabilities = ["read"] }
    path "${vault_mount.partner.path}/refresh/dupr" { capabilities = ["update"] }
  EOT
}

resource "vault_policy" "team_billing" {
  name   = "team-billing"
  policy = <<-EOT
    path "${vault_mount.partner.path}/token/billing-api"   { capabilities = ["read"] }
    path "${vault_mount.partner.path}/refresh/billing-api" { capabilities = ["update"] }
  EOT
}
