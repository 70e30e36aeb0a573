//go:build tools

// Package tools pins CycloneDX's cyclonedx-gomod, which `make release`
// (scripts/release.sh) builds from the Go module proxy to write the SBOM of
// the plugin binary:
//
//	cd tools/sbom && go build -o <dir>/cyclonedx-gomod github.com/CycloneDX/cyclonedx-gomod/cmd/cyclonedx-gomod
package tools

import _ "github.com/CycloneDX/cyclonedx-gomod/cmd/cyclonedx-gomod"
