// Package profiledplugin serves a secrets plugin the way partnertoken's
// main.go does (plugin.ServeMultiplex), plus the net/http/pprof handlers on
// PPROF_ADDR when it is set, so make bench can profile the plugin processes
// it measures. Vault gives a plugin only the environment it was registered
// with: vault plugin register -env PPROF_ADDR=127.0.0.1:6061 ...
package profiledplugin

import (
	"net/http"
	_ "net/http/pprof" // the profiling endpoints, on PPROF_ADDR only
	"os"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/vault/sdk/logical"
	"github.com/hashicorp/vault/sdk/plugin"
)

// Serve serves factory's backend to Vault until Vault stops the plugin,
// logging through pluginLogger (nil: the SDK's default, which logs
// everything).
func Serve(factory logical.Factory, pluginLogger hclog.Logger) {
	logger := pluginLogger
	if logger == nil {
		logger = hclog.New(&hclog.LoggerOptions{})
	}
	if addr := os.Getenv("PPROF_ADDR"); addr != "" {
		go func() {
			if err := http.ListenAndServe(addr, nil); err != nil {
				logger.Error("pprof listener", "addr", addr, "error", err)
			}
		}()
	}
	if err := plugin.ServeMultiplex(&plugin.ServeOpts{
		BackendFactoryFunc: factory,
		Logger:             pluginLogger,
	}); err != nil {
		logger.Error("plugin shutting down", "error", err)
		os.Exit(1)
	}
}
