package egress

import (
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strings"

	"golang.org/x/net/idna"
)

// Allowlist is the mount's allowed_token_url_hosts setting, parsed. It
// stands between token_url and server-side request forgery: a config
// writer must not be able to point the engine (and its credentials, and
// verify's echo of the answer) at the cloud metadata service, Vault's own
// API on loopback, or a private network.
type Allowlist struct {
	entries  []string       // as written, for messages and reads
	names    []string       // exact host names, lower case
	suffixes []string       // ".example.com" for the entry "*.example.com"
	prefixes []netip.Prefix // IP entries as single-address prefixes, and CIDRs
}

// ErrRefused marks a token endpoint address the mount does not allow. A
// refused address stays refused, so a mint never retries it.
var ErrRefused = errors.New("token endpoint address refused")

// addressRefused wraps a rule's explanation so callers can tell it from a
// network failure.
type addressRefused struct{ msg string }

func (e *addressRefused) Error() string        { return e.msg }
func (e *addressRefused) Is(target error) bool { return target == ErrRefused }

func refuse(format string, args ...any) error {
	return &addressRefused{msg: fmt.Sprintf(format, args...)}
}

// ParseAllowlist parses the entries of allowed_token_url_hosts; its error
// names the entry that is none of the forms an entry may take.
func ParseAllowlist(entries []string) (*Allowlist, error) {
	a := &Allowlist{}
	for _, raw := range entries {
		entry := strings.ToLower(strings.TrimSpace(raw))
		if entry == "" {
			continue
		}
		a.entries = append(a.entries, entry)
		switch {
		case strings.Contains(entry, "/"):
			p, err := netip.ParsePrefix(entry)
			if err != nil {
				return nil, fmt.Errorf("allowed_token_url_hosts: %q is not a valid CIDR such as 10.1.0.0/16", raw)
			}
			a.prefixes = append(a.prefixes, p.Masked())
		case isIPLiteral(entry):
			ip, _ := netip.ParseAddr(strings.Trim(entry, "[]"))
			ip = ip.Unmap()
			a.prefixes = append(a.prefixes, netip.PrefixFrom(ip, ip.BitLen()))
		case strings.HasPrefix(entry, "*."):
			domain := strings.TrimSuffix(entry[2:], ".")
			if !validHostName(domain) {
				return nil, fmt.Errorf("allowed_token_url_hosts: %q is not a valid *.domain pattern such as *.example.com", raw)
			}
			a.suffixes = append(a.suffixes, "."+domain)
		default:
			name := strings.TrimSuffix(entry, ".")
			if !validHostName(name) {
				return nil, fmt.Errorf("allowed_token_url_hosts: %q is not a host name, *.domain pattern, IP address or CIDR", raw)
			}
			a.names = append(a.names, name)
		}
	}
	return a, nil
}

// isLoopbackHost is the one loopback rule, for the host of a token URL: a
// loopback address, or a localhost name, which resolves to loopback (RFC
// 6761 §6.3: localhost and every name below it), in any case and with or
// without the root's dot.
func isLoopbackHost(host string) bool {
	if ip, err := netip.ParseAddr(strings.Trim(host, "[]")); err == nil {
		return ip.Unmap().IsLoopback()
	}
	name := strings.TrimSuffix(strings.ToLower(host), ".")
	return name == "localhost" || strings.HasSuffix(name, ".localhost")
}

func isIPLiteral(host string) bool {
	_, err := netip.ParseAddr(strings.Trim(host, "[]"))
	return err == nil
}

// validHostName accepts DNS names: labels of letters, digits, hyphens and
// underscores, separated by dots, with no empty label and no port.
func validHostName(name string) bool {
	if name == "" || len(name) > 253 {
		return false
	}
	for label := range strings.SplitSeq(name, ".") {
		if label == "" || len(label) > 63 {
			return false
		}
		for _, r := range label {
			if !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '-' || r == '_') {
				return false
			}
		}
	}
	return true
}

// Entries are the entries as written, for the setting to store and show.
func (a *Allowlist) Entries() []string { return slices.Clone(a.entries) }

func (a *Allowlist) contains(ip netip.Addr) bool {
	for _, p := range a.prefixes {
		if p.Contains(ip) {
			return true
		}
	}
	return false
}

// matchesName reports whether a host name matches a name or suffix entry.
func (a *Allowlist) matchesName(host string) bool {
	host = strings.TrimSuffix(strings.ToLower(host), ".")
	for _, n := range a.names {
		if host == n {
			return true
		}
	}
	for _, s := range a.suffixes {
		if strings.HasSuffix(host, s) {
			return true
		}
	}
	return false
}

