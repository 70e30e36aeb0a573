package egress

import (
	"net/netip"
	"strings"
	"testing"
)

func TestAllowlistRules(t *testing.T) {
	tests := []struct {
		name    string
		allowed []string
		host    string // the token URL's host
		ip      string // the address it resolved to; empty for a literal host
		want    string // substring of the refusal; empty when allowed
	}{
		{"any public host is allowed when the list is empty", nil, "partner.example", "8.8.8.8", ""},
		{"a public IP literal is allowed when the list is empty", nil, "8.8.8.8", "", ""},
		{"the cloud metadata address is never allowed", nil, "169.254.169.254", "", "link-local address, which is never allowed"},
		{"a link-local address is refused even when a CIDR contains it", []string{"169.254.0.0/16"}, "169.254.169.254", "", "never allowed"},
		{"an IPv6 link-local address is refused", nil, "fe80::1", "", "link-local"},
		{"the unspecified address is refused", []string{"0.0.0.0/0"}, "0.0.0.0", "", "unspecified"},
		{"the IPv6 unspecified address is refused", nil, "::", "", "unspecified"},
		{"an address in 0.0.0.0/8 is refused", nil, "0.1.2.3", "", "unspecified"},
		{"a multicast address is refused", nil, "224.0.0.1", "", "multicast"},
		{"loopback is refused by default", nil, "127.0.0.1", "", "loopback address"},
		{"IPv6 loopback is refused by default", nil, "::1", "", "loopback address"},
		{"IPv4-mapped loopback is refused by default", nil, "::ffff:127.0.0.1", "", "loopback address"},
		{"loopback is allowed by an IP entry", []string{"127.0.0.1"}, "127.0.0.1", "", ""},
		{"loopback is allowed by a CIDR entry", []string{"127.0.0.0/8"}, "127.0.0.2", "", ""},
		{"another loopback address is not allowed by an IP entry", []string{"127.0.0.1"}, "127.0.0.2", "", "loopback address"},
		{"localhost is loopback", nil, "localhost", "", "loopback host"},
		{"localhost is allowed with a loopback IP entry", []string{"127.0.0.1", "localhost"}, "localhost", "", ""},
		{"an RFC 1918 address is refused by default", nil, "10.1.2.3", "", "private address"},
		{"an RFC 1918 address is allowed by a CIDR entry", []string{"10.0.0.0/8"}, "10.1.2.3", "", ""},
		{"an RFC 4193 address is refused by default", nil, "fd00::5", "", "private address"},
		{"a name resolving to loopback is refused (DNS rebinding)", nil, "partner.example", "127.0.0.1", "partner.example (resolved to 127.0.0.1) is a loopback address"},
		{"a name resolving to a private address needs a CIDR entry too", []string{"partner.example"}, "partner.example", "192.168.1.1", "private address"},
		{"a listed name resolving to an allowed private address is allowed", []string{"partner.internal", "192.168.0.0/16"}, "partner.internal", "192.168.1.1", ""},
		{"a name resolving to the metadata service is refused", []string{"partner.example"}, "partner.example", "169.254.169.254", "never allowed"},
		{"a listed name is allowed", []string{"partner.example"}, "partner.example", "8.8.8.8", ""},
		{"names match without regard to case or a final dot", []string{"Partner.Example"}, "PARTNER.example.", "8.8.8.8", ""},
		{"an unlisted name is refused when the list is set", []string{"partner.example"}, "other.example", "8.8.8.8", "host other.example is not in the mount's allowed_token_url_hosts (partner.example)"},
		{"a suffix pattern allows names below it", []string{"*.partner.example"}, "auth.eu.partner.example", "8.8.8.8", ""},
		{"a suffix pattern does not allow the domain itself", []string{"*.partner.example"}, "partner.example", "8.8.8.8", "not in the mount's allowed_token_url_hosts"},
		{"a suffix pattern does not allow a look-alike", []string{"*.partner.example"}, "evilpartner.example", "8.8.8.8", "not in the mount's allowed_token_url_hosts"},
		{"a public IP literal must be listed when the list is set", []string{"partner.example"}, "8.8.8.8", "", "address 8.8.8.8 is not in"},
		{"a public IP literal inside a listed CIDR is allowed", []string{"8.8.8.0/24"}, "8.8.8.8", "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			hosts, err := ParseAllowlist(tt.allowed)
			if err != nil {
				t.Fatal(err)
			}
			err = hosts.CheckHost(tt.host)
			if err == nil && tt.ip != "" {
				err = hosts.checkAddress(tt.host, netip.MustParseAddr(tt.ip))
			}
			switch {
			case tt.want == "" && err != nil:
				t.Fatalf("want allowed, got %v", err)
			case tt.want != "" && err == nil:
				t.Fatalf("want refused (%q), got allowed", tt.want)
			case tt.want != "" && !strings.Contains(err.Error(), tt.want):
				t.Fatalf("refusal %q does not contain %q", err, tt.want)
			}
		})
	}
}
