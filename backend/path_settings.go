package backend

import (
	"context"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/hashicorp/vault/sdk/framework"
	"github.com/hashicorp/vault/sdk/logical"

	"github.com/partnertoken/vault-plugin-secrets-partnertoken/internal/egress"
)

const (
	// defaultRefreshRate bounds background refreshes per partner endpoint:
	// when many tokens of one partner fall due together (they were minted
	// together), the partner sees at most this many mints a second from
	// refresh ahead. Reads that find no valid token are never held back.
	defaultRefreshRate = 10
	// The range of outage_backoff_max: at least the first wait, and short
	// enough that a partner's return is noticed within the hour.
	minOutageBackoffMax = outageFirstWait
	maxOutageBackoffMax = time.Hour
)

const outageBackoffHelp = `Longest wait between two attempts at a partner that is down (no answer, a timeout or a 5xx after a mint's retries). ` +
	`Meanwhile reads that need a mint fail at once with a 502 saying when the next attempt is due, and one attempt at a time asks the partner, ` +
	`after a second, then twice as long each time up to this cap: reads succeed again at most this long after the partner returns ` +
	`(refresh/<name> tries at once). Between 1s and 1h; defaults to 30s.`

const allowedHostsHelp = `Token endpoints this mount may call: host names (partner.example.com), ` +
	`*.domain patterns (*.example.com, any host below example.com), IP addresses and CIDRs. ` +
	`Empty (the default) allows any host whose addresses are globally routable. When set, a token URL's host must match an entry. ` +
	`Addresses that are not globally routable (loopback, private, carrier-grade NAT and the other special-purpose ranges) ` +
	`are allowed only by an IP or CIDR entry that contains them; link-local, unspecified, multicast and broadcast addresses never. ` +
	`Checked when a config is written and again on the resolved address of every connection.`

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
			"outage_backoff_max": {
				Type:        framework.TypeDurationSecond,
				Description: outageBackoffHelp,
				Default:     int(defaultOutageBackoffMax / time.Second),
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
		HelpDescription: "refresh_rate bounds how many background refreshes a second one partner endpoint receives from this mount. outage_backoff_max caps the wait between attempts at a partner that is down: " + outageBackoffHelp + " allowed_token_url_hosts limits which token endpoints configs may use: " + allowedHostsHelp,
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
	return &logical.Response{Data: map[string]any{
		"refresh_rate":            s.RefreshRate,
		"allowed_token_url_hosts": hosts,
		"outage_backoff_max":      int64(s.OutageBackoffMax / time.Second),
	}}, nil
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
	if v, ok := d.GetOk("outage_backoff_max"); ok {
		s.OutageBackoffMax = time.Duration(v.(int)) * time.Second
	}
	if s.OutageBackoffMax < minOutageBackoffMax || s.OutageBackoffMax > maxOutageBackoffMax {
		return logical.ErrorResponse("outage_backoff_max must be between 1s and 1h"), nil
	}
	var hosts *egress.Allowlist
	if v, ok := d.GetOk("allowed_token_url_hosts"); ok {
		if hosts, err = egress.ParseAllowlist(v.([]string)); err != nil {
			return logical.ErrorResponse("%s", err.Error()), nil
		}
		s.AllowedTokenURLHosts = hosts.Entries()
	}
	if err := writeSettings(ctx, req.Storage, s); err != nil {
		return nil, err
	}
	b.settingsChanged()
	if hosts == nil {
		return nil, nil
	}
	refused, err := b.configsRefusedBy(ctx, req.Storage, hosts)
	var warning string
	switch {
	case err != nil:
		// The settings are written: an error would say they were not.
		warning = "the settings were written, but checking which configs they refuse failed: " + err.Error()
		b.Logger().Warn("settings written; checking which configs allowed_token_url_hosts refuses failed", "error", err.Error())
	case len(refused) == 0:
		return nil, nil
	default:
		warning = stranded(refused)
		b.Logger().Warn("allowed_token_url_hosts refuses the token endpoint of stored configs", "configs", len(refused), "warning", warning)
	}
	resp := &logical.Response{}
	resp.AddWarning(warning)
	return resp, nil
}

// configsRefusedBy lists the configs whose token endpoint hosts refuses.
// The allowlist is the operator's to narrow, so the write stands; but
// those configs keep serving their cached tokens only until they expire,
// and then every mint fails, so the writer learns which ones now.
func (b *backend) configsRefusedBy(ctx context.Context, storage logical.Storage, hosts *egress.Allowlist) ([]string, error) {
	names, err := listConfigs(ctx, storage)
	if err != nil {
		return nil, err
	}
	var refused []string
	for _, name := range names {
		cfg, err := readConfig(ctx, storage, name)
		if err != nil {
			return nil, err
		}
		if cfg == nil {
			continue
		}
		u, err := url.Parse(b.tokenURL(cfg))
		if err != nil || u.Host == "" {
			continue
		}
		if hosts.CheckHost(u.Hostname()) != nil {
			refused = append(refused, name)
		}
	}
	return refused, nil
}

// stranded is the warning for configs the new allowlist refuses, naming
// the first few.
func stranded(names []string) string {
	const shown = 10
	list := strings.Join(names[:min(len(names), shown)], ", ")
	if len(names) > shown {
		list += fmt.Sprintf(" and %d more", len(names)-shown)
	}
	return fmt.Sprintf("allowed_token_url_hosts now refuses the token endpoint of %d config(s): %s. "+
		"They serve their cached tokens until those expire, then every mint fails; "+
		"add their hosts to allowed_token_url_hosts or point their token_url elsewhere (config/<name> shows each one's)",
		len(names), list)
}
