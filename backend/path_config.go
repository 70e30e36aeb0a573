package backend

import (
	"context"
	"fmt"
	"maps"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/hashicorp/vault/sdk/framework"
	"github.com/hashicorp/vault/sdk/logical"

	"github.com/partnertoken/vault-plugin-secrets-partnertoken/provider"
)

const pathConfigHelpSyn = `Store a partner's client credentials and how its tokens are leased.`

const pathConfigHelpDesc = `
Each config holds one partner client: the provider kind, where its token
endpoint is (a documented environment or token_url), the client id and the
client secret. The secret is write-only: reads show only that it is set.

Writes merge with the stored config. Changing provider, environment or
token_url requires client_secret in the same write, and drops a stored
next_client_secret unless the write supplies one, so a stored secret is
never sent to an endpoint it was not written for. Every write and delete
drops the cached token: the next read mints with the new settings.
`

// commonConfigFields are the config fields every provider has.
func commonConfigFields() map[string]*framework.FieldSchema {
	return map[string]*framework.FieldSchema{
		"name": nameField("Name of the config; tokens are read from token/<name>."),
		"provider": {
			Type:        framework.TypeString,
			Description: "Kind of partner token endpoint, such as oauth2. Required when creating; `vault read <mount>/providers` lists them.",
		},
		"environment": {
			Type:        framework.TypeString,
			Description: "Documented environment of the partner whose token URL to use, such as sandbox or production. Ignored for the URL when token_url is set.",
		},
		"token_url": {
			Type:        framework.TypeString,
			Description: "Full URL of the token endpoint, overriding the environment's. Must be https; plain http is accepted only for loopback hosts. Its host must be allowed by the mount's settings (allowed_token_url_hosts): link-local, unspecified and multicast addresses are always refused, loopback and private ones unless an IP or CIDR entry allows them.",
		},
		"client_id": {
			Type:        framework.TypeString,
			Description: "Client id (key) the partner issued.",
		},
		"client_secret": {
			Type:        framework.TypeString,
			Description: "Client secret the partner issued. Write-only: never returned or logged.",
			DisplayAttrs: &framework.DisplayAttributes{
				Sensitive: true,
			},
		},
		"next_client_secret": {
			Type:        framework.TypeString,
			Description: "The partner's next client secret during a rotation. It is tried when the partner refuses client_secret and replaces it once it works. Write-only. A write that changes provider, environment or token_url drops it unless the same write supplies it.",
			DisplayAttrs: &framework.DisplayAttributes{
				Sensitive: true,
			},
		},
		"verify": {
			Type:        framework.TypeBool,
			Description: "Mint a token with the new settings before storing them, and refuse the write with the partner's message if that fails. Not stored.",
		},
		"refusal_backoff": {
			Type:        framework.TypeDurationSecond,
			Description: "How long a refusal of the credentials (HTTP 400, 401 or 403) is remembered: until then reads fail at once instead of asking the partner again. Defaults to 30s; 0 disables it. A config write clears it.",
			Default:     int(defaultRefusalBackoff / time.Second),
		},
		"ttl": {
			Type:        framework.TypeDurationSecond,
			Description: "Longest lease handed to a reader. 0 (the default) leases for as long as the token stays valid, less the expiry margin.",
		},
		"max_ttl": {
			Type:        framework.TypeDurationSecond,
			Description: "Hard cap on any lease handed to a reader, on top of ttl and the mount's max_lease_ttl. 0 means no cap of its own.",
		},
		"timeout": {
			Type:        framework.TypeDurationSecond,
			Description: "Budget for one mint, the partner's answer included. Defaults to 10s.",
			Default:     int(defaultTimeout / time.Second),
		},
		"refresh_fraction": {
			Type:        framework.TypeFloat,
			Description: "Share of a token's lifetime after which a replacement is minted in the background while readers keep the current one, between 0.1 and 0.95. Defaults to 0.8.",
			Default:     defaultRefreshFraction,
		},
		"expiry_margin": {
			Type:        framework.TypeDurationSecond,
			Description: "How long before the token expires every lease on it ends. 0 (the default) uses 10% of the token's lifetime, at least 5s and at most 5m.",
		},
		"lease_mode": {
			Type:          framework.TypeString,
			Description:   "per_read (the default): every read of token/<name> is a Vault lease. none: reads return the token with no lease, with ttl (seconds until it is worth reading again) and rotation_period, for readers that read on every request and can use neither Vault Proxy nor Vault Agent; see docs/reading-at-high-rates.md.",
			AllowedValues: []any{leaseModePerRead, leaseModeNone},
			Default:       leaseModePerRead,
		},
		"lease_renewable": {
			Type:        framework.TypeBool,
			Description: "Whether per_read leases are renewable (the default): a renewal never extends a lease past its first end, before the token expires, but lets Vault Proxy's cache serve one lease to many reads. false hands out non-renewable leases.",
			Default:     true,
		},
	}
}

