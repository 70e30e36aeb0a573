package egress

import (
	"net/netip"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// TestSpecialPurposeAddresses checks every block of the IANA
// special-purpose registries, and the IPv4 addresses that NAT64, 6to4 and
// IPv4-mapped or -compatible IPv6 addresses carry, three ways: with the
// default empty allowlist, with a CIDR entry that contains the address the
// rules look at, and resolved from a listed name (the dial check).
func TestSpecialPurposeAddresses(t *testing.T) {
	tests := []struct {
		name string
		ip   string
		// listed is the entry that allows it: the address itself, or for
		// an address that carries an IPv4 address, that one.
		listed string
		// want is the refusal without an entry; empty when it is dialled.
		want string
		// never is set when no entry can allow it.
		never bool
	}{
		{"a public IPv4 address is dialled", "8.8.8.8", "8.8.8.8", "", false},
		{"a public IPv6 address is dialled", "2a00:1450:4001:80b::200e", "2a00:1450:4001:80b::200e", "", false},
		{"this network (0.0.0.0/8) is never dialled", "0.1.2.3", "0.1.2.3", "unspecified address", true},
		{"RFC 1918 10/8 needs an entry", "10.1.2.3", "10.1.2.3", "private address", false},
		{"carrier-grade NAT (100.64.0.0/10) needs an entry", "100.64.0.1", "100.64.0.1", "carrier-grade NAT address", false},
		{"a cloud metadata address in carrier-grade NAT space needs an entry", "100.100.100.200", "100.100.100.200", "carrier-grade NAT address", false},
		{"loopback (127/8) needs an entry", "127.9.9.9", "127.9.9.9", "loopback address", false},
		{"link-local (169.254/16) is never dialled", "169.254.169.254", "169.254.169.254", "link-local address", true},
		{"RFC 1918 172.16/12 needs an entry", "172.31.255.255", "172.31.255.255", "private address", false},
		{"IETF protocol assignments (192.0.0.0/24) need an entry", "192.0.0.8", "192.0.0.8", "reserved address", false},
		{"TEST-NET-1 (192.0.2.0/24) needs an entry", "192.0.2.1", "192.0.2.1", "documentation address", false},
		{"the deprecated 6to4 relay anycast (192.88.99.0/24) needs an entry", "192.88.99.1", "192.88.99.1", "6to4 relay address", false},
		{"RFC 1918 192.168/16 needs an entry", "192.168.1.1", "192.168.1.1", "private address", false},
		{"benchmarking (198.18.0.0/15) needs an entry", "198.19.0.1", "198.19.0.1", "benchmarking address", false},
		{"TEST-NET-2 (198.51.100.0/24) needs an entry", "198.51.100.1", "198.51.100.1", "documentation address", false},
		{"TEST-NET-3 (203.0.113.0/24) needs an entry", "203.0.113.7", "203.0.113.7", "documentation address", false},
		{"IPv4 multicast (224/4) is never dialled", "239.1.1.1", "239.1.1.1", "multicast address", true},
		{"reserved IPv4 (240/4) needs an entry", "240.0.0.1", "240.0.0.1", "reserved address", false},
		{"the limited broadcast address is never dialled", "255.255.255.255", "255.255.255.255", "broadcast address", true},

		{"the IPv6 unspecified address is never dialled", "::", "::", "unspecified address", true},
		{"IPv6 loopback needs an entry", "::1", "::1", "loopback address", false},
		{"IPv4-mapped loopback is checked as 127.0.0.1", "::ffff:127.0.0.1", "127.0.0.1", "the IPv4-mapped form of 127.0.0.1) is a loopback address", false},
		{"IPv4-mapped metadata is never dialled", "::ffff:169.254.169.254", "169.254.169.254", "link-local address", true},
		{"IPv4-mapped public address is dialled", "::ffff:8.8.8.8", "8.8.8.8", "", false},
		{"IPv4-compatible private address is checked as 10.0.0.1", "::a00:1", "10.0.0.1", "the IPv4-compatible form of 10.0.0.1) is a private address", false},
		{"IPv4-compatible metadata is never dialled", "::a9fe:a9fe", "169.254.169.254", "link-local address", true},
		{"NAT64 of a private address is checked as 10.0.0.1", "64:ff9b::a00:1", "10.0.0.1", "the NAT64 form of 10.0.0.1) is a private address", false},
		{"NAT64 of the metadata service is never dialled", "64:ff9b::a9fe:a9fe", "169.254.169.254", "link-local address", true},
		{"NAT64 of carrier-grade NAT needs an entry for the IPv4 address", "64:ff9b::6464:64c8", "100.100.100.200", "carrier-grade NAT address", false},
		{"NAT64 of a public address is dialled", "64:ff9b::808:808", "8.8.8.8", "", false},
		{"local-use NAT64 (/48 layout) of a private address is checked as 10.0.0.1", "64:ff9b:1:a00:0:100::", "10.0.0.1", "the local-use NAT64 form of 10.0.0.1) is a private address", false},
		{"local-use NAT64 (/48 layout) of the metadata service is never dialled", "64:ff9b:1:a9fe:a9:fe00::", "169.254.169.254", "link-local address", true},
		{"local-use NAT64 (/48 layout) of a public address is dialled", "64:ff9b:1:808:8:800::", "8.8.8.8", "", false},
		{"local-use NAT64 that is no RFC 6052 address needs an entry", "64:ff9b:1:808:108:800::", "64:ff9b:1::/48", "local-use NAT64 address", false},
		{"discard-only (100::/64) needs an entry", "100::1", "100::1", "discard-only address", false},
		{"IETF protocol assignments (2001::/23) need an entry", "2001:2::1", "2001:2::1", "reserved address", false},
		{"Teredo (2001::/32) needs an entry", "2001:0:4136:e378:8000:63bf:3fff:fdd2", "2001::/32", "reserved address", false},
		{"IPv6 documentation (2001:db8::/32) needs an entry", "2001:db8::1", "2001:db8::1", "documentation address", false},
		{"6to4 of a private address is checked as 10.0.0.1", "2002:a00:1::1", "10.0.0.1", "the 6to4 form of 10.0.0.1) is a private address", false},
		{"6to4 of the metadata service is never dialled", "2002:a9fe:a9fe::1", "169.254.169.254", "link-local address", true},
		{"6to4 of a public address is dialled", "2002:808:808::1", "8.8.8.8", "", false},
		{"IPv6 documentation (3fff::/20) needs an entry", "3fff::1", "3fff::1", "documentation address", false},
		{"segment routing SIDs (5f00::/16) need an entry", "5f00::1", "5f00::1", "reserved address", false},
		{"unique local (fc00::/7) needs an entry", "fd12::8", "fd12::8", "private address", false},
		{"IPv6 link-local is never dialled", "fe80::1", "fe80::1", "link-local address", true},
		{"IPv6 link-local with a zone is never dialled", "fe80::1%eth0", "fe80::1", "link-local address", true},
		{"deprecated site-local (fec0::/10) needs an entry", "fec0::1", "fec0::1", "site-local address", false},
		{"IPv6 multicast is never dialled", "ff02::1", "ff02::1", "multicast address", true},
		{"IPv6 outside 2000::/3 is reserved", "4000::1", "4000::1", "reserved address", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ip := netip.MustParseAddr(tt.ip)
			open, err := ParseAllowlist(nil)
			if err != nil {
				t.Fatal(err)
			}
			check(t, "without an entry", open.checkAddress(tt.ip, ip), tt.want)
			check(t, "resolved from a name", open.checkAddress("partner.example", ip), tt.want)

			listed, err := ParseAllowlist([]string{"partner.example", tt.listed})
			if err != nil {
				t.Fatal(err)
			}
			want := ""
			if tt.never {
				want = "never allowed"
			}
			check(t, "with "+tt.listed+" listed", listed.checkAddress(tt.ip, ip), want)
			check(t, "resolved from a listed name with "+tt.listed+" listed", listed.checkAddress("partner.example", ip), want)
		})
	}
}

