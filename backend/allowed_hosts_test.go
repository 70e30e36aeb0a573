package backend

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/netip"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/hashicorp/vault/sdk/logical"
)

func TestAllowedHostsRules(t *testing.T) {
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
			hosts, err := parseAllowedHosts(tt.allowed)
			if err != nil {
				t.Fatal(err)
			}
			err = hosts.checkHost(tt.host)
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

func TestAllowedHostsSettingIsValidated(t *testing.T) {
	env := newTestEnv(t)
	for _, bad := range []string{"*", "*.", "partner.example:443", "10.0.0.0/33", "https://partner.example", "part ner.example", "a..b"} {
		resp, err := env.request(logical.UpdateOperation, "settings", map[string]any{"allowed_token_url_hosts": []string{bad}})
		if err != nil || resp == nil || !resp.IsError() || !strings.Contains(resp.Error().Error(), "allowed_token_url_hosts") {
			t.Fatalf("entry %q: want a 400 naming allowed_token_url_hosts, got %v %v", bad, resp, err)
		}
	}
	env.mustOK(logical.UpdateOperation, "settings", map[string]any{"allowed_token_url_hosts": "Partner.example, *.eu.example,10.0.0.0/8, ::1"})
	got := env.mustOK(logical.ReadOperation, "settings", nil).Data["allowed_token_url_hosts"]
	if want := []string{"partner.example", "*.eu.example", "10.0.0.0/8", "::1"}; !slices.Equal(got.([]string), want) {
		t.Fatalf("allowed_token_url_hosts = %v, want %v", got, want)
	}
	env.mustOK(logical.UpdateOperation, "settings", map[string]any{"allowed_token_url_hosts": ""})
	if got := env.mustOK(logical.ReadOperation, "settings", nil).Data["allowed_token_url_hosts"]; len(got.([]string)) != 0 {
		t.Fatalf("an empty value did not clear the list: %v", got)
	}
}

// TestConfigWriteRefusesForbiddenTokenURLs checks the write-time half: a
// 400 naming token_url and the rule, and nothing stored.
func TestConfigWriteRefusesForbiddenTokenURLs(t *testing.T) {
	env := newTestEnv(t)
	env.mustOK(logical.UpdateOperation, "settings", map[string]any{"allowed_token_url_hosts": ""})
	for url, want := range map[string]string{
		"https://169.254.169.254/latest/meta-data": "link-local address, which is never allowed",
		"https://[fe80::1]/token":                  "link-local",
		"https://0.0.0.0/token":                    "unspecified",
		"https://10.0.0.8/token":                   "private address",
		"https://[fd12::8]/token":                  "private address",
		"http://127.0.0.1:8200/v1/sys/health":      "loopback address",
		"http://localhost:8200/token":              "loopback host",
		env.partner.URL():                          "loopback address",
	} {
		resp, err := env.request(logical.CreateOperation, "config/p", map[string]any{
			"provider": "oauth2", "token_url": url, "client_id": testClientID, "client_secret": testClientSecret,
		})
		if err != nil || resp == nil || !resp.IsError() {
			t.Fatalf("%s: want a 400, got %v %v", url, resp, err)
		}
		if msg := resp.Error().Error(); !strings.Contains(msg, "token_url") || !strings.Contains(msg, want) {
			t.Fatalf("%s: message %q does not name token_url and %q", url, msg, want)
		}
		if keys, _ := env.storage.List(t.Context(), configPrefix); len(keys) != 0 {
			t.Fatalf("%s: a refused write stored %v", url, keys)
		}
	}
	if env.partner.requests() != 0 {
		t.Fatal("the partner was called")
	}
	// Allowed by an IP entry, the same URL is accepted.
	env.mustOK(logical.UpdateOperation, "settings", map[string]any{"allowed_token_url_hosts": "127.0.0.1"})
	env.writeConfig("p", nil)
	env.readToken("p")
}

// TestNarrowingSettingsWarnsOfStrandedConfigs: a settings write that
// refuses configs' token endpoints stands, and says which configs it
// strands; one that refuses none, or leaves the allowlist alone, says
// nothing.
func TestNarrowingSettingsWarnsOfStrandedConfigs(t *testing.T) {
	env := newTestEnv(t)
	env.writeConfig("loopback-a", nil)
	env.writeConfig("loopback-b", nil)
	env.mustOK(logical.CreateOperation, "config/public", map[string]any{
		"provider": "oauth2", "token_url": "https://auth.partner.example/token", "client_id": testClientID, "client_secret": testClientSecret,
	})
	resp := env.mustOK(logical.UpdateOperation, "settings", map[string]any{"allowed_token_url_hosts": "*.partner.example"})
	if resp == nil || len(resp.Warnings) != 1 {
		t.Fatalf("want one warning, got %v", resp)
	}
	warning := resp.Warnings[0]
	for _, want := range []string{"2 config(s): loopback-a, loopback-b.", "then every mint fails", "allowed_token_url_hosts"} {
		if !strings.Contains(warning, want) {
			t.Errorf("warning %q does not say %q", warning, want)
		}
	}
	if strings.Contains(warning, "public") {
		t.Errorf("warning %q names a config the allowlist still allows", warning)
	}
	if !strings.Contains(env.logs.String(), "loopback-a, loopback-b") {
		t.Error("the warning was not logged")
	}
	if got := env.mustOK(logical.ReadOperation, "settings", nil).Data["allowed_token_url_hosts"]; !slices.Equal(got.([]string), []string{"*.partner.example"}) {
		t.Fatalf("the write did not stand: %v", got)
	}
	for _, quiet := range []map[string]any{
		{"allowed_token_url_hosts": "127.0.0.1,*.partner.example"},
		{"refresh_rate": 5},
	} {
		if resp := env.mustOK(logical.UpdateOperation, "settings", quiet); resp != nil && len(resp.Warnings) > 0 {
			t.Errorf("%v: want no warning, got %v", quiet, resp.Warnings)
		}
	}
	if got := stranded([]string{"a", "b", "c", "d", "e", "f", "g", "h", "i", "j", "k", "l"}); !strings.Contains(got, "12 config(s): a, b, c, d, e, f, g, h, i, j and 2 more.") {
		t.Errorf("a long list: %q", got)
	}

	// A config that cannot be read makes the check fail, not the write.
	env.storage = configReadsFail{env.storage}
	resp = env.mustOK(logical.UpdateOperation, "settings", map[string]any{"allowed_token_url_hosts": "partner.example"})
	if resp == nil || len(resp.Warnings) != 1 || !strings.Contains(resp.Warnings[0], "the settings were written, but checking which configs they refuse failed") {
		t.Fatalf("want a warning that the check failed, got %v", resp)
	}
	if got := env.mustOK(logical.ReadOperation, "settings", nil).Data["allowed_token_url_hosts"]; !slices.Equal(got.([]string), []string{"partner.example"}) {
		t.Fatalf("the write did not stand: %v", got)
	}
}

// configReadsFail is storage whose config entries cannot be read.
type configReadsFail struct{ logical.Storage }

func (s configReadsFail) Get(ctx context.Context, key string) (*logical.StorageEntry, error) {
	if strings.HasPrefix(key, configPrefix) {
		return nil, errors.New("storage unavailable")
	}
	return s.Storage.Get(ctx, key)
}

// TestDialRefusesWhatSettingsNoLongerAllow checks the connect-time half: a
// config written while loopback was allowed stops reaching the partner
// once the setting changes, and the refusal is not retried.
func TestDialRefusesWhatSettingsNoLongerAllow(t *testing.T) {
	env := newTestEnv(t)
	env.writeConfig("p", nil)
	env.mustOK(logical.UpdateOperation, "settings", map[string]any{"allowed_token_url_hosts": "partner.example"})
	resp, err := env.request(logical.ReadOperation, "token/p", nil)
	if err == nil && !resp.IsError() {
		t.Fatalf("want the read refused, got %v", resp.Data)
	}
	msg := ""
	if err != nil {
		msg = err.Error()
	} else {
		msg = resp.Error().Error()
	}
	if !strings.Contains(msg, "127.0.0.1 is a loopback address") || !strings.Contains(msg, "allowed_token_url_hosts") || strings.Contains(msg, "attempts") {
		t.Fatalf("want one refused attempt naming the setting, got %q", msg)
	}
	if env.partner.requests() != 0 {
		t.Fatal("the partner was called")
	}
	// Settings written on another node reach the dial check through invalidate.
	entry, _ := logical.StorageEntryJSON(settingsKey, settings{RefreshRate: defaultRefreshRate, AllowedTokenURLHosts: []string{"127.0.0.1"}})
	if err := env.storage.Put(t.Context(), entry); err != nil {
		t.Fatal(err)
	}
	env.b.invalidate(t.Context(), settingsKey)
	env.readToken("p")
}

// TestDialChecksTheResolvedAddress dials this machine's host name (when it
// resolves to loopback, as a rebinding name would) with the name allowed:
// the connection is refused on the address the name resolved to.
func TestDialChecksTheResolvedAddress(t *testing.T) {
	name, err := os.Hostname()
	if err != nil {
		t.Skip(err)
	}
	addrs, err := net.LookupHost(name)
	if err != nil || len(addrs) == 0 || !netip.MustParseAddr(addrs[0]).IsLoopback() {
		t.Skipf("host name %q does not resolve to loopback here (%v %v)", name, addrs, err)
	}
	env := newTestEnv(t)
	_, port, _ := net.SplitHostPort(strings.TrimPrefix(env.partner.sim.URL(), "http://"))
	env.mustOK(logical.UpdateOperation, "settings", map[string]any{"allowed_token_url_hosts": name})
	_, err = env.b.guard.dialContext(t.Context(), "tcp", net.JoinHostPort(name, port))
	if err == nil || !strings.Contains(err.Error(), name+" (resolved to 127.0.0.1) is a loopback address") {
		t.Fatalf("want the resolved loopback address refused, got %v", err)
	}
	env.mustOK(logical.UpdateOperation, "settings", map[string]any{"allowed_token_url_hosts": name + ",127.0.0.1,::1"})
	conn, err := env.b.guard.dialContext(t.Context(), "tcp", net.JoinHostPort(name, port))
	if err != nil {
		t.Fatalf("allowed by name and address, the dial failed: %v", err)
	}
	conn.Close()
}

// TestProxiedRequestsAreCheckedByURL: through a proxy the dialer sees only
// the proxy, so the request's own host is checked before it is chosen.
func TestProxiedRequestsAreCheckedByURL(t *testing.T) {
	env := newTestEnv(t)
	env.mustOK(logical.UpdateOperation, "settings", map[string]any{"allowed_token_url_hosts": "partner.example"})
	for url, allowed := range map[string]bool{
		"https://partner.example/token":  true,
		"https://other.example/token":    false,
		"https://169.254.169.254/token":  false,
		"http://127.0.0.1:8200/v1/token": false,
	} {
		req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, url, nil)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := env.b.guard.proxy(req); (err == nil) != allowed {
			t.Fatalf("%s: allowed=%v, got %v", url, allowed, err)
		}
	}
}