// configFields are the common fields plus every provider's own fields. A
// field several providers share is declared once and says so.
func configFields(providers provider.Registry) map[string]*framework.FieldSchema {
	fields := commonConfigFields()
	owners := map[string][]string{}
	specs := map[string]provider.Field{}
	for _, name := range providers.Names() {
		for _, f := range providers[name].Spec().Fields {
			owners[f.Name] = append(owners[f.Name], name)
			if _, seen := specs[f.Name]; !seen {
				specs[f.Name] = f
			}
		}
	}
	for fieldName, f := range specs {
		if _, common := fields[fieldName]; common {
			continue
		}
		schema := &framework.FieldSchema{
			Type:        fieldType(f.Type),
			Description: fmt.Sprintf("(%s only) %s", strings.Join(owners[fieldName], ", "), f.Description),
		}
		if len(f.Allowed) > 0 {
			schema.AllowedValues = make([]any, len(f.Allowed))
			for i, v := range f.Allowed {
				schema.AllowedValues[i] = v
			}
		}
		fields[fieldName] = schema
	}
	return fields
}

func fieldType(t provider.FieldType) framework.FieldType {
	switch t {
	case provider.StringList:
		return framework.TypeCommaStringSlice
	case provider.StringMap:
		return framework.TypeKVPairs
	default:
		return framework.TypeString
	}
}

func pathConfig(b *backend) []*framework.Path {
	return []*framework.Path{
		{
			Pattern: "config/" + framework.GenericNameRegex("name"),
			DisplayAttrs: &framework.DisplayAttributes{
				OperationPrefix: operationPrefix,
				OperationSuffix: "config",
			},
			Fields:         configFields(b.providers),
			ExistenceCheck: b.pathConfigExists,
			Operations: map[logical.Operation]framework.OperationHandler{
				logical.CreateOperation: &framework.PathOperation{
					Callback: b.pathConfigWrite,
					DisplayAttrs: &framework.DisplayAttributes{
						OperationVerb: "write",
					},
					// verify=true calls the partner before the storage
					// write; forwarding first keeps it to one call.
					ForwardPerformanceStandby:   true,
					ForwardPerformanceSecondary: true,
				},
				logical.UpdateOperation: &framework.PathOperation{
					Callback: b.pathConfigWrite,
					DisplayAttrs: &framework.DisplayAttributes{
						OperationVerb: "write",
					},
					// verify=true calls the partner before the storage
					// write; forwarding first keeps it to one call.
					ForwardPerformanceStandby:   true,
					ForwardPerformanceSecondary: true,
				},
				logical.ReadOperation: &framework.PathOperation{
					Callback: b.pathConfigRead,
					DisplayAttrs: &framework.DisplayAttributes{
						OperationVerb: "read",
					},
				},
				logical.DeleteOperation: &framework.PathOperation{
					Callback: b.pathConfigDelete,
					DisplayAttrs: &framework.DisplayAttributes{
						OperationVerb: "delete",
					},
				},
			},
			HelpSynopsis:    pathConfigHelpSyn,
			HelpDescription: pathConfigHelpDesc,
		},
		{
			Pattern: "config/?$",
			DisplayAttrs: &framework.DisplayAttributes{
				OperationPrefix: operationPrefix,
				OperationSuffix: "configs",
			},
			Operations: map[logical.Operation]framework.OperationHandler{
				logical.ListOperation: &framework.PathOperation{
					Callback: b.pathConfigList,
					DisplayAttrs: &framework.DisplayAttributes{
						OperationVerb: "list",
					},
				},
			},
			HelpSynopsis:    "List the configured partners.",
			HelpDescription: "Lists the names of all configs of this mount.",
		},
	}
}

