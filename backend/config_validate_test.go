package backend

import (
	"net/http"
	"strings"
	"testing"

	"github.com/hashicorp/vault/sdk/logical"
)

// checkTokenURLRefused writes config/p with token_url url and checks that
// the answer is a 400 naming token_url and rule.
func (env *testEnv) checkTokenURLRefused(url, rule string) {
	env.t.Helper()
	resp, err := env.request(logical.CreateOperation, "config/p", map[string]any{
		"provider": "oauth2", "token_url": url, "client_id": testClientID, "client_secret": testClientSecret,
	})
	if err != nil || resp == nil || !resp.IsError() {
		env.t.Errorf("%s: want a 400, got %v %v", url, resp, err)
		return
	}
	if msg := resp.Error().Error(); !strings.Contains(msg, "token_url") || !strings.Contains(msg, rule) {
		env.t.Errorf("%s: message %q does not name token_url and %q", url, msg, rule)
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
		env.checkTokenURLRefused(url, want)
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

// TestHostsThatAreNotDNSNamesAreRefused: a host that is neither an IP
// literal nor a DNS name is refused at config write and by the partner
// client before a proxy is chosen, since a proxy (or a resolver) may read
// a numeric last label as an IPv4 address.
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
		env.checkTokenURLRefused(url, "is neither an IP address nor a DNS name")
		req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, url, nil)
		if err != nil {
			t.Fatal(err)
		}
		// The partner client refuses it too, before it picks a proxy.
		if resp, err := env.b.client.Do(req); err == nil || !strings.Contains(err.Error(), "is neither an IP address nor a DNS name") {
			if err == nil {
				resp.Body.Close()
			}
			t.Errorf("%s: the partner client allowed it (%v)", url, err)
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

// TestConfigWriteRefusesSpecialPurposeTokenURLs: the write-time half, with
// the default empty allowlist.
func TestConfigWriteRefusesSpecialPurposeTokenURLs(t *testing.T) {
	env := newTestEnv(t)
	env.mustOK(logical.UpdateOperation, "settings", map[string]any{"allowed_token_url_hosts": ""})
	for url, want := range map[string]string{
		"https://100.100.100.200/token":      "carrier-grade NAT address",
		"https://192.0.0.8/token":            "reserved address",
		"https://198.18.0.1/token":           "benchmarking address",
		"https://240.0.0.1/token":            "reserved address",
		"https://255.255.255.255/token":      "broadcast address",
		"https://[64:ff9b::a00:1]/token":     "(the NAT64 form of 10.0.0.1) is a private address",
		"https://[64:ff9b:1:a9fe:a9:fe00::]": "link-local address",
		"https://[2002:a00:1::1]/token":      "(the 6to4 form of 10.0.0.1) is a private address",
		"https://[::a00:1]/token":            "the IPv4-compatible form of 10.0.0.1) is a private address",
		"https://[fec0::1]/token":            "site-local address",
	} {
		env.checkTokenURLRefused(url, want)
	}
	if keys, _ := env.storage.List(t.Context(), configPrefix); len(keys) != 0 {
		t.Fatalf("refused writes stored %v", keys)
	}
	env.mustOK(logical.CreateOperation, "config/p", map[string]any{
		"provider": "oauth2", "token_url": "https://[64:ff9b::808:808]/token", "client_id": testClientID, "client_secret": testClientSecret,
	})
}
