package backend

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/vault/sdk/logical"
)

func TestStatusReportsWithoutTheToken(t *testing.T) {
	env := newTestEnv(t)
	env.writeConfig("p", nil)
	before := env.mustOK(logical.ReadOperation, "status/p", nil).Data
	if before["token_cached"] != false || before["mint_count"] != int64(0) {
		t.Fatalf("status before any read: %v", before)
	}
	if env.partner.requests() != 0 {
		t.Fatal("reading status called the partner")
	}

	tok := env.readToken("p").Data["access_token"].(string)
	env.partner.failNext(http.StatusUnauthorized)
	env.clock.Advance(time.Minute)
	env.request(logical.UpdateOperation, "refresh/p", nil)

	data := env.mustOK(logical.ReadOperation, "status/p", nil).Data
	want := map[string]any{
		"provider":          "oauth2",
		"token_cached":      true,
		"token_valid":       true,
		"mint_count":        int64(1),
		"minted_at":         "2026-11-23T10:00:00Z",
		"expires_at":        "2026-11-23T11:00:00Z",
		"next_refresh_at":   "2026-11-23T10:48:00Z",
		"refresh_scheduled": true,
		"last_error_status": 401,
		"backoff":           "credentials refused",
		"backoff_until":     "2026-11-23T10:01:30Z",
	}
	for k, v := range want {
		if data[k] != v {
			t.Errorf("%s = %#v, want %#v", k, data[k], v)
		}
	}
	if msg, _ := data["last_error"].(string); !strings.Contains(msg, "HTTP 401") {
		t.Errorf("last_error = %q", msg)
	}
	raw, _ := json.Marshal(data)
	if strings.Contains(string(raw), tok) || strings.Contains(string(raw), testClientSecret) {
		t.Fatalf("status exposes the token or the secret: %s", raw)
	}

	list := env.mustOK(logical.ListOperation, "status/", nil)
	line := list.Data["key_info"].(map[string]any)["p"].(map[string]any)
	if line["provider"] != "oauth2" || line["token_cached"] != true || line["last_error_status"] != 401 {
		t.Fatalf("LIST status/ line: %v", line)
	}
}