func (b *backend) pathConfigExists(ctx context.Context, req *logical.Request, d *framework.FieldData) (bool, error) {
	name, invalid := configName(d)
	if invalid != nil {
		return false, nil // the handler refuses the name
	}
	cfg, err := readConfig(ctx, req.Storage, name)
	return cfg != nil, err
}

func (b *backend) pathConfigRead(ctx context.Context, req *logical.Request, d *framework.FieldData) (*logical.Response, error) {
	name, invalid := configName(d)
	if invalid != nil {
		return invalid, nil
	}
	cfg, err := readConfig(ctx, req.Storage, name)
	if err != nil {
		return nil, err
	}
	if cfg == nil {
		return nil, nil
	}
	data := map[string]any{
		"provider":               cfg.Provider,
		"environment":            cfg.Environment,
		"token_url":              cfg.TokenURL,
		"client_id":              cfg.ClientID,
		"client_secret_set":      cfg.ClientSecret != "",
		"next_client_secret_set": cfg.NextClientSecret != "",
		"refusal_backoff":        int64(cfg.RefusalBackoff / time.Second),
		"ttl":                    int64(cfg.TTL / time.Second),
		"max_ttl":                int64(cfg.MaxTTL / time.Second),
		"timeout":                int64(cfg.Timeout / time.Second),
		"refresh_fraction":       cfg.RefreshFraction,
		"expiry_margin":          int64(cfg.ExpiryMargin / time.Second),
		"lease_mode":             cfg.leaseMode(),
		"lease_renewable":        !cfg.LeaseNotRenewable,
	}
	if p, ok := b.providers[cfg.Provider]; ok {
		data["effective_token_url"] = cfg.effectiveTokenURL(p.Spec())
	}
	maps.Copy(data, cfg.Options)
	return &logical.Response{Data: data}, nil
}

func (b *backend) pathConfigList(ctx context.Context, req *logical.Request, _ *framework.FieldData) (*logical.Response, error) {
	names, err := req.Storage.List(ctx, configPrefix)
	if err != nil {
		return nil, err
	}
	return logical.ListResponse(names), nil
}

func (b *backend) pathConfigDelete(ctx context.Context, req *logical.Request, d *framework.FieldData) (*logical.Response, error) {
	name, invalid := configName(d)
	if invalid != nil {
		return invalid, nil
	}
	lock := b.cache.lock(name)
	lock.Lock()
	defer lock.Unlock()
	if err := req.Storage.Delete(ctx, configPrefix+name); err != nil {
		return nil, err
	}
	b.metrics.forget(name)
	b.leaseRates.forget(name)
	return nil, b.cache.forget(ctx, req.Storage, name)
}

