package backend

import (
	"context"
	"errors"
	"maps"
	"time"

	"github.com/hashicorp/vault/sdk/framework"
	"github.com/hashicorp/vault/sdk/logical"
)

func pathStatus(b *backend) []*framework.Path {
	return []*framework.Path{
		{
			Pattern: "status/" + framework.GenericNameRegex("name"),
			DisplayAttrs: &framework.DisplayAttributes{
				OperationPrefix: operationPrefix,
				OperationSuffix: "status",
			},
			Fields: map[string]*framework.FieldSchema{
				"name": nameField("Name of the config."),
			},
			Operations: map[logical.Operation]framework.OperationHandler{
				logical.ReadOperation: &framework.PathOperation{
					Callback: b.pathStatusRead,
					DisplayAttrs: &framework.DisplayAttributes{
						OperationVerb: "read",
					},
					// Not forwarded as a whole: a standby that serves
					// reads describes the configs whose reads it answers
					// (lease_mode=none) and hands the others to the active
					// node, whose status is the one that tells for them.
				},
			},
			HelpSynopsis: "What the engine knows about a config's token, without the token.",
			HelpDescription: `
Reports the provider and environment, whether a token is cached, when it was
minted and expires, when the next refresh is due, how many tokens this node
minted since the plugin started, the last upstream error (HTTP status,
partner message, time), any active back-off, and while the partner is down
the outage (since when, the failed attempts, when the next is due). Never
the token or the secret, so it can be granted to on-call without token
access. Reading it never calls the partner. It warns when the config's
expiry_margin is more than half the cached token's lifetime, and so was cut
to half. node_role says which node answered: on a cluster whose standbys
serve reads, a standby answers for a lease_mode=none config, whose reads it
serves from its replica, and says how old its copy is (replica_loaded_at,
replica_age_seconds); the active node answers for the others.`,
		},
		{
			Pattern: "status/?$",
			DisplayAttrs: &framework.DisplayAttributes{
				OperationPrefix: operationPrefix,
				OperationSuffix: "statuses",
			},
			Operations: map[logical.Operation]framework.OperationHandler{
				logical.ListOperation: &framework.PathOperation{
					Callback: b.pathStatusList,
					DisplayAttrs: &framework.DisplayAttributes{
						OperationVerb: "list",
					},
					ForwardPerformanceStandby: true,
				},
			},
			HelpSynopsis:    "One line of status per config.",
			HelpDescription: "Lists every config with its provider, whether a token is cached, its expiry and the last upstream error status.",
		},
	}
}

func (b *backend) pathStatusRead(ctx context.Context, req *logical.Request, d *framework.FieldData) (*logical.Response, error) {
	name, invalid := configName(d)
	if invalid != nil {
		return invalid, nil
	}
	e, err := b.cache.current(ctx, name)
	standby := b.standby()
	switch {
	case standby && (errors.Is(err, errNoConfig) || err == nil && e.config.leaseMode() != leaseModeNone):
		// The active node serves this config's reads, or knows it.
		return nil, errHandOver
	case errors.Is(err, errNoConfig):
		return nil, noSuchConfig(req.MountPoint, name)
	case err != nil:
		return nil, err
	}
	resp := &logical.Response{Data: b.describeStatus(e)}
	if standby {
		b.describeReplica(e, resp.Data)
	}
	if e.token != nil {
		if cut := e.config.marginCut(e.token.lifetime()); cut != "" {
			resp.AddWarning(cut)
		}
	}
	return resp, nil
}

func (b *backend) pathStatusList(ctx context.Context, req *logical.Request, _ *framework.FieldData) (*logical.Response, error) {
	names, err := listConfigs(ctx, req.Storage)
	if err != nil {
		return nil, err
	}
	info := make(map[string]any, len(names))
	for _, name := range names {
		e, err := b.cache.current(ctx, name)
		if errors.Is(err, errNoConfig) {
			continue // deleted since the list
		}
		if err != nil {
			return nil, err
		}
		full := b.describeStatus(e)
		line := map[string]any{"provider": full["provider"], "token_cached": full["token_cached"]}
		for _, k := range []string{"expires_at", "last_error_status", "backoff_until"} {
			if v, ok := full[k]; ok {
				line[k] = v
			}
		}
		info[name] = line
	}
	return logical.ListResponseWithInfo(names, info), nil
}

