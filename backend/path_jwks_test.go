package backend

import (
	"strings"
	"testing"

	"github.com/hashicorp/vault/sdk/logical"
)

func TestJWKSOfAConfigWithoutKeysAndOfNone(t *testing.T) {
	env := newTestEnv(t)
	env.writeConfig("p", nil)
	resp := env.mustOK(logical.ReadOperation, "config/p/jwks", nil)
	if len(resp.Warnings) != 1 || !strings.Contains(resp.Warnings[0], "holds no private key") {
		t.Errorf("warnings = %v", resp.Warnings)
	}
	if keys := jwksOf(env, "p").Keys; len(keys) != 0 {
		t.Errorf("keys = %v", keys)
	}
	if _, err := env.request(logical.ReadOperation, "config/none/jwks", nil); err == nil || !strings.Contains(err.Error(), `no config named "none"`) {
		t.Errorf("jwks of no config: %v", err)
	}
}
