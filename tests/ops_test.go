package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/partnertoken/vault-plugin-secrets-partnertoken/tests/internal/metricsjson"
)

// TestStatusAndMetricsThroughVault reads status/ and metrics through a real
// Vault after mints and failures, and checks the numbers.
func TestStatusAndMetricsThroughVault(t *testing.T) {
	ctx := ctxFor(t)
	root := shared.root
	const good, bad = "ops-podero", "ops-refused"
	if err := configure(ctx, root, mount, good, "podero", shared.sim, nil); err != nil {
		t.Fatal(err)
	}
	if err := configure(ctx, root, mount, bad, "podero", shared.sim, map[string]any{"client_secret": "not-the-podero-secret"}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		root.delete(context.Background(), mount+"/config/"+good)
		root.delete(context.Background(), mount+"/config/"+bad)
	})
	first, err := readToken(ctx, root, mount, good)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := readToken(ctx, root, mount, good); err != nil {
		t.Fatal(err)
	}
	for range 2 { // the second is answered from the remembered refusal
		if _, err := readToken(ctx, root, mount, bad); statusOf(err) != http.StatusBadGateway {
			t.Fatalf("reading a refused config: %v, want HTTP 502", err)
		}
	}

	status, err := root.read(ctx, mount+"/status/"+good)
	if err != nil {
		t.Fatal(err)
	}
	for k, want := range map[string]any{"provider": "podero", "token_cached": true, "token_valid": true, "mint_count": float64(1), "refresh_scheduled": true} {
		if status.Data[k] != want {
			t.Errorf("status/%s %s = %v, want %v", good, k, status.Data[k], want)
		}
	}
	if status.Data["expires_at"] != first.ExpiresAt.UTC().Format("2006-01-02T15:04:05Z") {
		t.Errorf("status expires_at %v, token expires_at %v", status.Data["expires_at"], first.ExpiresAt)
	}
	refused, err := root.read(ctx, mount+"/status/"+bad)
	if err != nil {
		t.Fatal(err)
	}
	for k, want := range map[string]any{"token_cached": false, "mint_count": float64(0), "last_error_status": float64(401), "backoff": "credentials refused"} {
		if refused.Data[k] != want {
			t.Errorf("status/%s %s = %v, want %v", bad, k, refused.Data[k], want)
		}
	}
	list, err := root.list(ctx, mount+"/status")
	if err != nil {
		t.Fatal(err)
	}
	info, _ := list.Data["key_info"].(map[string]any)
	if line, _ := info[bad].(map[string]any); line["last_error_status"] != float64(401) {
		t.Errorf("LIST status/ line of %s: %v", bad, line)
	}

	metrics, err := root.read(ctx, mount+"/metrics")
	if err != nil {
		t.Fatal(err)
	}
	value := func(name, config, class string) float64 {
		labels := map[string]string{"config": config}
		if class != "" {
			labels["status_class"] = class
		}
		return metricsjson.Value(metrics.Data, name, labels)
	}
	for _, c := range []struct {
		name, config, class string
		want                float64
	}{
		{"partnertoken_mints_total", good, "", 1},
		{"partnertoken_cache_hits_total", good, "", 1},
		{"partnertoken_cache_misses_total", good, "", 1},
		{"partnertoken_mint_failures_total", bad, "refused", 1},
		{"partnertoken_mints_total", bad, "", 0},
	} {
		if got := value(c.name, c.config, c.class); got != c.want {
			t.Errorf("%s{config=%q} = %v, want %v", c.name, c.config, got, c.want)
		}
	}

	text := rawGet(t, ctx, root, mount+"/metrics?format=prometheus")
	if want := fmt.Sprintf(`partnertoken_mints_total{config=%q,provider="podero"} 1`, good); !strings.Contains(text, want) {
		t.Errorf("Prometheus text has no %q:\n%.2000s", want, text)
	}

	anonymous := &vaultClient{addr: root.addr, http: root.http}
	if _, err := anonymous.read(ctx, mount+"/metrics"); statusOf(err) != http.StatusForbidden {
		t.Errorf("metrics without a token: %v, want HTTP 403", err)
	}
}

// rawGet fetches a path whose answer is not Vault's JSON envelope.
func rawGet(t *testing.T, ctx context.Context, c *vaultClient, path string) string {
	t.Helper()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.addr+"/v1/"+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("X-Vault-Token", c.token)
	resp, err := c.http.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/plain") {
		t.Fatalf("GET %s: HTTP %d %s: %.500s", path, resp.StatusCode, resp.Header.Get("Content-Type"), body)
	}
	return string(body)
}

// TestOpenAPIThroughVault checks that Vault's OpenAPI document describes the
// whole API of the mount, with an operation ID and a description for each.
func TestOpenAPIThroughVault(t *testing.T) {
	ctx := ctxFor(t)
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, shared.root.addr+"/v1/sys/internal/specs/openapi", nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("X-Vault-Token", shared.root.token)
	resp, err := shared.root.http.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	type operation struct {
		OperationID string `json:"operationId"`
	}
	var doc struct {
		Paths map[string]struct {
			Description string     `json:"description"`
			Get         *operation `json:"get"`
			Post        *operation `json:"post"`
		} `json:"paths"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&doc); err != nil {
		t.Fatal(err)
	}
	want := map[string]string{
		"/" + mount + "/config/{name}":  "partnertoken-write-config",
		"/" + mount + "/token/{name}":   "partnertoken-read-token",
		"/" + mount + "/refresh/{name}": "partnertoken-refresh-token",
		"/" + mount + "/status/{name}":  "partnertoken-read-status",
		"/" + mount + "/providers":      "partnertoken-list-providers",
		"/" + mount + "/metrics":        "partnertoken-read-metrics",
		"/" + mount + "/settings":       "partnertoken-read-settings",
	}
	for path, id := range want {
		item, ok := doc.Paths[path]
		if !ok {
			t.Errorf("the OpenAPI document has no path %s", path)
			continue
		}
		var ids []string
		for _, op := range []*operation{item.Get, item.Post} {
			if op != nil {
				ids = append(ids, op.OperationID)
			}
		}
		if item.Description == "" || !slices.Contains(ids, id) {
			t.Errorf("%s: description %q, operations %v, want %s", path, item.Description, ids, id)
		}
	}
}
