package backend

import (
	"context"
	"errors"
	"slices"
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

func TestOutageBackoffMaxIsValidated(t *testing.T) {
	env := newTestEnv(t)
	if got := env.mustOK(logical.ReadOperation, "settings", nil).Data["outage_backoff_max"]; got != int64(30) {
		t.Fatalf("default outage_backoff_max = %v, want 30 (seconds)", got)
	}
	for _, bad := range []any{0, "500ms", "2h"} {
		resp, err := env.request(logical.UpdateOperation, "settings", map[string]any{"outage_backoff_max": bad})
		if err != nil || resp == nil || !resp.IsError() || !strings.Contains(resp.Error().Error(), "outage_backoff_max must be between 1s and 1h") {
			t.Fatalf("outage_backoff_max=%v: want a 400 naming the range, got %v %v", bad, resp, err)
		}
	}
	env.mustOK(logical.UpdateOperation, "settings", map[string]any{"outage_backoff_max": "2m"})
	env.mustOK(logical.UpdateOperation, "settings", map[string]any{"refresh_rate": 3})
	if got := env.mustOK(logical.ReadOperation, "settings", nil).Data["outage_backoff_max"]; got != int64(120) {
		t.Fatalf("outage_backoff_max after writes = %v, want 120: a write changes only the fields it names", got)
	}
}

func TestAllowedHostsSettingIsValidated(t *testing.T) {
	env := newTestEnv(t)
	for _, bad := range []string{"*", "*.", "partner.example:443", "10.0.0.0/33", "https://partner.example", "part ner.example", "a..b"} {
		resp, err := env.request(logical.UpdateOperation, "settings", map[string]any{"allowed_token_url_hosts": []string{bad}})
		if err != nil || resp == nil || !resp.IsError() || !strings.Contains(resp.Error().Error(), "allowed_token_url_hosts") {
			t.Fatalf("entry %q: want a 400 naming allowed_token_url_hosts, got %v %v", bad, resp, err)
		}
	}
	env.mustOK(logical.UpdateOperation, "settings", map[string]any{"allowed_token_url_hosts": "Partner.example, *.eu.example,10.0.0.0/8, ::1"})
	got := env.mustOK(logical.ReadOperation, "settings", nil).Data["allowed_token_url_hosts"]
	if want := []string{"partner.example", "*.eu.example", "10.0.0.0/8", "::1"}; !slices.Equal(got.([]string), want) {
		t.Fatalf("allowed_token_url_hosts = %v, want %v", got, want)
	}
	env.mustOK(logical.UpdateOperation, "settings", map[string]any{"allowed_token_url_hosts": ""})
	if got := env.mustOK(logical.ReadOperation, "settings", nil).Data["allowed_token_url_hosts"]; len(got.([]string)) != 0 {
		t.Fatalf("an empty value did not clear the list: %v", got)
	}
}

// TestNarrowingSettingsWarnsOfStrandedConfigs: a settings write that
// refuses configs' token endpoints stands, and says which configs it
// strands; one that refuses none, or leaves the allowlist alone, says
// nothing.
func TestNarrowingSettingsWarnsOfStrandedConfigs(t *testing.T) {
	env := newTestEnv(t)
	env.writeConfig("loopback-a", nil)
	env.writeConfig("loopback-b", nil)
	env.mustOK(logical.CreateOperation, "config/public", map[string]any{
		"provider": "oauth2", "token_url": "https://auth.partner.example/token", "client_id": testClientID, "client_secret": testClientSecret,
	})
	resp := env.mustOK(logical.UpdateOperation, "settings", map[string]any{"allowed_token_url_hosts": "*.partner.example"})
	if resp == nil || len(resp.Warnings) != 1 {
		t.Fatalf("want one warning, got %v", resp)
	}
	warning := resp.Warnings[0]
	for _, want := range []string{"2 config(s): loopback-a, loopback-b.", "then every mint fails", "allowed_token_url_hosts"} {
		if !strings.Contains(warning, want) {
			t.Errorf("warning %q does not say %q", warning, want)
		}
	}
	if strings.Contains(warning, "public") {
		t.Errorf("warning %q names a config the allowlist still allows", warning)
	}
	if !strings.Contains(env.logs.String(), "loopback-a, loopback-b") {
		t.Error("the warning was not logged")
	}
	if got := env.mustOK(logical.ReadOperation, "settings", nil).Data["allowed_token_url_hosts"]; !slices.Equal(got.([]string), []string{"*.partner.example"}) {
		t.Fatalf("the write did not stand: %v", got)
	}
	for _, quiet := range []map[string]any{
		{"allowed_token_url_hosts": "127.0.0.1,*.partner.example"},
		{"refresh_rate": 5},
	} {
		if resp := env.mustOK(logical.UpdateOperation, "settings", quiet); resp != nil && len(resp.Warnings) > 0 {
			t.Errorf("%v: want no warning, got %v", quiet, resp.Warnings)
		}
	}
	if got := stranded([]string{"a", "b", "c", "d", "e", "f", "g", "h", "i", "j", "k", "l"}); !strings.Contains(got, "12 config(s): a, b, c, d, e, f, g, h, i, j and 2 more.") {
		t.Errorf("a long list: %q", got)
	}

	// A config that cannot be read makes the check fail, not the write.
	env.storage = configReadsFail{env.storage}
	resp = env.mustOK(logical.UpdateOperation, "settings", map[string]any{"allowed_token_url_hosts": "partner.example"})
	if resp == nil || len(resp.Warnings) != 1 || !strings.Contains(resp.Warnings[0], "the settings were written, but checking which configs they refuse failed") {
		t.Fatalf("want a warning that the check failed, got %v", resp)
	}
	if got := env.mustOK(logical.ReadOperation, "settings", nil).Data["allowed_token_url_hosts"]; !slices.Equal(got.([]string), []string{"partner.example"}) {
		t.Fatalf("the write did not stand: %v", got)
	}
}

// configReadsFail is storage whose config entries cannot be read.
type configReadsFail struct{ logical.Storage }

func (s configReadsFail) Get(ctx context.Context, key string) (*logical.StorageEntry, error) {
	if strings.HasPrefix(key, configPrefix) {
		return nil, errors.New("storage unavailable")
	}
	return s.Storage.Get(ctx, key)
}

// TestDialRefusesWhatSettingsNoLongerAllow checks the connect-time half: a
// config written while loopback was allowed stops reaching the partner
// once the setting changes, and the refusal is not retried.
func TestDialRefusesWhatSettingsNoLongerAllow(t *testing.T) {
	env := newTestEnv(t)
	env.writeConfig("p", nil)
	env.mustOK(logical.UpdateOperation, "settings", map[string]any{"allowed_token_url_hosts": "partner.example"})
	resp, err := env.request(logical.ReadOperation, "token/p", nil)
	if err == nil && !resp.IsError() {
		t.Fatalf("want the read refused, got %v", resp.Data)
	}
	msg := ""
	if err != nil {
		msg = err.Error()
	} else {
		msg = resp.Error().Error()
	}
	if !strings.Contains(msg, "127.0.0.1 is a loopback address") || !strings.Contains(msg, "allowed_token_url_hosts") || strings.Contains(msg, "attempts") {
		t.Fatalf("want one refused attempt naming the setting, got %q", msg)
	}
	if env.partner.requests() != 0 {
		t.Fatal("the partner was called")
	}
	// Settings written on another node reach the dial check through invalidate.
	entry, _ := logical.StorageEntryJSON(settingsKey, settings{RefreshRate: defaultRefreshRate, AllowedTokenURLHosts: []string{"127.0.0.1"}})
	if err := env.storage.Put(t.Context(), entry); err != nil {
		t.Fatal(err)
	}
	env.b.invalidate(t.Context(), settingsKey)
	env.readToken("p")
}
