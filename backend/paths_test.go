package backend

import (
	"context"
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

// oasDocument is the engine's OpenAPI document as plain JSON values.
type oasDocument struct {
	Paths      map[string]map[string]any `json:"paths"`
	Components struct {
		Schemas map[string]struct {
			Properties map[string]map[string]any `json:"properties"`
		} `json:"schemas"`
	} `json:"components"`
}

// openAPIDocument asks a backend made by Factory, as Vault makes it, for
// its OpenAPI document.
func openAPIDocument(t *testing.T) *oasDocument {
	t.Helper()
	ctx := context.Background()
	conf := logical.TestBackendConfig()
	conf.StorageView = &logical.InmemStorage{}
	// The help operation asks Vault for its version.
	conf.System = &logical.StaticSystemView{PluginEnvironment: &logical.PluginEnvironment{}}
	b, err := Factory(ctx, conf)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Cleanup(ctx) })
	resp, err := b.HandleRequest(ctx, &logical.Request{Operation: logical.HelpOperation, Storage: conf.StorageView})
	if err != nil {
		t.Fatal(err)
	}
	oas, ok := resp.Data["openapi"].(*framework.OASDocument)
	if !ok {
		t.Fatalf("no OpenAPI document in the help response: %v", resp.Data)
	}
	raw, err := json.Marshal(oas)
	if err != nil {
		t.Fatal(err)
	}
	var doc oasDocument
	if err := json.Unmarshal(raw, &doc); err != nil {
		t.Fatal(err)
	}
	if len(doc.Paths) == 0 {
		t.Fatal("the OpenAPI document has no paths")
	}
	return &doc
}

// schemaProperties resolves a schema, inline or a $ref to a component.
func (d *oasDocument) schemaProperties(t *testing.T, schema any) map[string]map[string]any {
	t.Helper()
	s, _ := schema.(map[string]any)
	if ref, ok := s["$ref"].(string); ok {
		return d.Components.Schemas[strings.TrimPrefix(ref, "#/components/schemas/")].Properties
	}
	props := map[string]map[string]any{}
	if p, ok := s["properties"].(map[string]any); ok {
		for name, v := range p {
			props[name], _ = v.(map[string]any)
		}
	}
	return props
}

// requestFields are the body fields of method on path.
func (d *oasDocument) requestFields(t *testing.T, path, method string) map[string]map[string]any {
	t.Helper()
	op, _ := d.Paths[path][method].(map[string]any)
	body, _ := op["requestBody"].(map[string]any)
	content, _ := body["content"].(map[string]any)
	media, _ := content["application/json"].(map[string]any)
	return d.schemaProperties(t, media["schema"])
}

// operationFields are the query parameters and body fields of method on
// path; not the path's own parameters (the name).
func (d *oasDocument) operationFields(t *testing.T, path, method string) []string {
	t.Helper()
	op, _ := d.Paths[path][method].(map[string]any)
	var names []string
	params, _ := op["parameters"].([]any)
	for _, p := range params {
		if param, ok := p.(map[string]any); ok && param["in"] == "query" {
			names = append(names, param["name"].(string))
		}
	}
	for name := range d.requestFields(t, path, method) {
		names = append(names, name)
	}
	return names
}

// responseFields are the fields of the declared 200 answer of op.
func (d *oasDocument) responseFields(t *testing.T, op map[string]any) []string {
	t.Helper()
	responses, _ := op["responses"].(map[string]any)
	ok200, _ := responses["200"].(map[string]any)
	content, _ := ok200["content"].(map[string]any)
	media, _ := content["application/json"].(map[string]any)
	var names []string
	for name := range d.schemaProperties(t, media["schema"]) {
		names = append(names, name)
	}
	return names
}
