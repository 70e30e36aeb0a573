// Package e2e holds the end-to-end tests of the partnertoken secrets engine:
// a real server, Vault or OpenBao, runs the freshly built plugin against the
// partner simulator, and the tests drive it over the HTTP API and with a
// real Agent. They are a separate module so the engine's own module does
// not depend on what only the tests need.
//
// Run them from the repository root with `make test` (everything) or
// `make test-e2e` (against Vault, then OpenBao; SERVER=vault or
// SERVER=openbao for one), which obtain the server and build the plugin and
// tell the tests where they are:
//
//	PARTNERTOKEN_E2E_SERVER          vault (the default) or openbao
//	PARTNERTOKEN_E2E_VAULT_BIN       the vault binary
//	PARTNERTOKEN_E2E_BAO_BIN         the bao binary (for openbao)
//	PARTNERTOKEN_E2E_PLUGIN_DIR      directory holding the plugin binary
//	PARTNERTOKEN_E2E_PLUGIN_VERSION  version compiled into the plugin
//	PARTNERTOKEN_E2E_PROMETHEUS_BIN  the Prometheus server TestPrometheus runs
//	PARTNERTOKEN_E2E_SKIP=1          skip instead of failing when they are missing
//
// Without these variables the tests look where `make test-e2e` puts them,
// so `cd tests && go test ./...` works against Vault after one `make
// test-e2e`.
//
// What differs between the servers is in server_test.go; a test that
// starts servers, Agents or Proxies through its helpers (startVault,
// serverCommand, cliEnv) runs on both.
package e2e
