package backend

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/hashicorp/vault/sdk/logical"

	"github.com/partnertoken/vault-plugin-secrets-partnertoken/internal/provider"
)

func TestConfigValidation(t *testing.T) {
	valid := func(changes map[string]any) map[string]any {
		data := map[string]any{
			"provider":      "oauth2",
			"token_url":     "https://partner.example/oauth/token",
			"client_id":     testClientID,
			"client_secret": testClientSecret,
		}
		for k, v := range changes {
			if v == nil {
				delete(data, k)
			} else {
				data[k] = v
			}
		}
		return data
	}
	tests := []struct {
		name string
		data map[string]any
		want string // substring of the 400 message
	}{
		{"a write without provider is refused", valid(map[string]any{"provider": nil}), "provider is required"},
		{"an unknown provider is refused with the known ones", valid(map[string]any{"provider": "nope"}), `provider "nope" is not known: use one of`},
		{"an unknown field is refused by name", valid(map[string]any{"client_secrett": "x"}), "unknown field(s) client_secrett"},
		{"a missing client_id is refused", valid(map[string]any{"client_id": nil}), "client_id is required"},
		{"a missing client_secret is refused", valid(map[string]any{"client_secret": nil}), "client_secret is required"},
		{"a missing token_url is refused for a provider without environments", valid(map[string]any{"token_url": nil}), "token_url is required"},
		{"token_url over plain http to a public host is refused", valid(map[string]any{"token_url": "http://partner.example/token"}), "must use https"},
		{"token_url with another scheme is refused", valid(map[string]any{"token_url": "ftp://partner.example/token"}), "must use https"},
		{"token_url that is not a URL is refused", valid(map[string]any{"token_url": "partner.example/token"}), "must be a full URL"},
		{"token_url with user information is refused", valid(map[string]any{"token_url": "https://user:pw@partner.example/token"}), "must not contain user information"},
		{"an environment for a provider without environments is refused", valid(map[string]any{"environment": "sandbox"}), "has no documented environments"},
		{"a negative ttl is refused", valid(map[string]any{"ttl": "-5s"}), "cannot provide negative value"},
		{"an unparsable ttl is refused", valid(map[string]any{"ttl": "soon"}), "ttl"},
		{"a negative max_ttl is refused", valid(map[string]any{"max_ttl": -1}), `field "max_ttl": cannot provide negative value`},
		{"ttl above max_ttl is refused", valid(map[string]any{"ttl": "2h", "max_ttl": "1h"}), "must not exceed max_ttl"},
		{"a ttl no cached read can be served under is refused with the floor", valid(map[string]any{"ttl": "1s"}), "ttl must be 0 (no cap) or at least 2s, not 1s"},
		{"a max_ttl no cached read can be served under is refused with the floor", valid(map[string]any{"max_ttl": 1}), "max_ttl must be 0 (no cap) or at least 2s, not 1s"},
		{"a ttl with lease_mode=none is refused", valid(map[string]any{"lease_mode": "none", "ttl": "5m"}), "ttl (5m0s) caps a lease, and with lease_mode=none reads get no lease"},
		{"a max_ttl with lease_mode=none is refused", valid(map[string]any{"lease_mode": "none", "max_ttl": "1s"}), "write max_ttl=0 with lease_mode=none"},
		{"a zero timeout is refused", valid(map[string]any{"timeout": 0}), "timeout must be between"},
		{"an hour-long timeout is refused", valid(map[string]any{"timeout": "1h"}), "timeout must be between"},
		{"a refresh_fraction of 1 is refused", valid(map[string]any{"refresh_fraction": 1.0}), "refresh_fraction must be between"},
		{"a refresh_fraction of NaN is refused", valid(map[string]any{"refresh_fraction": "NaN"}), "refresh_fraction must be between"},
		{"a negative expiry_margin is refused", valid(map[string]any{"expiry_margin": "-1s"}), `field "expiry_margin": cannot provide negative value`},
		{"an auth_method outside the list is refused", valid(map[string]any{"auth_method": "basic"}), "auth_method must be one of client_secret_basic, client_secret_post, private_key_jwt, client_secret_jwt, tls_client_auth"},
		{"token_params cannot override the grant", valid(map[string]any{"token_params": map[string]any{"grant_type": "password"}}), "grant_type is set by the engine"},
		{"a scope with a space is refused", valid(map[string]any{"scopes": []any{"read write"}}), "no spaces"},
		{"a secret with a newline is refused without echoing it", valid(map[string]any{"client_secret": "abc\ndefgh"}), "must not contain control characters"},
		{"a too short secret is refused", valid(map[string]any{"client_secret": "abc"}), "client_secret is too short"},
		{"a client_id over 4 KiB is refused", valid(map[string]any{"client_id": strings.Repeat("i", 4097)}), "client_id is too long: at most 4096 bytes"},
		{"a client_secret over 4 KiB is refused without echoing it", valid(map[string]any{"client_secret": strings.Repeat("s", 4097)}), "client_secret is too long: at most 4096 bytes"},
		{"a next_client_secret over 4 KiB is refused", valid(map[string]any{"next_client_secret": strings.Repeat("n", 4097)}), "next_client_secret is too long: at most 4096 bytes"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			env := newTestEnv(t)
			resp, err := env.request(logical.CreateOperation, "config/p", tt.data)
			if err != nil {
				t.Fatalf("want a 400 response, got error %v", err)
			}
			if resp == nil || !resp.IsError() {
				t.Fatalf("want a 400 response, got %#v", resp)
			}
			if msg := resp.Error().Error(); !strings.Contains(msg, tt.want) {
				t.Fatalf("message %q does not contain %q", msg, tt.want)
			}
			if secret, ok := tt.data["client_secret"].(string); ok && strings.Contains(resp.Error().Error(), secret) {
				t.Fatalf("message echoes the secret: %q", resp.Error())
			}
			if keys, _ := env.storage.List(t.Context(), configPrefix); len(keys) != 0 {
				t.Fatalf("a refused write stored %v", keys)
			}
		})
	}
}

