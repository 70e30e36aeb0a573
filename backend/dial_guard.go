package backend

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"sync"
	"syscall"
	"time"

	"github.com/hashicorp/vault/sdk/logical"
)

// dialGuard connects to partners only at addresses the mount allows. The
// check runs on the address the name resolved to, right before the
// connection is made, so DNS cannot rebind an allowed name to an internal
// address between the config write and the mint.
type dialGuard struct {
	// storage holds the mount's settings; set once the mount is attached.
	storage logical.Storage

	mu    sync.Mutex
	hosts *allowedHosts // nil until loaded from settings
}

// reset makes the next connection load the setting again.
func (g *dialGuard) reset() {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.hosts = nil
}

// allowed is the mount's current allowed_token_url_hosts.
func (g *dialGuard) allowed(ctx context.Context) (*allowedHosts, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.hosts != nil {
		return g.hosts, nil
	}
	s, err := readSettings(ctx, g.storage)
	if err != nil {
		return nil, err
	}
	hosts, err := parseAllowedHosts(s.AllowedTokenURLHosts)
	if err != nil {
		return nil, err
	}
	g.hosts = hosts
	return hosts, nil
}

// dialContext is the partner transport's DialContext. addr is the host and
// port of the URL (or of a proxy from the environment, which is then
// checked the same way).
func (g *dialGuard) dialContext(ctx context.Context, network, addr string) (net.Conn, error) {
	hosts, err := g.allowed(ctx)
	if err != nil {
		return nil, err
	}
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, err
	}
	if err := hosts.checkHost(host); err != nil {
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
func (g *dialGuard) proxy(req *http.Request) (*url.URL, error) {
	hosts, err := g.allowed(req.Context())
	if err != nil {
		return nil, err
	}
	if err := hosts.checkHost(req.URL.Hostname()); err != nil {
		return nil, err
	}
	return http.ProxyFromEnvironment(req)
}
