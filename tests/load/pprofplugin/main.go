// Command pprofplugin is partnertoken's plugin main (the repository's
// main.go) plus the net/http/pprof handlers on PPROF_ADDR, to profile the
// plugin process while the load tool drives a real Vault. Vault gives a
// plugin only the environment it was registered with:
//
//	vault plugin register -sha256=... -version=... -env PPROF_ADDR=127.0.0.1:6061 \
//	  -command=vault-plugin-secrets-partnertoken secret vault-plugin-secrets-partnertoken
//
// `PLUGIN_PPROF=1 make bench` builds and registers it in place of the real
// plugin, and the load tool takes its CPU profile next to Vault's. Build it
// with the same -ldflags -X .../backend.Version=... as the plugin.
package main

import (
	"os"

	"github.com/partnertoken/vault-plugin-secrets-partnertoken/backend"
	"github.com/partnertoken/vault-plugin-secrets-partnertoken/tests/internal/profiledplugin"
)

func main() {
	profiledplugin.Serve(backend.Factory, backend.PluginLogger(os.Getenv(backend.LogLevelEnv)))
}
