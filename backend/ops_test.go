package backend

import (
	"context"
	"encoding/json"
	"flag"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hashicorp/vault/sdk/framework"
	"github.com/hashicorp/vault/sdk/logical"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

var update = flag.Bool("update", false, "rewrite golden files in testdata/")

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

func TestMetricsCountWhatHappened(t *testing.T) {
	env := newTestEnv(t)
	env.writeConfig("p", nil)
	arrived, release := env.partner.hold()
	done := make(chan struct{})
	for range 3 {
		go func() {
			env.request(logical.ReadOperation, "token/p", nil)
			done <- struct{}{}
		}()
	}
	<-arrived
	release()
	for range 3 {
		<-done
	}
	env.readToken("p")
	env.partner.failNext(http.StatusServiceUnavailable)
	env.partner.failNext(http.StatusForbidden)
	env.clock.Advance(time.Minute)
	env.request(logical.UpdateOperation, "refresh/p", nil)

	metrics := env.mustOK(logical.ReadOperation, "metrics", nil).Data["metrics"].(map[string]any)
	value := func(name string, labels map[string]string) float64 {
		family, ok := metrics[name].(map[string]any)
		if !ok {
			return 0
		}
		for _, s := range family["series"].([]map[string]any) {
			match := true
			for k, v := range labels {
				if s[k] != v {
					match = false
				}
			}
			if match {
				if v, ok := s["value"].(float64); ok {
					return v
				}
				return float64(s["count"].(uint64))
			}
		}
		return 0
	}
	p := map[string]string{"config": "p", "provider": "oauth2"}
	checks := map[string]float64{
		"partnertoken_mints_total":            1,
		"partnertoken_forced_refreshes_total": 1,
		"partnertoken_mint_duration_seconds":  2, // samples
	}
	// The concurrent readers that arrived while the mint was in flight are
	// misses that shared it; the later ones are hits.
	misses := value("partnertoken_cache_misses_total", p)
	if hits := value("partnertoken_cache_hits_total", p); misses < 1 || hits+misses != 4 {
		t.Errorf("hits %v + misses %v, want 4 reads with at least 1 miss", hits, misses)
	}
	if misses > 1 {
		checks["partnertoken_coalesced_requests_total"] = misses - 1
	}
	for name, want := range checks {
		if got := value(name, p); got != want {
			t.Errorf("%s = %v, want %v", name, got, want)
		}
	}
	if got := value("partnertoken_mint_failures_total", map[string]string{"config": "p", "status_class": "refused"}); got != 1 {
		t.Errorf("refused failures = %v, want 1", got)
	}

	resp := env.mustOK(logical.ReadOperation, "metrics", map[string]any{"format": "prometheus"})
	body := string(resp.Data[logical.HTTPRawBody].([]byte))
	if !strings.HasPrefix(resp.Data[logical.HTTPContentType].(string), "text/plain") ||
		!strings.Contains(body, `partnertoken_mints_total{config="p",provider="oauth2"} 1`) {
		t.Fatalf("prometheus format:\n%s", body)
	}
}

func TestEventsCarryOnlyTheConfigAndProvider(t *testing.T) {
	env := newTestEnv(t)
	events := logical.NewMockEventSender()
	env.events = events
	env.b = env.newBackend()
	env.writeConfig("p", nil)
	env.readToken("p")
	env.partner.failNext(http.StatusUnauthorized)
	env.clock.Advance(time.Minute)
	env.request(logical.UpdateOperation, "refresh/p", nil)

	events.Lock()
	defer events.Unlock()
	var types []string
	for _, e := range events.Events {
		types = append(types, string(e.Type))
		meta := e.Event.GetMetadata().AsMap()
		if meta["config"] != "p" || meta["provider"] != "oauth2" || len(meta) != 2 {
			t.Errorf("event %s metadata %v", e.Type, meta)
		}
	}
	if strings.Join(types, ",") != eventTokenMinted+","+eventCredentialsRefused {
		t.Fatalf("events %v", types)
	}
}

// unimplementedEvents answers like OpenBao, which has no events system.
type unimplementedEvents struct{ calls atomic.Int32 }

func (u *unimplementedEvents) SendEvent(context.Context, logical.EventType, *logical.EventData) error {
	u.calls.Add(1)
	return status.Error(codes.Unimplemented, "unknown service pb.Events")
}

func TestAServerWithoutEventsIsAskedOnce(t *testing.T) {
	env := newTestEnv(t)
	events := &unimplementedEvents{}
	env.events = events
	env.b = env.newBackend()
	env.writeConfig("p", nil)
	env.writeConfig("q", nil)
	env.readToken("p")
	env.readToken("q")
	if n := events.calls.Load(); n != 1 {
		t.Fatalf("two mints on a server without events sent %d events, want 1 (then none)", n)
	}
}

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
