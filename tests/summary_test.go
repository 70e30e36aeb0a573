package e2e

import (
	"fmt"
	"os"
	"testing"
	"time"
)

// reportResult writes how the test ended, when it ends, to the file the
// variable resultEnv names (if set) for the summary of `make test`
// (scripts/test.sh): "passed|failed|skipped SECONDS WHY", WHY being the
// reason for a skip or a failure to start. The tests that need a tool the
// machine may lack report so: TestTerraform and TestPrometheus.
func reportResult(t *testing.T, resultEnv string, why *string) {
	path := os.Getenv(resultEnv)
	if path == "" {
		return
	}
	start := time.Now()
	// Registered first, so it runs after every other cleanup and sees
	// their failures too.
	t.Cleanup(func() {
		result := "passed"
		switch {
		case t.Failed():
			result = "failed"
		case t.Skipped():
			result = "skipped"
		}
		line := fmt.Sprintf("%s %d %s\n", result, int(time.Since(start).Seconds()), *why)
		if err := os.WriteFile(path, []byte(line), 0o600); err != nil {
			t.Errorf("writing the result for make test's summary: %v", err)
		}
	})
}