// describeStatus describes e for operators: everything but the token and secret.
func (b *backend) describeStatus(e *cacheEntry) map[string]any {
	cfg := e.config
	now := b.clock.Now()
	data := map[string]any{
		"provider":     cfg.Provider,
		"environment":  cfg.Environment,
		"token_cached": e.token != nil,
		"mint_count":   b.metrics.mintCount(e.name, cfg.Provider),
		"node_role":    "active",
	}
	if tokenURL := b.tokenURL(cfg); tokenURL != "" {
		data["token_url"] = tokenURL
	}
	if tok := e.token; tok != nil {
		data["minted_at"] = rfc3339(tok.IssuedAt)
		data["expires_at"] = rfc3339(tok.ExpiresAt)
		allowance := b.delays.allowance(now)
		data["token_valid"] = cfg.servable(tok, now, allowance)
		data["next_refresh_at"] = rfc3339(cfg.refreshAt(tok, allowance))
		// Only tokens read during their lifetime are refreshed ahead.
		data["refresh_scheduled"] = e.inUse.Load()
	}
	maps.Copy(data, certificateStatus(cfg, now))
	data["lease_mode"] = cfg.leaseMode()
	if cfg.leaseMode() == leaseModePerRead {
		load := b.leaseRates.load(e.name, now)
		data["leased_reads_per_second"] = load.perSecond
		data["live_leases_estimate"] = load.live
		if w := load.warning(); w != "" {
			data["lease_warning"] = w
		}
	}
	lastMintAt, lastErr := b.lastMints.of(e.name).snapshot()
	if !lastMintAt.IsZero() {
		data["last_mint_at"] = rfc3339(lastMintAt)
	}
	if lastErr != nil {
		data["last_error"] = lastErr.message
		data["last_error_status"] = lastErr.status
		data["last_error_at"] = rfc3339(lastErr.at)
	}
	e.mu.Lock()
	refusedUntil, retryAt, waitUntil := e.refusedUntil, e.retryAt, e.waitUntil
	e.mu.Unlock()
	down := e.outageSnapshot()
	if down != nil {
		data["outage_since"] = rfc3339(down.since)
		data["outage_failures"] = down.failures
		data["next_attempt_at"] = rfc3339(down.next)
	}
	switch {
	case down != nil:
		data["backoff"] = "partner down"
		data["backoff_until"] = rfc3339(down.next)
	case now.Before(refusedUntil):
		data["backoff"] = "credentials refused"
		data["backoff_until"] = rfc3339(refusedUntil)
	case now.Before(waitUntil):
		data["backoff"] = "partner asked to wait"
		data["backoff_until"] = rfc3339(waitUntil)
	case now.Before(retryAt):
		data["backoff"] = "refresh retry"
		data["backoff_until"] = rfc3339(retryAt)
	}
	return data
}

// describeReplica turns data, a standby's status of e, into what the
// standby serves: e's config and token as its replica held them when it
// loaded them, which a write on the active node makes it load again.
// Refreshing ahead is the active node's.
func (b *backend) describeReplica(e *cacheEntry, data map[string]any) {
	data["node_role"] = "standby"
	data["served_from"] = "replica"
	data["replica_loaded_at"] = rfc3339(e.loadedAt)
	data["replica_age_seconds"] = int64(b.clock.Since(e.loadedAt) / time.Second)
	data["standby_reads"] = b.metrics.standbyReadCount(e.name, e.config.Provider)
	delete(data, "refresh_scheduled")
}

func rfc3339(t time.Time) string { return t.UTC().Format(time.RFC3339) }