// CheckHost applies the rules that the host of a token URL alone decides:
// an IP literal is checked as an address; a name must match an entry when
// the list is set; localhost names are loopback (isLoopbackHost). It runs
// when a config is written and again before every connection.
func (a *Allowlist) CheckHost(host string) error {
	host = strings.Trim(host, "[]")
	if ip, err := netip.ParseAddr(host); err == nil {
		return a.checkAddress(host, ip)
	}
	if err := checkDNSName(host); err != nil {
		return err
	}
	name := strings.TrimSuffix(strings.ToLower(host), ".")
	if isLoopbackHost(name) {
		v4, v6 := netip.MustParseAddr("127.0.0.1"), netip.IPv6Loopback()
		if !a.contains(v4) && !a.contains(v6) {
			return refuse("%s is a loopback host: loopback and private addresses are refused unless allowed_token_url_hosts in the mount's settings has an IP or CIDR entry that contains them (such as 127.0.0.1)", host)
		}
	}
	if len(a.entries) > 0 && !a.matchesName(name) {
		return refuse("host %s is not in the mount's allowed_token_url_hosts (%s)", host, strings.Join(a.entries, ", "))
	}
	return nil
}

// checkDNSName refuses a host that is not an IP literal unless it is a
// DNS name as resolvers read one: labels of letters, digits, hyphens (not
// first or last) and underscores, and a last label that is not a number.
// Resolvers that follow inet_aton, and many proxies, read a host whose
// last label is a number (2852039166, 0xa9fea9fe, 0251.0376.0251.0376,
// 169.254.169.254.) as an IPv4 address, which the address rules would
// never see; the WHATWG URL standard reads them so too.
func checkDNSName(host string) error {
	ascii := strings.TrimSuffix(host, ".")
	if !isASCII(ascii) {
		// What Go's HTTP client dials for an internationalized name.
		var err error
		if ascii, err = idna.Lookup.ToASCII(ascii); err != nil {
			ascii = ""
		}
	}
	if ascii == "" || len(ascii) > 253 {
		return refuse("host %s is neither an IP address nor a DNS name (labels of letters, digits, hyphens and underscores, separated by dots)", host)
	}
	labels := strings.Split(strings.ToLower(ascii), ".")
	for _, label := range labels {
		if !dnsLabel(label) {
			return refuse("host %s is neither an IP address nor a DNS name: the label %q is not one (1 to 63 letters, digits, hyphens and underscores, not starting or ending with a hyphen)", host, label)
		}
	}
	if last := labels[len(labels)-1]; numericLabel(last) {
		return refuse("host %s is neither an IP address nor a DNS name: its last label %s is a number, which resolvers and proxies may read as an IPv4 address; write the address as four decimal numbers without leading zeros, or use the partner's DNS name", host, last)
	}
	return nil
}

func isASCII(s string) bool {
	for i := range len(s) {
		if s[i] >= 0x80 {
			return false
		}
	}
	return true
}

func dnsLabel(label string) bool {
	if label == "" || len(label) > 63 || label[0] == '-' || label[len(label)-1] == '-' {
		return false
	}
	for _, r := range label {
		if !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '-' || r == '_') {
			return false
		}
	}
	return true
}

// numericLabel reports whether label is a number in the eyes of an IPv4
// parser: decimal or octal digits, or 0x and hexadecimal digits (the
// WHATWG URL standard's "ends in a number").
func numericLabel(label string) bool {
	digits, base := label, "0123456789"
	if rest, ok := strings.CutPrefix(label, "0x"); ok {
		digits, base = rest, "0123456789abcdef"
	} else if digits == "" {
		return false
	}
	for _, r := range digits {
		if !strings.ContainsRune(base, r) {
			return false
		}
	}
	return true
}

// checkAddress applies the rules to ip, the address host resolved to (or
// host itself when it is an IP literal). It runs on every connection, after
// resolution, so a name that DNS rebinds to an internal address is refused.
func (a *Allowlist) checkAddress(host string, ip netip.Addr) error {
	class := classifyAddress(ip)
	switch class.block.rule {
	case neverDialled:
		return refuse("%s is %s address, which is never allowed", describe(host, ip, class), class.block.kind)
	case listedOnly:
		if !a.contains(class.addr) {
			return refuse("%s is %s address, which is refused unless allowed_token_url_hosts in the mount's settings has an IP or CIDR entry that contains it", describe(host, ip, class), class.block.kind)
		}
		return nil
	}
	if isIPLiteral(host) && len(a.entries) > 0 && !a.contains(class.addr) {
		return refuse("address %s is not in the mount's allowed_token_url_hosts (%s)", describe(host, ip, class), strings.Join(a.entries, ", "))
	}
	return nil
}

// describe names the address the rules looked at: as written or as host
// resolved to, and the IPv4 address it carries.
func describe(host string, ip netip.Addr, class addressClass) string {
	subject, notes := ip.String(), []string{}
	if !isIPLiteral(host) {
		subject, notes = host, append(notes, "resolved to "+ip.String())
	}
	if class.carrier != nil {
		kind := strings.TrimPrefix(strings.TrimPrefix(class.carrier.kind, "an "), "a ")
		notes = append(notes, fmt.Sprintf("the %s form of %s", kind, class.addr))
	}
	if len(notes) == 0 {
		return subject
	}
	return fmt.Sprintf("%s (%s)", subject, strings.Join(notes, ", "))
}
