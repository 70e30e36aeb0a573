//go:build tools

// Package tools pins HashiCorp's KV secrets plugin, built from the Go module
// proxy as an external plugin for the load benchmark's KV baseline
// (scripts/bench.sh builds it into .cache/bench/plugins):
//
//	cd tools/kv && go build -o <dir>/vault-plugin-secrets-kv github.com/hashicorp/vault-plugin-secrets-kv/cmd/vault-plugin-secrets-kv
package tools

import _ "github.com/hashicorp/vault-plugin-secrets-kv/cmd/vault-plugin-secrets-kv"
