//go:build tools

// Package tools pins the Vault server that the dev environment and the
// end-to-end tests run. Vault is built from the Go module proxy so that a
// machine with only Go installed can obtain it.
package tools

import _ "github.com/hashicorp/vault"
