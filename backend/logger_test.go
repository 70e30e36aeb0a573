package backend

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/vault/sdk/logical"

	"github.com/partnertoken/vault-plugin-secrets-partnertoken/internal/partnersim"
)

func TestPluginLoggerLevel(t *testing.T) {
	for _, tc := range []struct {
		value string
		want  hclog.Level
		warns bool
	}{
		{"", hclog.Debug, false},
		{"trace", hclog.Trace, false},
		{" INFO ", hclog.Info, false},
		{"warn", hclog.Warn, false},
		{"off", hclog.Off, false},
		{"verbose", hclog.Debug, true},
	} {
		var out bytes.Buffer
		logger := pluginLogger(tc.value, &out)
		if got := logger.GetLevel(); got != tc.want {
			t.Errorf("%s=%q: level %s, want %s", LogLevelEnv, tc.value, got, tc.want)
		}
		if warned := strings.Contains(out.String(), LogLevelEnv+" is not a log level"); warned != tc.warns {
			t.Errorf("%s=%q: warned %v, want %v (output %q)", LogLevelEnv, tc.value, warned, tc.warns, out.String())
		}
	}
}

// go-plugin on Vault's side reads a plugin's stderr as JSON lines to find
// each line's level.
func TestPluginLoggerWritesJSONLines(t *testing.T) {
	var out bytes.Buffer
	pluginLogger("", &out).Info("minted token", "config", "p")
	var line map[string]any
	if err := json.Unmarshal(out.Bytes(), &line); err != nil {
		t.Fatalf("log line %q is not JSON: %v", out.String(), err)
	}
	if line["@level"] != "info" || line["@message"] != "minted token" || line["config"] != "p" {
		t.Errorf("log line %v", line)
	}
}

// The line per read is written only at trace: at the default level, a
// cached read logs nothing.
func TestCachedReadsLogOnlyAtTrace(t *testing.T) {
	env := newTestEnv(t)
	env.writeConfig("p", nil)
	env.readToken("p")
	logger := env.b.Logger()

	logger.SetLevel(defaultLogLevel)
	before := env.logs.String()
	env.readToken("p")
	if added := strings.TrimPrefix(env.logs.String(), before); added != "" {
		t.Errorf("a cached read at the default level %s logged %q", defaultLogLevel, added)
	}

	logger.SetLevel(hclog.Trace)
	env.readToken("p")
	if added := strings.TrimPrefix(env.logs.String(), before); !strings.Contains(added, "leasing token") {
		t.Errorf("a cached read at trace logged %q, want its leasing line", added)
	}
}

func TestLogsNeverContainTheSecret(t *testing.T) {
	env := newTestEnv(t)
	env.writeConfig("p", map[string]any{"next_client_secret": "next-secret-0987"})
	// A full cycle: temporary failures, a retry, a refusal, a fallback to
	// the next secret, a failed refresh and a forced one.
	env.partner.inject(partnersim.Fault{Status: 503}, partnersim.Fault{Status: 500})
	env.readToken("p")
	env.partner.acceptSecrets("next-secret-0987")
	env.partner.inject(partnersim.Fault{Status: 401})
	env.clock.Advance(10 * time.Second)
	env.mustOK(logical.UpdateOperation, "refresh/p", nil)
	env.clock.Advance(10 * time.Second)
	env.mustOK(logical.UpdateOperation, "refresh/p", nil)

	logs := env.logs.String()
	if !strings.Contains(logs, "minted token") || !strings.Contains(logs, "mint attempt failed") {
		t.Fatalf("the cycle was not logged:\n%s", logs)
	}
	for _, secret := range []string{testClientSecret, "next-secret-0987"} {
		for _, form := range []string{
			secret,
			url.QueryEscape(secret),
			base64.StdEncoding.EncodeToString([]byte(testClientID + ":" + secret)),
		} {
			if strings.Contains(logs, form) {
				t.Fatalf("logs contain a form of the secret %q:\n%s", form, logs)
			}
		}
	}
}
