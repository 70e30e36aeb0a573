package backend

import (
	"strings"
	"testing"

	"github.com/hashicorp/vault/sdk/logical"

	"github.com/partnertoken/vault-plugin-secrets-partnertoken/internal/partnersim"
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
	dinie := providers["dinie"].(map[string]any)["environments"].(map[string]any)
	for name, want := range map[string]string{
		"sandbox":    "https://sandbox.api.dinie.com.br/api/v3/auth/token",
		"production": "https://api.dinie.com.br/api/v3/auth/token",
	} {
		if got := dinie[name].(map[string]any)["token_url"]; got != want {
			t.Errorf("dinie %s token_url = %v, want %s", name, got, want)
		}
	}
	for name := range want {
		notice, deprecated := providers[name].(map[string]any)["deprecated"].(string)
		if deprecated != (name == "setu") {
			t.Errorf("%s deprecated = %q", name, notice)
		}
		if name == "setu" && !strings.Contains(notice, "https://docs.setu.co/investments/deposits/sdk-integration/generate-partner-token") {
			t.Errorf("setu's notice %q does not link the partner's page", notice)
		}
	}
}

// TestConfigWriteWarnsOfADeprecatedPartnerAPI checks that every write of a
// setu config returns Setu's deprecation notice as a Vault warning, and
// that other providers' writes carry none.
func TestConfigWriteWarnsOfADeprecatedPartnerAPI(t *testing.T) {
	env := newTestEnv(t)
	resp := env.mustOK(logical.CreateOperation, "config/s", map[string]any{
		"provider": "setu", "token_url": "https://fd.example/auth/token", "client_id": "setu-client", "client_secret": "setu-secret",
	})
	checkSetuWarning(t, resp)
	// An update that does not touch the provider warns again.
	checkSetuWarning(t, env.mustOK(logical.UpdateOperation, "config/s", map[string]any{"timeout": "5s"}))

	resp = env.mustOK(logical.CreateOperation, "config/d", map[string]any{
		"provider": "dupr", "environment": "uat", "client_id": "ck-1", "client_secret": "cs-secret",
	})
	if resp != nil && len(resp.Warnings) > 0 {
		t.Errorf("a dupr config write warns: %v", resp.Warnings)
	}
}

// TestVerifiedSetuWriteKeepsItsDataAndWarns verifies a setu config against
// the simulator: the answer has both the verification and the warning.
func TestVerifiedSetuWriteKeepsItsDataAndWarns(t *testing.T) {
	env := newTestEnv(t)
	sim := startSimulator(t, partnersim.Options{Now: env.clock.Now})
	data := simConfig(sim, partnersim.Setu, "")
	data["verify"] = true
	resp := env.mustOK(logical.CreateOperation, "config/s", data)
	if resp.Data["verified"] != true {
		t.Errorf("verified = %v", resp.Data["verified"])
	}
	checkSetuWarning(t, resp)
}

func checkSetuWarning(t *testing.T, resp *logical.Response) {
	t.Helper()
	if resp == nil || len(resp.Warnings) != 1 {
		t.Fatalf("response %v, want one warning", resp)
	}
	for _, want := range []string{"setu", "deprecated", "relevant only to integrations that have already been completed",
		"https://docs.setu.co/investments/deposits/sdk-integration/generate-partner-token"} {
		if !strings.Contains(resp.Warnings[0], want) {
			t.Errorf("warning %q does not say %q", resp.Warnings[0], want)
		}
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
