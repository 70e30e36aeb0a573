package backend

import (
	"io"
	"os"
	"strings"

	"github.com/hashicorp/go-hclog"
)

// LogLevelEnv names the environment variable that sets the most detailed
// level the plugin logs at. The plugin process gets the server's own
// environment and the one it was registered with (vault plugin register
// -env PARTNERTOKEN_LOG_LEVEL=trace ...); Vault lets the registration's
// value win, OpenBao the server's (docs/operations.md#log-lines).
const LogLevelEnv = "PARTNERTOKEN_LOG_LEVEL"

// defaultLogLevel keeps every line except the one per read of token/<name>.
const defaultLogLevel = hclog.Debug

// PluginLogger is the logger main.go serves the plugin with: JSON on
// stderr, as go-plugin expects, at level (the value of LogLevelEnv; debug
// when empty).
//
// The level matters because Vault does not tell a plugin the level it logs
// at: the SDK's own default logs everything, and Vault's go-plugin client
// then reads and JSON-decodes every line the plugin writes before its own
// level drops it. A line per read ("leasing token", trace) cost both
// processes CPU on every read even on a Vault at -log-level=warn, so it is
// written only when asked for.
func PluginLogger(level string) hclog.Logger { return pluginLogger(level, os.Stderr) }

func pluginLogger(level string, out io.Writer) hclog.Logger {
	parsed := defaultLogLevel
	invalid := false
	if level = strings.TrimSpace(level); level != "" {
		parsed = hclog.LevelFromString(level)
		if invalid = parsed == hclog.NoLevel; invalid {
			parsed = defaultLogLevel
		}
	}
	logger := hclog.New(&hclog.LoggerOptions{
		Level:      parsed,
		Output:     out,
		JSONFormat: true,
	})
	if invalid {
		logger.Warn("PARTNERTOKEN_LOG_LEVEL is not a log level; logging at the default level",
			"value", level, "default", defaultLogLevel.String(), "levels", "trace, debug, info, warn, error, off")
	}
	return logger
}
