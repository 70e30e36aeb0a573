package backend

import (
	"testing"

	"github.com/hashicorp/vault/sdk/logical"
)

func TestProvidersListsEveryKindWithItsEnvironments(t *testing.T) {
	env := newTestEnv(t)
	data := env.mustOK(logical.ReadOperation, "providers", nil).Data
	want := map[string][]string{
		"oauth2": nil,
		"dupr":   {"sandbox", "production"},
		"setu":   nil,
		"podero": {"sandbox", "production"},
		"doku":   {"sandbox", "production"},
		"dinie":  {"sandbox", "production"},
	}
	keys := data["keys"].([]string)
	if len(keys) != len(want) {
		t.Fatalf("keys = %v", keys)
	}
	providers := data["providers"].(map[string]any)
	for name, envs := range want {
		p, ok := providers[name].(map[string]any)
		if !ok {
			t.Fatalf("provider %s missing", name)
		}
		got := p["environments"].(map[string]any)
		if len(got) != len(envs) || p["token_url_required"] != (len(envs) == 0) {
			t.Errorf("%s: environments %v, token_url_required %v", name, got, p["token_url_required"])
		}
		for _, e := range envs {
			if url, _ := got[e].(map[string]any)["token_url"].(string); url == "" {
				t.Errorf("%s %s has no token URL", name, e)
			}
		}
	}
	if aliases := providers["dupr"].(map[string]any)["environments"].(map[string]any)["sandbox"].(map[string]any)["aliases"].([]string); len(aliases) != 1 || aliases[0] != "uat" {
		t.Errorf("DUPR sandbox aliases %v, want uat", aliases)
	}
	if _, ok := providers["doku"].(map[string]any)["fields"].(map[string]any)["valid_time"]; !ok {
		t.Error("doku does not list valid_time")
	}
}

func TestEnvironmentPicksTheDocumentedURL(t *testing.T) {
	env := newTestEnv(t)
	env.mustOK(logical.CreateOperation, "config/d", map[string]any{
		"provider": "dupr", "environment": "uat", "client_id": "ck-1", "client_secret": "cs-secret",
	})
	data := env.mustOK(logical.ReadOperation, "config/d", nil).Data
	if data["effective_token_url"] != "https://uat.mydupr.com/api/auth/v1.0/token" {
		t.Fatalf("effective_token_url = %v", data["effective_token_url"])
	}
	resp, err := env.request(logical.CreateOperation, "config/e", map[string]any{
		"provider": "dinie", "client_id": "a", "client_secret": "secret",
	})
	if err != nil || resp == nil || !resp.IsError() || resp.Error().Error() != "set environment (sandbox, production) or token_url to say which Dinie token endpoint to use" {
		t.Fatalf("got %v %v", resp, err)
	}
}