// TestConfigAcceptsCredentialsOf4KiB: the bound on credentials is
// inclusive.
func TestConfigAcceptsCredentialsOf4KiB(t *testing.T) {
	env := newTestEnv(t)
	env.mustOK(logical.CreateOperation, "config/p", map[string]any{
		"provider": "oauth2", "token_url": "https://partner.example/oauth/token", "client_id": strings.Repeat("i", 4096),
		"client_secret": strings.Repeat("s", 4096), "next_client_secret": strings.Repeat("n", 4096),
	})
}

func TestConfigAcceptsLoopbackHTTPAndDefaults(t *testing.T) {
	env := newTestEnv(t)
	env.writeConfig("p", nil)
	data := env.mustOK(logical.ReadOperation, "config/p", nil).Data
	want := map[string]any{
		"provider":          "oauth2",
		"token_url":         env.partner.URL(),
		"client_id":         testClientID,
		"client_secret_set": true,
		"timeout":           int64(10),
		"refresh_fraction":  0.8,
		"auth_method":       "client_secret_basic",
		"ttl":               int64(0),
	}
	for k, v := range want {
		if data[k] != v {
			t.Errorf("%s = %#v, want %#v", k, data[k], v)
		}
	}
}

func TestConfigSecretIsNeverReturned(t *testing.T) {
	env := newTestEnv(t)
	env.writeConfig("p", nil)
	for _, path := range []string{"config/p", "token/p", "providers"} {
		resp := env.mustOK(logical.ReadOperation, path, nil)
		raw, _ := json.Marshal(resp)
		if strings.Contains(string(raw), testClientSecret) {
			t.Fatalf("%s returns the client secret: %s", path, raw)
		}
	}
	list := env.mustOK(logical.ListOperation, "config/", nil)
	if keys := list.Data["keys"].([]string); len(keys) != 1 || keys[0] != "p" {
		t.Fatalf("LIST config/ = %v", keys)
	}
}

func TestConfigUpdateMerges(t *testing.T) {
	env := newTestEnv(t)
	env.writeConfig("p", map[string]any{"scopes": "read,write", "ttl": "10m"})
	env.mustOK(logical.UpdateOperation, "config/p", map[string]any{"ttl": "5m"})
	data := env.mustOK(logical.ReadOperation, "config/p", nil).Data
	if data["ttl"] != int64(300) || data["client_id"] != testClientID {
		t.Fatalf("update did not merge: %#v", data)
	}
	if scopes := data["scopes"]; len(scopes.([]string)) != 2 {
		t.Fatalf("scopes lost on update: %#v", scopes)
	}
	// An empty value unsets a provider field.
	env.mustOK(logical.UpdateOperation, "config/p", map[string]any{"scopes": ""})
	if _, ok := env.mustOK(logical.ReadOperation, "config/p", nil).Data["scopes"]; ok {
		t.Fatal("scopes not unset by an empty value")
	}
}

