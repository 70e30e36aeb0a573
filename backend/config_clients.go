package backend

import (
	"crypto/tls"
	"crypto/x509"
	"net/http"
	"sync"
	"time"

	"github.com/partnertoken/vault-plugin-secrets-partnertoken/internal/egress"
)

// configClients are the HTTP clients of the configs that have TLS material
// of their own (a client certificate, a CA bundle); every other config
// shares the mount's client. Each is built like the mount's, with its dial
// guard, redirect refusal and response bounds, so a config's TLS material
// changes whom it trusts and what it presents, never where it may connect.
// A client is rebuilt when its config is rewritten, so a replaced
// certificate is never presented again, not even on a pooled connection.
type configClients struct {
	// build makes a client with a TLS configuration.
	build func(*tls.Config) *http.Client

	mu     sync.Mutex
	byName map[string]configClient
}

type configClient struct {
	configID string
	client   *http.Client
}

// get is the client for cfg, stored under name: nil (the mount's) when
// cfg has no TLS material of its own.
func (c *configClients) get(name string, cfg *Config, now time.Time) (*http.Client, error) {
	if cfg.TLSClientCertificate == "" && cfg.CACertificates == "" {
		c.drop(name)
		return nil, nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if cur, ok := c.byName[name]; ok && cur.configID == cfg.ID && cfg.ID != "" {
		return cur.client, nil
	}
	cert, err := cfg.clientCertificate(now)
	if err != nil {
		return nil, err
	}
	var roots *x509.CertPool
	if cfg.CACertificates != "" {
		pool, err := egress.ParseCACertificates(cfg.CACertificates, now)
		if err != nil {
			return nil, err
		}
		roots = pool
	}
	client := c.build(egress.TLSConfig(cert, roots))
	if cfg.ID == "" {
		// A config being verified, not stored yet: its client is not
		// the name's until the write stores it.
		return client, nil
	}
	if old, ok := c.byName[name]; ok {
		old.client.CloseIdleConnections()
	}
	if c.byName == nil {
		c.byName = map[string]configClient{}
	}
	c.byName[name] = configClient{configID: cfg.ID, client: client}
	return client, nil
}

// drop forgets name's client and closes its idle connections.
func (c *configClients) drop(name string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if old, ok := c.byName[name]; ok {
		old.client.CloseIdleConnections()
		delete(c.byName, name)
	}
}

// closeIdle closes every client's idle connections, when the mount stops.
func (c *configClients) closeIdle() {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, cur := range c.byName {
		cur.client.CloseIdleConnections()
	}
}