func (b *backend) pathConfigWrite(ctx context.Context, req *logical.Request, d *framework.FieldData) (*logical.Response, error) {
	name, invalid := configName(d)
	if invalid != nil {
		return invalid, nil
	}
	if unknown := unknownFields(req.Data, d.Schema); len(unknown) > 0 {
		return logical.ErrorResponse("unknown field(s) %s; `vault path-help %s` lists the fields of a config",
			strings.Join(unknown, ", "), req.MountPoint+req.Path), nil
	}

	merge := func() (old, cfg *Config, resp *logical.Response, err error) {
		if old, err = readConfig(ctx, req.Storage, name); err != nil {
			return nil, nil, nil, err
		}
		hosts, err := b.guard.allowed(ctx)
		if err != nil {
			return nil, nil, nil, err
		}
		cfg, err = b.mergeConfig(old, d, hosts)
		if err != nil {
			return nil, nil, logical.ErrorResponse("%s", err.Error()), nil
		}
		return old, cfg, nil, nil
	}

	var verified *mintResult
	var verifiedOld, cfg *Config
	if d.Get("verify").(bool) {
		// The partner is called before taking the name's lock, which
		// reads of other names share, and under the writer's context, so
		// a writer that gives up stops it.
		old, merged, resp, err := merge()
		if resp != nil || err != nil {
			return resp, err
		}
		if verified, err = b.mint(ctx, name, merged); err != nil {
			return logical.ErrorResponse("verify: nothing was stored: %s", err.Error()), nil
		}
		if verified.usedNext {
			merged.ClientSecret, merged.NextClientSecret = merged.NextClientSecret, ""
		}
		verifiedOld, cfg = old, merged
	}

	lock := b.cache.lock(name)
	lock.Lock()
	defer lock.Unlock()
	if verified == nil {
		_, merged, resp, err := merge()
		if resp != nil || err != nil {
			return resp, err
		}
		cfg = merged
	} else {
		// As a read's mint does: the write verified must be the one
		// applied to the config as it is now.
		current, err := readConfig(ctx, req.Storage, name)
		if err != nil {
			return nil, err
		}
		if configID(current) != configID(verifiedOld) {
			return nil, logical.CodedError(http.StatusConflict, fmt.Sprintf(
				"config %q was rewritten or deleted while this write verified it; nothing was stored: write again", name))
		}
	}
	id, err := uuid.NewRandom()
	if err != nil {
		return nil, err
	}
	cfg.ID = id.String()
	if err := writeConfig(ctx, req.Storage, name, cfg); err != nil {
		return nil, err
	}
	// Drop the token minted with the old settings, everywhere: other nodes
	// see the new config ID and ignore the old token even before the delete
	// reaches them.
	if err := b.cache.forget(ctx, req.Storage, name); err != nil {
		return nil, err
	}
	if verified == nil {
		return deprecationNotice(b.providers[cfg.Provider].Spec(), nil), nil
	}
	// The verifying token is as good as any: keep it rather than mint again.
	stored := newStoredToken(verified.token, cfg.ID)
	if err := writeToken(ctx, req.Storage, name, stored); err != nil {
		return nil, err
	}
	return deprecationNotice(b.providers[cfg.Provider].Spec(), &logical.Response{Data: map[string]any{
		"verified":   true,
		"expires_at": stored.ExpiresAt.UTC().Format(time.RFC3339),
	}}), nil
}

// configID is cfg's ID, empty for no config.
func configID(cfg *Config) string {
	if cfg == nil {
		return ""
	}
	return cfg.ID
}

