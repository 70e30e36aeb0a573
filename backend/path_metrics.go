package backend

import (
	"bytes"
	"cmp"
	"context"
	"net/http"
	"slices"
	"strconv"

	"github.com/hashicorp/vault/sdk/framework"
	"github.com/hashicorp/vault/sdk/logical"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
)

func pathMetrics(b *backend) []*framework.Path {
	return []*framework.Path{{
		Pattern: "metrics/?$",
		DisplayAttrs: &framework.DisplayAttributes{
			OperationPrefix: operationPrefix,
			OperationSuffix: "metrics",
		},
		Fields: map[string]*framework.FieldSchema{
			"format": {
				Type:          framework.TypeString,
				Description:   "json (the default) for Vault's JSON response, prometheus for the Prometheus text exposition format.",
				Default:       "json",
				AllowedValues: []any{"json", "prometheus"},
				Query:         true,
			},
			"local": {
				Type:        framework.TypeBool,
				Description: "On a standby that serves reads: true for this node's own counts (the lease_mode=none reads it answered from its replica) instead of the active node's.",
				Query:       true,
			},
		},
		Operations: map[logical.Operation]framework.OperationHandler{
			logical.ReadOperation: &framework.PathOperation{
				Callback: b.pathMetricsRead,
				DisplayAttrs: &framework.DisplayAttributes{
					OperationVerb: "read",
				},
				// Not forwarded as a whole: a standby hands the read to
				// the active node, whose counts a scrape of the cluster's
				// one address expects, unless asked for its own (local).
			},
		},
		HelpSynopsis: "Counters, token gauges and mint latency per config and provider.",
		HelpDescription: `
Mints, mint failures by class (refused: 400, 401, 403; rate_limited: 429
or an answer that asks to wait; other_4xx; 2xx; 3xx; 5xx; network;
internal), cache hits and misses, leases issued and the sum of their TTLs,
refresh-ahead runs, forced refreshes, coalesced requests, mints held back
by a partner's Retry-After, reads a standby answered from its replica, a
histogram of mint latency, and the current token's issue time, expiry and
lifetime, per config and provider, since the plugin started on this node.
A standby that serves reads forwards this to the active node, whose counts
these are, unless local=true asks for its own. Failure counters start at 0
when a config is stored or first loaded. Authenticated like any other path:
grant read on <mount>/metrics to your monitoring.
format=prometheus returns the Prometheus text format for a scraper
(metrics_path /v1/<mount>/metrics, params format=prometheus, a Vault token
as bearer token).`,
	}}
}

func (b *backend) pathMetricsRead(_ context.Context, _ *logical.Request, d *framework.FieldData) (*logical.Response, error) {
	if b.standby() && !d.Get("local").(bool) {
		return nil, errHandOver
	}
	families, err := b.metrics.registry.Gather()
	if err != nil {
		return nil, err
	}
	if d.Get("format").(string) == "prometheus" {
		var buf bytes.Buffer
		enc := expfmt.NewEncoder(&buf, expfmt.NewFormat(expfmt.TypeTextPlain))
		for _, mf := range families {
			if err := enc.Encode(mf); err != nil {
				return nil, err
			}
		}
		return &logical.Response{Data: map[string]any{
			logical.HTTPContentType: string(expfmt.NewFormat(expfmt.TypeTextPlain)),
			logical.HTTPRawBody:     buf.Bytes(),
			logical.HTTPStatusCode:  http.StatusOK,
		}}, nil
	}
	return &logical.Response{Data: map[string]any{"metrics": metricsJSON(families)}}, nil
}

// metricsJSON shapes metric families for Vault's JSON response: name →
// help, type and one series per label set.
func metricsJSON(families []*dto.MetricFamily) map[string]any {
	out := make(map[string]any, len(families))
	for _, mf := range families {
		series := make([]map[string]any, 0, len(mf.GetMetric()))
		for _, m := range mf.GetMetric() {
			s := map[string]any{}
			for _, l := range m.GetLabel() {
				s[l.GetName()] = l.GetValue()
			}
			switch {
			case m.Counter != nil:
				s["value"] = m.GetCounter().GetValue()
			case m.Gauge != nil:
				s["value"] = m.GetGauge().GetValue()
			case m.Histogram != nil:
				h := m.GetHistogram()
				s["count"] = h.GetSampleCount()
				s["sum_seconds"] = h.GetSampleSum()
				buckets := map[string]uint64{}
				for _, b := range h.GetBucket() {
					buckets[strconv.FormatFloat(b.GetUpperBound(), 'g', -1, 64)] = b.GetCumulativeCount()
				}
				s["buckets_seconds"] = buckets
			}
			series = append(series, s)
		}
		slices.SortStableFunc(series, func(a, b map[string]any) int {
			return cmp.Compare(configLabel(a), configLabel(b))
		})
		out[mf.GetName()] = map[string]any{
			"help":   mf.GetHelp(),
			"type":   mf.GetType().String(),
			"series": series,
		}
	}
	return out
}

// configLabel is the config a series is about; "" for one without the label.
func configLabel(series map[string]any) string {
	config, _ := series["config"].(string)
	return config
}