// TestHostsThatAreNotDNSNamesAreRefused: a host that is neither an IP
// literal nor a DNS name is refused at config write and before a proxy is
// chosen, since a proxy (or a resolver) may read a numeric last label as an
// IPv4 address.
func TestHostsThatAreNotDNSNamesAreRefused(t *testing.T) {
	env := newTestEnv(t)
	env.mustOK(logical.UpdateOperation, "settings", map[string]any{"allowed_token_url_hosts": ""})
	for _, url := range []string{
		"https://2852039166/token",           // 169.254.169.254 as one decimal number
		"https://0xa9fea9fe/token",           // as one hexadecimal number
		"https://0251.0376.0251.0376/token",  // in octal parts
		"https://169.254.169.254./token",     // a literal with the root's dot
		"https://169.254.43518/token",        // the last two octets as one number
		"https://0x7f.1/token",               // a numeric last label after a hex one
		"https://partner.0x1f/token",         // a hexadecimal last label
		"https://010.0.0.1/token",            // leading zeros, octal to some readers
		"https://exa$mple.com/token",         // a character no DNS name has
		"https://partner..example/token",     // an empty label
		"https://-partner.example.com/token", // a label that starts with a hyphen
	} {
		resp, err := env.request(logical.CreateOperation, "config/p", map[string]any{
			"provider": "oauth2", "token_url": url, "client_id": testClientID, "client_secret": testClientSecret,
		})
		if err != nil || resp == nil || !resp.IsError() {
			t.Errorf("%s: want a 400, got %v %v", url, resp, err)
			continue
		}
		if msg := resp.Error().Error(); !strings.Contains(msg, "token_url") || !strings.Contains(msg, "is neither an IP address nor a DNS name") {
			t.Errorf("%s: message %q does not name token_url and the rule", url, msg)
		}
		req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, url, nil)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := env.b.guard.proxy(req); err == nil || !strings.Contains(err.Error(), "is neither an IP address nor a DNS name") {
			t.Errorf("%s: the proxy check allowed it (%v)", url, err)
		}
	}
	if keys, _ := env.storage.List(t.Context(), configPrefix); len(keys) != 0 {
		t.Fatalf("refused writes stored %v", keys)
	}
	for _, url := range []string{
		"https://partner.example./token", // an absolute name
		"https://auth-1.eu.partner.example/token",
		"https://Auth_EU.ab--cd.Partner.example/token",
		"https://0x1f.partner.example/token", // only the last label is read as a number
		"https://bücher.example/token",       // an internationalized name
		"https://[2a00:1450:4001:80b::200e]/token",
		"https://8.8.8.8/token",
	} {
		env.mustOK(logical.CreateOperation, "config/p", map[string]any{
			"provider": "oauth2", "token_url": url, "client_id": testClientID, "client_secret": testClientSecret,
		})
	}
}