// mergeConfig applies a write to the stored config (nil when creating) and
// validates the result. Its errors are meant for the operator: each names
// the field and what to fix.
func (b *backend) mergeConfig(old *Config, d *framework.FieldData, hosts *allowedHosts) (*Config, error) {
	cfg := &Config{Timeout: defaultTimeout, RefreshFraction: defaultRefreshFraction, RefusalBackoff: defaultRefusalBackoff}
	if old != nil {
		copied := *old
		copied.Options = maps.Clone(old.Options)
		cfg = &copied
	}

	if v, ok := d.GetOk("provider"); ok {
		cfg.Provider = strings.TrimSpace(v.(string))
	}
	if cfg.Provider == "" {
		return nil, fmt.Errorf("provider is required: one of %s", strings.Join(b.providers.Names(), ", "))
	}
	p, ok := b.providers[cfg.Provider]
	if !ok {
		return nil, fmt.Errorf("provider %q is not known: use one of %s", cfg.Provider, strings.Join(b.providers.Names(), ", "))
	}
	spec := p.Spec()
	if old != nil && old.Provider != cfg.Provider {
		// Settings of the previous provider mean nothing to the new one.
		cfg.Environment, cfg.TokenURL, cfg.Options = "", "", nil
	}

	for field, target := range map[string]*string{
		"environment":        &cfg.Environment,
		"token_url":          &cfg.TokenURL,
		"client_id":          &cfg.ClientID,
		"client_secret":      &cfg.ClientSecret,
		"next_client_secret": &cfg.NextClientSecret,
	} {
		if v, ok := d.GetOk(field); ok {
			*target = strings.TrimSpace(v.(string))
		}
	}
	for field, target := range map[string]*time.Duration{
		"ttl":             &cfg.TTL,
		"max_ttl":         &cfg.MaxTTL,
		"timeout":         &cfg.Timeout,
		"expiry_margin":   &cfg.ExpiryMargin,
		"refusal_backoff": &cfg.RefusalBackoff,
	} {
		// The framework already refuses negative and unparsable values.
		if v, ok := d.GetOk(field); ok {
			*target = time.Duration(v.(int)) * time.Second
		}
	}
	if v, ok := d.GetOk("refresh_fraction"); ok {
		cfg.RefreshFraction = v.(float64)
	}
	if v, ok := d.GetOk("lease_mode"); ok {
		cfg.LeaseMode = strings.TrimSpace(v.(string))
	}
	if v, ok := d.GetOk("lease_renewable"); ok {
		cfg.LeaseNotRenewable = !v.(bool)
	}
	if err := b.mergeOptions(cfg, spec, d); err != nil {
		return nil, err
	}
	if err := validateConfig(cfg, spec, hosts); err != nil {
		return nil, err
	}

	if old != nil {
		_, secretGiven := d.GetOk("client_secret")
		oldURL := ""
		if oldProvider, ok := b.providers[old.Provider]; ok {
			oldURL = old.effectiveTokenURL(oldProvider.Spec())
		}
		moved := old.Provider != cfg.Provider || oldURL != cfg.effectiveTokenURL(spec)
		if moved && !secretGiven {
			return nil, fmt.Errorf("changing provider, environment or token_url requires client_secret in the same write, so a stored secret is never sent to a new endpoint")
		}
		// The pending next secret was written for the old endpoint too:
		// it stays behind unless this write supplies one for the new one.
		_, nextGiven := d.GetOk("next_client_secret")
		if (moved || old.Environment != cfg.Environment) && !nextGiven {
			cfg.NextClientSecret = ""
		}
	}
	return cfg, nil
}

// mergeOptions applies the provider-specific fields of a write, refusing
// those that belong to another provider.
func (b *backend) mergeOptions(cfg *Config, spec provider.Spec, d *framework.FieldData) error {
	for _, name := range b.providers.Names() {
		for _, f := range b.providers[name].Spec().Fields {
			if _, given := d.Raw[f.Name]; !given {
				continue
			}
			if _, own := spec.Field(f.Name); !own {
				return fmt.Errorf("%s is not a setting of provider %s (it belongs to %s)", f.Name, spec.Name, name)
			}
		}
	}
	for _, f := range spec.Fields {
		v, given := d.GetOk(f.Name)
		if !given {
			if _, set := cfg.Options[f.Name]; !set && f.Default != "" {
				cfg.setOption(f.Name, f.Default)
			}
			continue
		}
		value := optionValue(v)
		if value == nil {
			// An empty value unsets the field.
			delete(cfg.Options, f.Name)
			if f.Default != "" {
				cfg.setOption(f.Name, f.Default)
			}
			continue
		}
		if err := f.Validate(value); err != nil {
			return err
		}
		cfg.setOption(f.Name, value)
	}
	return nil
}

func (c *Config) setOption(name string, value any) {
	if c.Options == nil {
		c.Options = provider.Options{}
	}
	c.Options[name] = value
}

