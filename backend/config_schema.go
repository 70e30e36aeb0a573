package backend

import (
	"fmt"
	"maps"
	"strings"
	"time"

	"github.com/hashicorp/vault/sdk/framework"

	"github.com/partnertoken/vault-plugin-secrets-partnertoken/internal/provider"
)

// The fields of config/<name>: those every provider has, and each
// provider's own, declared by its Spec.

// commonConfigFields are the config fields every provider has.
func commonConfigFields() map[string]*framework.FieldSchema {
	fields := map[string]*framework.FieldSchema{
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
			Description: "Longest lease handed to a reader: 0 (the default: as long as the token stays valid, less the expiry margin) or at least 2s, the shortest lease a cached token is served with. A cap on the lease of lease_mode=per_read only: with lease_mode=none reads get no lease, and a write that sets ttl there is refused (the ttl such a read returns is another thing: seconds until reading again).",
		},
		"max_ttl": {
			Type:        framework.TypeDurationSecond,
			Description: "Hard cap on any lease handed to a reader, on top of ttl and the mount's max_lease_ttl: 0 (the default: no cap of its own) or at least 2s. Like ttl, for lease_mode=per_read only.",
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
			Description: "How long before the token expires every lease on it ends. 0 (the default) uses 10% of the token's lifetime, at least 5s and at most 5m. Never more than half the token's lifetime: a longer margin is cut to half, since the lifetime is known only once a token is minted, and status/<name> (and a verify=true write) warns when it is.",
		},
		"lease_mode": {
			Type:          framework.TypeString,
			Description:   "per_read (the default): every read of token/<name> is a Vault lease. none: reads return the token with no lease, with ttl (seconds until it is worth reading again; not the config's ttl, which caps leases and is refused in this mode) and rotation_period, for readers that read on every request and can use neither Vault Proxy nor Vault Agent; see docs/reading-at-high-rates.md.",
			AllowedValues: []any{leaseModePerRead, leaseModeNone},
			Default:       leaseModePerRead,
		},
		"lease_renewable": {
			Type:        framework.TypeBool,
			Description: "Whether per_read leases are renewable (the default): a renewal never extends a lease past its first end, before the token expires, but lets Vault Proxy's cache serve one lease to many reads. false hands out non-renewable leases.",
			Default:     true,
		},
	}
	maps.Copy(fields, credentialFields())
	return fields
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
