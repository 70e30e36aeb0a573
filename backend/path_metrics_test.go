package backend

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/vault/sdk/logical"
)

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
