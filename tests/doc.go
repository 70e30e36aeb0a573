// Package e2e holds the end-to-end tests of the partnertoken secrets engine:
// a real Vault dev server runs the freshly built plugin against the partner
// simulator, and the tests drive it over Vault's HTTP API and with a real
// Vault Agent. They are a separate module so the engine's own module does
// not depend on what only the tests need.
//
// Run them from the repository root with `make test` (everything) or
// `make test-e2e`, which build Vault (once, into .cache/bin) and the plugin
// and tell the tests where they are:
//
//	PARTNERTOKEN_E2E_VAULT_BIN       the vault binary
//	PARTNERTOKEN_E2E_PLUGIN_DIR      directory holding the plugin binary
//	PARTNERTOKEN_E2E_PLUGIN_VERSION  version compiled into the plugin
//	PARTNERTOKEN_E2E_SKIP=1          skip instead of failing when they are missing
//
// Without these variables the tests look where `make test-e2e` puts them,
// so `cd tests && go test ./...` works after one `make test-e2e`.
package e2e
