package backend

import (
	"context"
	"fmt"
	"net/url"
	"sync"

	"github.com/hashicorp/vault/sdk/framework"
	"github.com/hashicorp/vault/sdk/logical"
	"golang.org/x/time/rate"
)

const (
	settingsKey = "settings"
	// defaultRefreshRate bounds background refreshes per partner endpoint:
	// when many tokens of one partner fall due together (they were minted
	// together), the partner sees at most this many mints a second from
	// refresh ahead. Reads that find no valid token are never held back.
	defaultRefreshRate = 10
)

// settings are the mount-wide tunables (config/ holds the partners).
type settings struct {
	RefreshRate float64 `json:"refresh_rate"`
	// AllowedTokenURLHosts limits where token_url may point; see allowedHosts.
	AllowedTokenURLHosts []string `json:"allowed_token_url_hosts,omitempty"`
}

const allowedHostsHelp = `Token endpoints this mount may call: host names (partner.example.com), ` +
	`*.domain patterns (*.example.com, any host below example.com), IP addresses and CIDRs. ` +
	`Empty (the default) allows any public host. When set, a token URL's host must match an entry. ` +
	`Loopback and private addresses are allowed only by an IP or CIDR entry that contains them; ` +
	`link-local, unspecified and multicast addresses never. Checked when a config is written and ` +
	`again on the resolved address of every connection.`

func pathSettings(b *backend) []*framework.Path {
	return []*framework.Path{{
		Pattern: "settings$",
		DisplayAttrs: &framework.DisplayAttributes{
			OperationPrefix: operationPrefix,
			OperationSuffix: "settings",
		},
		Fields: map[string]*framework.FieldSchema{
			"refresh_rate": {
				Type:        framework.TypeFloat,
				Description: "Most background refreshes a second against one partner endpoint (token URL host), so tokens that fall due together are spread out. Reads that find no valid token are never held back. Defaults to 10.",
				Default:     defaultRefreshRate,
			},
			"allowed_token_url_hosts": {
				Type:        framework.TypeCommaStringSlice,
				Description: allowedHostsHelp,
			},
		},
		Operations: map[logical.Operation]framework.OperationHandler{
			logical.ReadOperation: &framework.PathOperation{
				Callback:     b.pathSettingsRead,
				DisplayAttrs: &framework.DisplayAttributes{OperationVerb: "read"},
			},
			logical.UpdateOperation: &framework.PathOperation{
				Callback:     b.pathSettingsWrite,
				DisplayAttrs: &framework.DisplayAttributes{OperationVerb: "write"},
			},
		},
		HelpSynopsis:    "Mount-wide tuning of the engine.",
		HelpDescription: "refresh_rate bounds how many background refreshes a second one partner endpoint receives from this mount. allowed_token_url_hosts limits which token endpoints configs may use: " + allowedHostsHelp,
	}}
}

func (b *backend) pathSettingsRead(ctx context.Context, req *logical.Request, _ *framework.FieldData) (*logical.Response, error) {
	s, err := readSettings(ctx, req.Storage)
	if err != nil {
		return nil, err
	}
	hosts := s.AllowedTokenURLHosts
	if hosts == nil {
		hosts = []string{}
	}
	return &logical.Response{Data: map[string]any{"refresh_rate": s.RefreshRate, "allowed_token_url_hosts": hosts}}, nil
}

func (b *backend) pathSettingsWrite(ctx context.Context, req *logical.Request, d *framework.FieldData) (*logical.Response, error) {
	if unknown := unknownFields(req.Data, d.Schema); len(unknown) > 0 {
		return logical.ErrorResponse("unknown field(s) %v", unknown), nil
	}
	s, err := readSettings(ctx, req.Storage)
	if err != nil {
		return nil, err
	}
	if v, ok := d.GetOk("refresh_rate"); ok {
		s.RefreshRate = v.(float64)
	}
	// The negated form also refuses NaN, which fails every comparison.
	if !(s.RefreshRate >= 0.01 && s.RefreshRate <= 10000) {
		return logical.ErrorResponse("refresh_rate must be between 0.01 and 10000 refreshes a second"), nil
	}
	if v, ok := d.GetOk("allowed_token_url_hosts"); ok {
		hosts, err := parseAllowedHosts(v.([]string))
		if err != nil {
			return logical.ErrorResponse("%s", err.Error()), nil
		}
		s.AllowedTokenURLHosts = hosts.entries
	}
	entry, err := logical.StorageEntryJSON(settingsKey, s)
	if err != nil {
		return nil, err
	}
	if err := req.Storage.Put(ctx, entry); err != nil {
		return nil, err
	}
	b.limits.reset()
	b.guard.reset()
	return nil, nil
}

func readSettings(ctx context.Context, s logical.Storage) (*settings, error) {
	out := &settings{RefreshRate: defaultRefreshRate}
	entry, err := s.Get(ctx, settingsKey)
	if err != nil {
		return nil, fmt.Errorf("reading settings: %w", err)
	}
	if entry != nil {
		if err := entry.DecodeJSON(out); err != nil {
			return nil, fmt.Errorf("decoding settings: %w", err)
		}
	}
	return out, nil
}

// refreshLimits holds one rate limiter per partner endpoint host.
type refreshLimits struct {
	b        *backend
	mu       sync.Mutex
	rate     float64 // 0 until loaded from storage
	limiters map[string]*rate.Limiter
}

func (l *refreshLimits) reset() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.rate, l.limiters = 0, nil
}

// wait blocks a background refresh until the partner at tokenURL may see it.
func (l *refreshLimits) wait(ctx context.Context, tokenURL string) error {
	limiter, err := l.limiter(ctx, tokenURL)
	if err != nil {
		return err
	}
	return limiter.Wait(ctx)
}

func (l *refreshLimits) limiter(ctx context.Context, tokenURL string) (*rate.Limiter, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.rate == 0 {
		s, err := readSettings(ctx, l.b.storage)
		if err != nil {
			return nil, err
		}
		l.rate, l.limiters = s.RefreshRate, map[string]*rate.Limiter{}
	}
	host := tokenURL
	if u, err := url.Parse(tokenURL); err == nil {
		host = u.Host
	}
	limiter, ok := l.limiters[host]
	if !ok {
		limiter = rate.NewLimiter(rate.Limit(l.rate), max(1, int(l.rate)))
		l.limiters[host] = limiter
	}
	return limiter, nil
}
