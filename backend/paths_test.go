package backend

import (
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hashicorp/vault/sdk/framework"
	"github.com/hashicorp/vault/sdk/logical"
)

func TestNonCanonicalNamesAreRefusedOnEveryPath(t *testing.T) {
	env := newTestEnv(t)
	env.writeConfig("prod", nil)
	before := env.mustOK(logical.ReadOperation, "config/prod", nil).Data
	for _, tc := range []struct {
		op   logical.Operation
		path string
		data map[string]any
	}{
		{logical.ReadOperation, "token/PROD", nil},
		{logical.ReadOperation, "token/Prod", nil},
		{logical.UpdateOperation, "refresh/PROD", nil},
		{logical.ReadOperation, "status/PROD", nil},
		{logical.ReadOperation, "config/PROD", nil},
		{logical.UpdateOperation, "config/PrOd", map[string]any{"ttl": "5m"}},
		{logical.CreateOperation, "config/PrOd", map[string]any{"ttl": "5m"}},
		{logical.CreateOperation, "config/New", map[string]any{"provider": "oauth2", "token_url": env.partner.URL(), "client_id": "a", "client_secret": testClientSecret}},
		{logical.DeleteOperation, "config/PROD", nil},
	} {
		resp, err := env.request(tc.op, tc.path, tc.data)
		if err != nil || resp == nil || !resp.IsError() {
			t.Fatalf("%s %s: want a 400, got %v %v", tc.op, tc.path, resp, err)
		}
		if msg := resp.Error().Error(); !strings.Contains(msg, "lower-case letters") {
			t.Fatalf("%s %s: %q does not say what a name may contain", tc.op, tc.path, msg)
		}
	}
	if env.partner.requests() != 0 {
		t.Fatal("a refused name reached the partner")
	}
	after := env.mustOK(logical.ReadOperation, "config/prod", nil).Data
	if after["ttl"] != before["ttl"] {
		t.Fatalf("a write to config/PrOd changed config/prod: ttl %v -> %v", before["ttl"], after["ttl"])
	}
	if keys, _ := env.storage.List(t.Context(), configPrefix); len(keys) != 1 || keys[0] != "prod" {
		t.Fatalf("configs stored: %v", keys)
	}
	// Canonical names of every shape the pattern allows still work.
	for _, name := range []string{"prod", "team_a.prod-2", "x", "_internal"} {
		env.writeConfig(name, nil)
		env.readToken(name)
	}
}

func TestCanonicalName(t *testing.T) {
	for name, want := range map[string]bool{
		"prod": true, "p-1.eu_2": true, "x": true, "9": true,
		"Prod": false, "PROD": false, "prod-": false, ".prod": false, "pröd": false, "": false,
	} {
		if got := canonicalName.MatchString(name); got != want {
			t.Errorf("canonical(%q) = %v, want %v", name, got, want)
		}
	}
}

var update = flag.Bool("update", false, "rewrite golden files in testdata/")

func TestEveryPathAndFieldIsDocumented(t *testing.T) {
	env := newTestEnv(t)
	for _, p := range env.b.Paths {
		if p.HelpSynopsis == "" || p.HelpDescription == "" {
			t.Errorf("path %s has no help", p.Pattern)
		}
		if p.DisplayAttrs == nil || p.DisplayAttrs.OperationPrefix == "" {
			t.Errorf("path %s has no display attributes", p.Pattern)
		}
		for name, f := range p.Fields {
			if f.Description == "" {
				t.Errorf("field %s of %s has no description", name, p.Pattern)
			}
		}
	}
	help := env.mustOK(logical.HelpOperation, "config/x", nil)
	if text := help.Data["help"].(string); !strings.Contains(text, "client_secret") || !strings.Contains(text, "write-only") {
		t.Fatalf("path-help of config/x:\n%s", text)
	}
}

// TestOpenAPIDocument checks the OpenAPI document Vault serves for the
// mount (sys/internal/specs/openapi) against testdata/openapi.json.
// Regenerate with: go test ./backend -run OpenAPI -update
func TestOpenAPIDocument(t *testing.T) {
	env := newTestEnv(t)
	resp := env.mustOK(logical.HelpOperation, "", nil)
	doc, ok := resp.Data["openapi"].(*framework.OASDocument)
	if !ok {
		t.Fatalf("no OpenAPI document in %v", resp.Data)
	}
	for path, item := range doc.Paths {
		for method, op := range map[string]*framework.OASOperation{"get": item.Get, "post": item.Post, "delete": item.Delete} {
			if op != nil && op.OperationID == "" {
				t.Errorf("%s %s has no operationId", method, path)
			}
		}
	}
	got, err := json.MarshalIndent(doc, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	golden := filepath.Join("testdata", "openapi.json")
	if *update {
		if err := os.WriteFile(golden, append(got, '\n'), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatalf("%v (run go test ./backend -run OpenAPI -update)", err)
	}
	if strings.TrimSpace(string(want)) != strings.TrimSpace(string(got)) {
		t.Fatalf("the OpenAPI document changed; review it and run go test ./backend -run OpenAPI -update")
	}
}
