//go:build tools

// Package tools pins the Prometheus server and promtool that `make test`
// runs: promtool checks and unit-tests the alerting rules, and the
// end-to-end suite runs a Prometheus server that scrapes the engine through
// Vault. Both are built from the Go module proxy, so a machine with only Go
// installed can obtain them.
package tools

import (
	_ "github.com/prometheus/prometheus/cmd/prometheus"
	_ "github.com/prometheus/prometheus/cmd/promtool"
)
