package backend

import (
	"fmt"
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/partnertoken/vault-plugin-secrets-partnertoken/internal/egress"
)

// What a config's client certificate shows operators: its subject and
// expiry in status/<name>, and a warning there and in the log from
// certificateWarning before it expires, so it is renewed at the partner
// before the partner starts refusing it.

// certificateWarning is how long before its client certificate expires a
// config warns (status/<name> and the log).
const certificateWarning = 14 * 24 * time.Hour

// certificateStatus describes cfg's client certificate for status/<name>;
// nil without one.
func certificateStatus(cfg *Config, now time.Time) map[string]any {
	if cfg.TLSClientCertificate == "" {
		return nil
	}
	// Unchecked: an expired certificate must still be described, and
	// warned about.
	leaf, err := egress.Leaf(cfg.TLSClientCertificate)
	if err != nil {
		return map[string]any{"tls_client_certificate_warning": err.Error()}
	}
	data := map[string]any{
		"tls_client_certificate_subject":    leaf.Subject.String(),
		"tls_client_certificate_expires_at": rfc3339(leaf.NotAfter),
	}
	if w := expiryWarning(leaf.NotAfter, now); w != "" {
		data["tls_client_certificate_warning"] = w
	}
	return data
}

// expiryWarning says how soon notAfter is, from certificateWarning before it.
func expiryWarning(notAfter, now time.Time) string {
	switch left := notAfter.Sub(now); {
	case left <= 0:
		return fmt.Sprintf("the TLS client certificate expired on %s: the partner refuses it; write a renewed tls_client_certificate and tls_client_key", rfc3339(notAfter))
	case left <= certificateWarning:
		return fmt.Sprintf("the TLS client certificate expires on %s, in %s: renew it at the partner and write the new tls_client_certificate and tls_client_key", rfc3339(notAfter), left.Round(time.Hour))
	}
	return ""
}

// expiryLog logs a config's expiring certificate at most once a day per
// node, however often the config mints.
type expiryLog struct {
	mu   sync.Mutex
	last map[string]time.Time
}

func (l *expiryLog) warn(logger hclog.Logger, name string, cfg *Config, now time.Time) {
	if cfg.TLSClientCertificate == "" {
		return
	}
	leaf, err := egress.Leaf(cfg.TLSClientCertificate)
	if err != nil {
		return
	}
	w := expiryWarning(leaf.NotAfter, now)
	if w == "" {
		return
	}
	l.mu.Lock()
	if now.Sub(l.last[name]) < 24*time.Hour {
		l.mu.Unlock()
		return
	}
	if l.last == nil {
		l.last = map[string]time.Time{}
	}
	l.last[name] = now
	l.mu.Unlock()
	logger.Warn("TLS client certificate expires soon", "config", name, "subject", leaf.Subject.String(),
		"expires_at", rfc3339(leaf.NotAfter), "warning", w)
}
