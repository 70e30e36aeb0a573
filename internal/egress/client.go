package egress

import (
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"runtime"
	"syscall"
	"time"

	"github.com/hashicorp/go-hclog"
)

// maxResponseHeaderBytes bounds the header block of a partner's answer, as
// the provider bounds its body: a token answer's headers are a few hundred
// bytes, and Go's default would let a partner, or something in front of
// it, hold ten megabytes of Vault's memory per request.
const maxResponseHeaderBytes = 64 << 10

// NewClient returns the client every partner request goes through. It
// connects only where allowlist, asked on every connection, allows (see
// guard); it refuses redirects, since following one would send the
// credentials to a URL the operator never configured (a 307 re-sends the
// body, custom auth headers survive any redirect); it bounds the header
// block of an answer; and it logs the shape of every request at debug
// level (requestLog). Its pool is go-cleanhttp's pooled transport, built
// here from the standard library. tlsConfig, when not nil, is a config's
// own (TLSConfig: its client certificate, its CAs): it changes whom the
// client trusts and what it presents, never where it may connect.
func NewClient(allowlist func(context.Context) (*Allowlist, error), logger hclog.Logger, tlsConfig *tls.Config) *http.Client {
	g := &guard{allowlist: allowlist}
	transport := &http.Transport{
		Proxy:                  g.proxy,
		DialContext:            g.dialContext,
		MaxIdleConns:           100,
		IdleConnTimeout:        90 * time.Second,
		TLSHandshakeTimeout:    10 * time.Second,
		ExpectContinueTimeout:  1 * time.Second,
		ForceAttemptHTTP2:      true,
		MaxIdleConnsPerHost:    runtime.GOMAXPROCS(0) + 1,
		MaxResponseHeaderBytes: maxResponseHeaderBytes,
		TLSClientConfig:        tlsConfig,
	}
	return &http.Client{
		Transport:     requestLog{next: transport, logger: logger},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}

// guard connects to partners only at addresses the allowlist allows. The
// check runs on the address the name resolved to, right before the
// connection is made, so DNS cannot rebind an allowed name to an internal
// address between the config write and the mint.
type guard struct {
	allowlist func(context.Context) (*Allowlist, error)
}

// dialContext is the partner transport's DialContext. addr is the host and
// port of the URL (or of a proxy from the environment, which is then
// checked the same way).
func (g *guard) dialContext(ctx context.Context, network, addr string) (net.Conn, error) {
	hosts, err := g.allowlist(ctx)
	if err != nil {
		return nil, err
	}
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, err
	}
	if err := hosts.CheckHost(host); err != nil {
		return nil, err
	}
	d := &net.Dialer{
		Timeout:   30 * time.Second,
		KeepAlive: 30 * time.Second,
		ControlContext: func(_ context.Context, _, resolved string, _ syscall.RawConn) error {
			ap, err := netip.ParseAddrPort(resolved)
			if err != nil {
				return fmt.Errorf("unexpected resolved address %q: %w", resolved, err)
			}
			return hosts.checkAddress(host, ap.Addr())
		},
	}
	return d.DialContext(ctx, network, addr)
}

// proxy is the partner transport's Proxy: it checks the host of every
// request's URL, which a proxy (when Vault's environment names one)
// resolves and connects to out of the dialer's sight, then picks the proxy
// from the environment as usual.
func (g *guard) proxy(req *http.Request) (*url.URL, error) {
	hosts, err := g.allowlist(req.Context())
	if err != nil {
		return nil, err
	}
	if err := hosts.CheckHost(req.URL.Hostname()); err != nil {
		return nil, err
	}
	return http.ProxyFromEnvironment(req)
}
