package egress

import (
	"context"
	"crypto/x509"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"os"
	"strings"
	"testing"

	"github.com/hashicorp/go-hclog"
)

// allowing is an allowlist function that always answers entries, as the
// mount's setting would.
func allowing(t *testing.T, entries ...string) func(context.Context) (*Allowlist, error) {
	t.Helper()
	list, err := ParseAllowlist(entries)
	if err != nil {
		t.Fatal(err)
	}
	return func(context.Context) (*Allowlist, error) { return list, nil }
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
	srv := httptest.NewServer(http.NotFoundHandler())
	t.Cleanup(srv.Close)
	_, port, _ := net.SplitHostPort(strings.TrimPrefix(srv.URL, "http://"))
	byName := &guard{allowlist: allowing(t, name)}
	_, err = byName.dialContext(t.Context(), "tcp", net.JoinHostPort(name, port))
	if err == nil || !strings.Contains(err.Error(), name+" (resolved to 127.0.0.1) is a loopback address") {
		t.Fatalf("want the resolved loopback address refused, got %v", err)
	}
	byNameAndAddress := &guard{allowlist: allowing(t, name, "127.0.0.1", "::1")}
	conn, err := byNameAndAddress.dialContext(t.Context(), "tcp", net.JoinHostPort(name, port))
	if err != nil {
		t.Fatalf("allowed by name and address, the dial failed: %v", err)
	}
	conn.Close()
}

// TestProxiedRequestsAreCheckedByURL: through a proxy the dialer sees only
// the proxy, so the request's own host is checked before it is chosen.
func TestProxiedRequestsAreCheckedByURL(t *testing.T) {
	g := &guard{allowlist: allowing(t, "partner.example")}
	for url, allowed := range map[string]bool{
		"https://partner.example/token":  true,
		"https://other.example/token":    false,
		"https://169.254.169.254/token":  false,
		"http://127.0.0.1:8200/v1/token": false,
		"https://2852039166/token":       false, // 169.254.169.254 as one number, which a proxy may read so
	} {
		req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, url, nil)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := g.proxy(req); (err == nil) != allowed {
			t.Fatalf("%s: allowed=%v, got %v", url, allowed, err)
		}
	}
}

// TestResponseHeadersAreBounded: the client reads at most a small header
// block, as the provider reads at most 1 MiB of body; a partner (or
// something in front of it) sending more gets its answer refused.
func TestResponseHeadersAreBounded(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("X-Padding", strings.Repeat("p", 128<<10))
		io.WriteString(w, `{"access_token":"tok","expires_in":3600}`)
	}))
	t.Cleanup(srv.Close)
	client := NewClient(allowing(t, "127.0.0.1"), hclog.NewNullLogger(), nil)
	resp, err := client.Post(srv.URL, "application/x-www-form-urlencoded", strings.NewReader("grant_type=client_credentials"))
	if err == nil {
		resp.Body.Close()
		t.Fatalf("a 128 KiB header was read (status %d)", resp.StatusCode)
	}
	if !strings.Contains(err.Error(), "response headers exceeded 65536 bytes") {
		t.Fatalf("want the header bound named, got %v", err)
	}
}

// TestRedirectsAreNotFollowed: a redirect would carry the credentials to a
// URL the operator never configured; the client returns it as the answer.
func TestRedirectsAreNotFollowed(t *testing.T) {
	followed := false
	target := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { followed = true }))
	t.Cleanup(target.Close)
	srv := httptest.NewServer(http.RedirectHandler(target.URL+"/token", http.StatusTemporaryRedirect))
	t.Cleanup(srv.Close)
	client := NewClient(allowing(t, "127.0.0.1"), hclog.NewNullLogger(), nil)
	resp, err := client.Post(srv.URL, "application/x-www-form-urlencoded", strings.NewReader("client_secret=s3cret"))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusTemporaryRedirect || followed {
		t.Fatalf("status %d, followed %v: want the 307 itself, not followed", resp.StatusCode, followed)
	}
}

// TestATLSConfigKeepsTheGuard: a config's own TLS material changes whom
// the client trusts and what it presents, never where it may connect.
func TestATLSConfigKeepsTheGuard(t *testing.T) {
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		io.WriteString(w, `{"access_token":"tok","expires_in":3600}`)
	}))
	t.Cleanup(srv.Close)
	roots := x509.NewCertPool()
	roots.AddCert(srv.Certificate())
	trusting := TLSConfig(nil, roots)

	allowed := NewClient(allowing(t, "127.0.0.1"), hclog.NewNullLogger(), trusting)
	resp, err := allowed.Get(srv.URL)
	if err != nil {
		t.Fatalf("a config that trusts the server's CA, to an allowed address: %v", err)
	}
	resp.Body.Close()

	refused := NewClient(allowing(t, "partner.example"), hclog.NewNullLogger(), trusting)
	if _, err := refused.Get(srv.URL); !errors.Is(err, ErrRefused) {
		t.Fatalf("a config with TLS material of its own reached a loopback address the allowlist refuses: %v", err)
	}
}