// optionValue converts a parsed field to string, []string or
// map[string]string; nil when it is empty.
func optionValue(v any) any {
	switch v := v.(type) {
	case string:
		if v = strings.TrimSpace(v); v != "" {
			return v
		}
	case []string:
		if len(v) > 0 {
			return v
		}
	case map[string]string:
		if len(v) > 0 {
			return v
		}
	}
	return nil
}

// validateConfig checks a merged config as a whole.
func validateConfig(cfg *Config, spec provider.Spec, hosts *allowedHosts) error {
	if cfg.Environment != "" {
		if len(spec.Environments) == 0 {
			return fmt.Errorf("provider %s has no documented environments: remove environment and set token_url", spec.Name)
		}
		if _, ok := spec.Environment(cfg.Environment); !ok {
			return fmt.Errorf("environment %q is not one of provider %s: use %s", cfg.Environment, spec.Name, environmentNames(spec))
		}
	}
	tokenURL := cfg.effectiveTokenURL(spec)
	if tokenURL == "" {
		if len(spec.Environments) == 0 {
			return fmt.Errorf("token_url is required: provider %s has no documented token endpoint", spec.Name)
		}
		return fmt.Errorf("set environment (%s) or token_url to say which %s token endpoint to use", environmentNames(spec), spec.DisplayName)
	}
	if err := validateTokenURL(tokenURL, hosts); err != nil {
		return err
	}
	if cfg.ClientID == "" {
		return fmt.Errorf("client_id is required")
	}
	if cfg.ClientSecret == "" {
		return fmt.Errorf("client_secret is required")
	}
	if err := checkCredential("client_id", cfg.ClientID); err != nil {
		return err
	}
	if err := checkCredential("client_secret", cfg.ClientSecret); err != nil {
		return err
	}
	if cfg.NextClientSecret != "" {
		if err := checkCredential("next_client_secret", cfg.NextClientSecret); err != nil {
			return err
		}
	}
	if cfg.TTL > 0 && cfg.MaxTTL > 0 && cfg.TTL > cfg.MaxTTL {
		return fmt.Errorf("ttl (%s) must not exceed max_ttl (%s)", cfg.TTL, cfg.MaxTTL)
	}
	if cfg.Timeout < time.Second || cfg.Timeout > maxTimeout {
		return fmt.Errorf("timeout must be between 1s and %s", maxTimeout)
	}
	// The negated form also refuses NaN, which fails every comparison.
	if !(cfg.RefreshFraction >= 0.1 && cfg.RefreshFraction <= 0.95) {
		return fmt.Errorf("refresh_fraction must be between 0.1 and 0.95, not %g", cfg.RefreshFraction)
	}
	if err := validateLeaseMode(cfg.LeaseMode); err != nil {
		return err
	}
	return nil
}

// checkCredential refuses values that cannot travel in a header or form
// intact. The message never quotes the value.
func checkCredential(field, value string) error {
	if strings.IndexFunc(value, func(r rune) bool { return r < 0x20 || r == 0x7f }) >= 0 {
		return fmt.Errorf("%s must not contain control characters such as newlines", field)
	}
	if field != "client_id" && len(value) < 4 {
		return fmt.Errorf("%s is too short: a partner secret has at least 4 characters", field)
	}
	return nil
}

func environmentNames(spec provider.Spec) string {
	var names []string
	for _, env := range spec.Environments {
		names = append(names, env.Name)
		names = append(names, env.Aliases...)
	}
	return strings.Join(names, ", ")
}

// unknownFields lists request fields the path does not declare. Vault only
// warns about them; a config write refuses them, since a misspelled field
// would otherwise silently keep its old value.
func unknownFields(data map[string]any, schema map[string]*framework.FieldSchema) []string {
	var unknown []string
	for k := range data {
		if _, ok := schema[k]; !ok {
			unknown = append(unknown, k)
		}
	}
	slices.Sort(unknown)
	return unknown
}

// noSuchConfig is the answer for a name nobody configured.
func noSuchConfig(mount, name string) error {
	return logical.CodedError(http.StatusNotFound, fmt.Sprintf("no config named %q: write %sconfig/%s first", name, mount, name))
}
