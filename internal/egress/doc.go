// Package egress decides where the engine may connect, and connects only
// there. It holds the mount's allowlist of token endpoints
// (allowed_token_url_hosts) and the address rules no setting can lift
// (Allowlist, address_ranges.go), the check of a token URL when a config
// is written (CheckTokenURL), and the HTTP client every partner request
// goes through (NewClient), which checks the resolved address of every
// connection again.
//
// It depends on nothing else of the engine: it imports the standard
// library, hclog for the request log and golang.org/x/net/idna (the
// lookup Go's HTTP client itself applies to a non-ASCII host), which
// TestEgressImportsNothingElse holds it to.
package egress
