package metricsjson

import (
	"encoding/json"
	"testing"
)

func TestValue(t *testing.T) {
	var data map[string]any
	if err := json.Unmarshal([]byte(`{"metrics": {
		"partnertoken_mints_total": {"type": "counter", "series": [
			{"config": "a", "provider": "dupr", "value": 3},
			{"config": "b", "provider": "setu", "value": 5}
		]},
		"partnertoken_mint_failures_total": {"type": "counter", "series": [
			{"config": "a", "provider": "dupr", "status_class": "network", "value": 1},
			{"config": "a", "provider": "dupr", "status_class": "refused", "value": 2}
		]}
	}}`), &data); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		family string
		labels map[string]string
		want   float64
	}{
		{"partnertoken_mints_total", map[string]string{"config": "b"}, 5},
		{"partnertoken_mints_total", map[string]string{"config": "a", "provider": "dupr"}, 3},
		{"partnertoken_mints_total", map[string]string{"config": "a", "provider": "setu"}, 0},
		{"partnertoken_mints_total", map[string]string{"config": "c"}, 0},
		{"partnertoken_mint_failures_total", map[string]string{"config": "a", "status_class": "refused"}, 2},
		{"partnertoken_cache_hits_total", map[string]string{"config": "a"}, 0},
	} {
		if got := Value(data, tc.family, tc.labels); got != tc.want {
			t.Errorf("Value(%s, %v) = %v, want %v", tc.family, tc.labels, got, tc.want)
		}
	}
}