func TestConfigRedirectingTheSecretNeedsTheSecret(t *testing.T) {
	env := newTestEnv(t)
	env.writeConfig("p", nil)
	for _, change := range []map[string]any{
		{"token_url": "https://attacker.example/token"},
		{"provider": "oauth2", "token_url": "https://elsewhere.example/token"},
	} {
		resp, err := env.request(logical.UpdateOperation, "config/p", change)
		if err != nil || resp == nil || !strings.Contains(resp.Error().Error(), "requires client_secret in the same write") {
			t.Fatalf("change %v: want refusal, got %v %v", change, resp, err)
		}
	}
	if data := env.mustOK(logical.ReadOperation, "config/p", nil).Data; data["token_url"] != env.partner.URL() {
		t.Fatalf("refused change was stored: %v", data["token_url"])
	}
	env.mustOK(logical.UpdateOperation, "config/p", map[string]any{"token_url": "https://elsewhere.example/token", "client_secret": "another-secret"})
}

func TestConfigFieldOfAnotherProviderIsRefused(t *testing.T) {
	env := newTestEnv(t)
	providers := provider.Builtin()
	providers["other"] = otherProvider{providers["oauth2"]}
	env.b = env.newBackendWith(options{providers: providers})
	resp, err := env.request(logical.CreateOperation, "config/p", map[string]any{
		"provider": "other", "token_url": "https://x.example/t", "client_id": "a", "client_secret": "secret",
		"scopes": "read",
	})
	if err != nil || resp == nil || !strings.Contains(resp.Error().Error(), "scopes is not a setting of provider other (it belongs to oauth2)") {
		t.Fatalf("got %v %v", resp, err)
	}
}

func TestConfigDeleteIsIdempotent(t *testing.T) {
	env := newTestEnv(t)
	env.writeConfig("p", nil)
	env.mustOK(logical.DeleteOperation, "config/p", nil)
	env.mustOK(logical.DeleteOperation, "config/p", nil)
	if resp, _ := env.request(logical.ReadOperation, "config/p", nil); resp != nil {
		t.Fatalf("deleted config still readable: %v", resp)
	}
}

// TestChangingEnvironmentNeedsTheSecretOnlyWhenTheURLChanges pins what
// docs/security.md says: a write that changes environment needs
// client_secret only when the effective token URL changes (not for an
// alias of the same environment, nor under a token_url override), and any
// change of environment drops a stored next_client_secret it does not
// supply.
func TestChangingEnvironmentNeedsTheSecretOnlyWhenTheURLChanges(t *testing.T) {
	env := newTestEnv(t)
	env.mustOK(logical.CreateOperation, "config/d", map[string]any{
		"provider": "dupr", "environment": "sandbox", "client_id": testClientID,
		"client_secret": testClientSecret, "next_client_secret": "next-secret-123",
	})
	env.mustOK(logical.UpdateOperation, "config/d", map[string]any{"environment": "uat"}) // sandbox's alias
	if cfg := env.storedConfig("d"); cfg.ClientSecret != testClientSecret || cfg.NextClientSecret != "" {
		t.Fatalf("an alias of the same environment: secret kept %v, next dropped %v", cfg.ClientSecret == testClientSecret, cfg.NextClientSecret == "")
	}
	resp, err := env.request(logical.UpdateOperation, "config/d", map[string]any{"environment": "production"})
	if err != nil || resp == nil || !resp.IsError() || !strings.Contains(resp.Error().Error(), "requires client_secret in the same write") {
		t.Fatalf("another environment's URL without client_secret: %v %v", resp, err)
	}
	env.mustOK(logical.UpdateOperation, "config/d", map[string]any{"token_url": "https://partner.example/token", "client_secret": testClientSecret})
	env.mustOK(logical.UpdateOperation, "config/d", map[string]any{"environment": "production"}) // token_url still decides
	if cfg := env.storedConfig("d"); cfg.Environment != "production" || cfg.TokenURL != "https://partner.example/token" {
		t.Fatalf("environment under a token_url override: %+v", cfg)
	}
}

// otherProvider is a second provider kind for tests about fields that
// belong to one provider and not another: oauth2's protocol under another
// spec, which the tests never mint with.
type otherProvider struct{ provider.Provider }

func (otherProvider) Spec() provider.Spec { return provider.Spec{Name: "other", DisplayName: "Other"} }
