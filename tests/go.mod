module github.com/partnertoken/vault-plugin-secrets-partnertoken/tests

go 1.26

replace github.com/partnertoken/vault-plugin-secrets-partnertoken => ../
