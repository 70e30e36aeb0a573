package egress

import (
	"cmp"
	"net/netip"
	"slices"
)

// addressRule is what the mount does with an address, before its
// allowed_token_url_hosts are consulted.
type addressRule int

const (
	// globallyRoutable addresses are dialled unless the allowlist is set
	// and does not allow them.
	globallyRoutable addressRule = iota
	// listedOnly addresses are dialled only when an IP or CIDR entry of the
	// allowlist contains them.
	listedOnly
	// neverDialled addresses are refused whatever the allowlist says: none
	// is a partner's token endpoint (link-local holds the cloud metadata
	// service; Linux connects the unspecified address to the local host).
	neverDialled
	// carriesIPv4 addresses are checked as the IPv4 address they carry,
	// the one the packets end up at.
	carriesIPv4
)

// addressRange is one block of the IANA special-purpose address registries
// (https://www.iana.org/assignments/iana-ipv4-special-registry,
// https://www.iana.org/assignments/iana-ipv6-special-registry), of the
// multicast space, or of the IPv6 space outside global unicast.
type addressRange struct {
	prefix netip.Prefix
	// kind names the block in refusals: "a loopback" for
	// "127.0.0.1 is a loopback address".
	kind string
	rule addressRule
	// ipv4 reads the IPv4 address a carriesIPv4 address carries; false
	// when it carries none that its RFC lays out.
	ipv4 func(netip.Addr) (netip.Addr, bool)
}

// addressRanges are the blocks the rules know, most specific first, so
// that the first that contains an address is its block. An address in none
// of them is globally routable. A block the registry marks not globally
// reachable is listed whole, with the few anycast service addresses inside
// it that the registry marks reachable (such as PCP's and TURN's): none of
// them is a partner's token endpoint.
var addressRanges = mostSpecificFirst([]addressRange{
	// IPv4 (the registry, RFC 6890 and its updates).
	{mustPrefix("0.0.0.0/8"), "an unspecified", neverDialled, nil},        // "this network", RFC 791
	{mustPrefix("10.0.0.0/8"), "a private", listedOnly, nil},              // RFC 1918
	{mustPrefix("100.64.0.0/10"), "a carrier-grade NAT", listedOnly, nil}, // shared address space, RFC 6598
	{mustPrefix("127.0.0.0/8"), "a loopback", listedOnly, nil},
	{mustPrefix("169.254.0.0/16"), "a link-local", neverDialled, nil}, // RFC 3927
	{mustPrefix("172.16.0.0/12"), "a private", listedOnly, nil},
	{mustPrefix("192.0.0.0/24"), "a reserved", listedOnly, nil},      // IETF protocol assignments, RFC 6890
	{mustPrefix("192.0.2.0/24"), "a documentation", listedOnly, nil}, // TEST-NET-1, RFC 5737
	{mustPrefix("192.88.99.0/24"), "a 6to4 relay", listedOnly, nil},  // deprecated anycast, RFC 7526
	{mustPrefix("192.168.0.0/16"), "a private", listedOnly, nil},
	{mustPrefix("198.18.0.0/15"), "a benchmarking", listedOnly, nil},     // RFC 2544
	{mustPrefix("198.51.100.0/24"), "a documentation", listedOnly, nil},  // TEST-NET-2
	{mustPrefix("203.0.113.0/24"), "a documentation", listedOnly, nil},   // TEST-NET-3
	{mustPrefix("224.0.0.0/4"), "a multicast", neverDialled, nil},        // RFC 5771
	{mustPrefix("240.0.0.0/4"), "a reserved", listedOnly, nil},           // RFC 1112
	{mustPrefix("255.255.255.255/32"), "a broadcast", neverDialled, nil}, // RFC 919

	// IPv6 (the registry, and the address space: RFC 4291 §2.4).
	{mustPrefix("::/0"), "a reserved", listedOnly, nil}, // all but what follows: reserved by the IETF
	{mustPrefix("2000::/3"), "", globallyRoutable, nil}, // global unicast
	{mustPrefix("::/128"), "an unspecified", neverDialled, nil},
	{mustPrefix("::1/128"), "a loopback", listedOnly, nil},
	{mustPrefix("::ffff:0:0/96"), "an IPv4-mapped", carriesIPv4, lastFourBytes},   // RFC 4291 §2.5.5.2
	{mustPrefix("::/96"), "an IPv4-compatible", carriesIPv4, lastFourBytes},       // deprecated, RFC 4291 §2.5.5.1
	{mustPrefix("64:ff9b::/96"), "a NAT64", carriesIPv4, lastFourBytes},           // RFC 6052
	{mustPrefix("64:ff9b:1::/48"), "a local-use NAT64", carriesIPv4, rfc6052At48}, // RFC 8215
	{mustPrefix("100::/64"), "a discard-only", listedOnly, nil},                   // RFC 6666
	{mustPrefix("2001::/23"), "a reserved", listedOnly, nil},                      // IETF protocol assignments (Teredo, benchmarking, ORCHID), RFC 2928
	{mustPrefix("2001:db8::/32"), "a documentation", listedOnly, nil},             // RFC 3849
	{mustPrefix("2002::/16"), "a 6to4", carriesIPv4, sixToFour},                   // RFC 3056
	{mustPrefix("3fff::/20"), "a documentation", listedOnly, nil},                 // RFC 9637
	{mustPrefix("5f00::/16"), "a reserved", listedOnly, nil},                      // segment routing SIDs, RFC 9602
	{mustPrefix("fc00::/7"), "a private", listedOnly, nil},                        // unique local, RFC 4193
	{mustPrefix("fe80::/10"), "a link-local", neverDialled, nil},
	{mustPrefix("fec0::/10"), "a site-local", listedOnly, nil}, // deprecated, RFC 3879
	{mustPrefix("ff00::/8"), "a multicast", neverDialled, nil},
})

