package backend

import (
	"strings"
	"testing"

	"github.com/hashicorp/vault/sdk/logical"
)

func TestSettingsValidateAndPersist(t *testing.T) {
	env := newTestEnv(t)
	if got := env.mustOK(logical.ReadOperation, "settings", nil).Data["refresh_rate"]; got != float64(defaultRefreshRate) {
		t.Fatalf("default refresh_rate = %v", got)
	}
	resp, err := env.request(logical.UpdateOperation, "settings", map[string]any{"refresh_rate": 0})
	if err != nil || !resp.IsError() || !strings.Contains(resp.Error().Error(), "refresh_rate must be between") {
		t.Fatalf("got %v %v", resp, err)
	}
	resp, err = env.request(logical.UpdateOperation, "settings", map[string]any{"refresh_rate": "NaN"})
	if err != nil || !resp.IsError() || !strings.Contains(resp.Error().Error(), "refresh_rate must be between") {
		t.Fatalf("NaN: got %v %v", resp, err)
	}
	env.mustOK(logical.UpdateOperation, "settings", map[string]any{"refresh_rate": 2.5})
	reloaded := env.newBackend()
	resp, _ = env.requestTo(reloaded, logical.ReadOperation, "settings", nil)
	if resp.Data["refresh_rate"] != 2.5 {
		t.Fatalf("refresh_rate after reload = %v", resp.Data["refresh_rate"])
	}
}
