// Command vault-plugin-secrets-partnertoken serves the partnertoken secrets
// engine to Vault.
package main

import (
	"os"

	"github.com/hashicorp/vault/sdk/plugin"

	"github.com/partnertoken/vault-plugin-secrets-partnertoken/backend"
)

func main() {
	logger := backend.PluginLogger(os.Getenv(backend.LogLevelEnv))
	if err := plugin.ServeMultiplex(&plugin.ServeOpts{
		BackendFactoryFunc: backend.Factory,
		Logger:             logger,
	}); err != nil {
		logger.Error("plugin shutting down", "error", err)
		os.Exit(1)
	}
}
