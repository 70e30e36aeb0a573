// Command vault-plugin-secrets-partnertoken serves the partnertoken secrets
// engine to Vault.
package main

import (
	"os"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/vault/sdk/plugin"

	"github.com/partnertoken/vault-plugin-secrets-partnertoken/backend"
)

func main() {
	logger := hclog.New(&hclog.LoggerOptions{})
	if err := plugin.ServeMultiplex(&plugin.ServeOpts{
		BackendFactoryFunc: backend.Factory,
	}); err != nil {
		logger.Error("plugin shutting down", "error", err)
		os.Exit(1)
	}
}
