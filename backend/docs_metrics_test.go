package backend

import (
	"os"
	"regexp"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
)

// TestDocsListEveryMetric fails when the metrics table of
// docs/operations.md ("Metrics") misses a metric the engine serves, or
// lists one it no longer serves.
func TestDocsListEveryMetric(t *testing.T) {
	doc, err := os.ReadFile(operationsDoc)
	if err != nil {
		t.Fatal(err)
	}
	rows := map[string]bool{}
	for _, m := range regexp.MustCompile("(?m)^\\| `(partnertoken_[a-z_]+)` \\|").FindAllStringSubmatch(string(doc), -1) {
		rows[m[1]] = true
	}
	served := map[string]bool{}
	fqName := regexp.MustCompile(`fqName: "([^"]+)"`)
	descs := make(chan *prometheus.Desc, 100)
	for _, vec := range newMetrics().perConfig {
		vec.Describe(descs)
	}
	close(descs)
	for d := range descs {
		served[fqName.FindStringSubmatch(d.String())[1]] = true
	}
	for name := range served {
		if !rows[name] {
			t.Errorf("docs/operations.md has no row for %s", name)
		}
	}
	for name := range rows {
		if !served[name] {
			t.Errorf("docs/operations.md documents %s, which the engine does not serve", name)
		}
	}
	if len(served) == 0 {
		t.Fatal("no metrics found")
	}
}