func mustPrefix(s string) netip.Prefix { return netip.MustParsePrefix(s) }

func mostSpecificFirst(ranges []addressRange) []addressRange {
	slices.SortStableFunc(ranges, func(a, b addressRange) int { return cmp.Compare(b.prefix.Bits(), a.prefix.Bits()) })
	return ranges
}

// globalRange is the block of every address no range lists.
var globalRange = addressRange{rule: globallyRoutable}

// rangeOf is the block ip belongs to.
func rangeOf(ip netip.Addr) addressRange {
	for _, r := range addressRanges {
		if r.prefix.Contains(ip) {
			return r
		}
	}
	return globalRange
}

// addressClass is what the rules make of one address.
type addressClass struct {
	// addr is the address the rules look at: the one dialled, or the IPv4
	// address it carries.
	addr netip.Addr
	// block is addr's range.
	block addressRange
	// carrier is the range of the dialled address when addr is the IPv4
	// address it carries; nil otherwise.
	carrier *addressRange
}

// classifyAddress is the one place that says what kind of address ip is,
// for the check of a token URL's IP literal at config write and of every
// resolved address at dial time.
func classifyAddress(ip netip.Addr) addressClass {
	ip = ip.WithZone("") // a zone would keep every prefix from containing it
	block := rangeOf(ip)
	if block.rule != carriesIPv4 {
		return addressClass{addr: ip, block: block}
	}
	v4, ok := block.ipv4(ip)
	if !ok {
		return addressClass{addr: ip, block: addressRange{prefix: block.prefix, kind: block.kind, rule: listedOnly}}
	}
	return addressClass{addr: v4, block: rangeOf(v4), carrier: &block}
}

// lastFourBytes is the IPv4 address in the low 32 bits: IPv4-mapped and
// -compatible addresses, and NAT64 addresses under a /96 prefix.
func lastFourBytes(ip netip.Addr) (netip.Addr, bool) {
	b := ip.As16()
	return netip.AddrFrom4([4]byte(b[12:16])), true
}

// rfc6052At48 is the IPv4 address of a NAT64 address under a /48 prefix
// (RFC 6052 §2.2): bits 48-63 and 72-87, around the u octet, which must be
// zero.
func rfc6052At48(ip netip.Addr) (netip.Addr, bool) {
	b := ip.As16()
	if b[8] != 0 {
		return netip.Addr{}, false
	}
	return netip.AddrFrom4([4]byte{b[6], b[7], b[9], b[10]}), true
}

// sixToFour is the IPv4 address of a 6to4 address, bits 16-47 (RFC 3056 §2).
func sixToFour(ip netip.Addr) (netip.Addr, bool) {
	b := ip.As16()
	return netip.AddrFrom4([4]byte(b[2:6])), true
}
