//go:build tools

// Package tools pins Puppet's oauthapp secrets plugin v3.1.1, the closest
// peer of partnertoken, built from the Go module proxy as an external plugin
// for the load benchmark's Raft comparison (scripts/bench.sh, mode raft):
//
//	cd tools/oauthapp && go build -o <dir>/vault-plugin-secrets-oauthapp github.com/puppetlabs/vault-plugin-secrets-oauthapp/v3/cmd/vault-plugin-secrets-oauthapp
package tools

import _ "github.com/puppetlabs/vault-plugin-secrets-oauthapp/v3/cmd/vault-plugin-secrets-oauthapp"
