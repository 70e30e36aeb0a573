package backend

import (
	"fmt"
	"strings"
	"testing"
	"time"

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

// TestBackgroundRefreshesAreSpreadOverTime lets six tokens of one partner
// fall due at once with refresh_rate 2: the partner must not see them in a
// burst. The bound is one-sided (a slow machine only spreads them more).
func TestBackgroundRefreshesAreSpreadOverTime(t *testing.T) {
	env := newTestEnv(t)
	env.mustOK(logical.UpdateOperation, "settings", map[string]any{"refresh_rate": 2})
	const configs = 6
	for i := range configs {
		name := fmt.Sprintf("p%d", i)
		env.writeConfig(name, nil)
		env.readToken(name)
	}
	env.clock.Advance(48 * time.Minute)
	if err := env.b.periodicFunc(t.Context(), &logical.Request{Storage: env.storage}); err != nil {
		t.Fatal(err)
	}
	env.partner.waitMint(2 * configs)
	refreshes := env.partner.arrivals()[configs:]
	// A burst of 2, then one every half second: at least 2s for 6.
	if spread := refreshes[len(refreshes)-1].Sub(refreshes[0]); spread < 1900*time.Millisecond {
		t.Fatalf("%d refreshes within %s, want them spread at 2 a second", configs, spread)
	}
}
