package backend

import (
	"context"
	"sync"

	"github.com/hashicorp/vault/sdk/logical"

	"github.com/partnertoken/vault-plugin-secrets-partnertoken/internal/egress"
)

// allowlist is the mount's allowed_token_url_hosts, loaded from its
// settings on first use and again after every settings write (here or,
// through invalidate, on another node). The config writes check token URLs
// against it, and the partner client every connection.
type allowlist struct {
	storage logical.Storage

	mu   sync.Mutex
	list *egress.Allowlist // nil until loaded
}

// current is the mount's allowlist as its settings now say.
func (a *allowlist) current(ctx context.Context) (*egress.Allowlist, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.list != nil {
		return a.list, nil
	}
	s, err := readSettings(ctx, a.storage)
	if err != nil {
		return nil, err
	}
	list, err := egress.ParseAllowlist(s.AllowedTokenURLHosts)
	if err != nil {
		return nil, err
	}
	a.list = list
	return list, nil
}

// reset makes the next use load the setting again.
func (a *allowlist) reset() {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.list = nil
}