// check fails the test unless err is nil for want "" or holds want.
func check(t *testing.T, what string, err error, want string) {
	t.Helper()
	switch {
	case want == "" && err != nil:
		t.Errorf("%s: want allowed, got %v", what, err)
	case want != "" && err == nil:
		t.Errorf("%s: want refused (%q), got allowed", what, want)
	case want != "" && !strings.Contains(err.Error(), want):
		t.Errorf("%s: refusal %q does not say %q", what, err, want)
	}
}

// TestSecurityDocListsEveryAddressRange keeps docs/security.md's table of
// addresses in step with the ranges the engine knows.
func TestSecurityDocListsEveryAddressRange(t *testing.T) {
	doc, err := os.ReadFile(filepath.Join("..", "..", "docs", "security.md"))
	if err != nil {
		t.Fatal(err)
	}
	documented := map[netip.Prefix]bool{}
	for _, m := range regexp.MustCompile("`([0-9a-f:.]+/[0-9]+)`").FindAllStringSubmatch(string(doc), -1) {
		if p, err := netip.ParsePrefix(m[1]); err == nil {
			documented[p] = true
		}
	}
	for _, r := range addressRanges {
		if r.prefix.Bits() > 0 && !documented[r.prefix] {
			t.Errorf("docs/security.md does not list `%s` (%s)", r.prefix, r.kind)
		}
	}
}
