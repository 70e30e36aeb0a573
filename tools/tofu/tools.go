//go:build tools

// Package tools pins the OpenTofu that the end-to-end test of
// examples/terraform runs where no tofu is installed. It is built from the
// Go module proxy (scripts/get-terraform.sh), like Vault in tools/vault.
package tools

import _ "github.com/opentofu/opentofu/cmd/tofu"
