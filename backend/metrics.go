package backend

import (
	"errors"
	"fmt"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/partnertoken/vault-plugin-secrets-partnertoken/provider"
)

// metrics are the mount's counters and latency summaries. Each backend (one
// per mount, even in a multiplexed plugin process) has its own registry, so
// one mount's numbers never mix with another's. Labels are the config name
// and provider only: never anything from the credentials or the token.
type metrics struct {
	registry *prometheus.Registry

	mints          *prometheus.CounterVec
	mintFailures   *prometheus.CounterVec
	mintDuration   *prometheus.HistogramVec
	cacheHits      *prometheus.CounterVec
	cacheMisses    *prometheus.CounterVec
	refreshAhead   *prometheus.CounterVec
	forcedRefresh  *prometheus.CounterVec
	coalescedReads *prometheus.CounterVec
	retryAfterHeld *prometheus.CounterVec
	leasesIssued   *prometheus.CounterVec
}

var configLabels = []string{"config", "provider"}

func newMetrics() *metrics {
	m := &metrics{
		registry: prometheus.NewRegistry(),
		mints: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "partnertoken_mints_total",
			Help: "Tokens minted from the partner.",
		}, configLabels),
		mintFailures: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "partnertoken_mint_failures_total",
			Help: "Mints that failed, by the class of the partner's HTTP status (network when none arrived).",
		}, append(configLabels, "status_class")),
		// A histogram rather than a summary: a few buckets per config stay
		// small at 10,000 configs, and Prometheus can aggregate them.
		mintDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "partnertoken_mint_duration_seconds",
			Help:    "Time to mint a token, retries included.",
			Buckets: []float64{0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30},
		}, configLabels),
		cacheHits: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "partnertoken_cache_hits_total",
			Help: "Token reads answered with a cached token.",
		}, configLabels),
		cacheMisses: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "partnertoken_cache_misses_total",
			Help: "Token reads that found no valid token and waited for a mint.",
		}, configLabels),
		refreshAhead: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "partnertoken_refresh_ahead_total",
			Help: "Background refreshes of a token in use before it expires.",
		}, configLabels),
		forcedRefresh: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "partnertoken_forced_refreshes_total",
			Help: "Writes to refresh/<name>.",
		}, configLabels),
		coalescedReads: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "partnertoken_coalesced_requests_total",
			Help: "Reads and refreshes that shared a mint another request started instead of calling the partner.",
		}, configLabels),
		retryAfterHeld: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "partnertoken_retry_after_held_total",
			Help: "Mints refused without calling the partner because it asked to wait (Retry-After, X-RateLimit-Reset) and the wait has not passed.",
		}, configLabels),
		leasesIssued: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "partnertoken_leases_issued_total",
			Help: "Token reads answered with a Vault lease (lease_mode=per_read); each lives in Vault until it ends.",
		}, configLabels),
	}
	m.registry.MustRegister(m.mints, m.mintFailures, m.mintDuration, m.cacheHits, m.cacheMisses,
		m.refreshAhead, m.forcedRefresh, m.coalescedReads, m.retryAfterHeld, m.leasesIssued)
	return m
}

func (m *metrics) mintDone(cfg *Config, name string, took time.Duration, err error) {
	m.mintDuration.WithLabelValues(name, cfg.Provider).Observe(took.Seconds())
	if err == nil {
		m.mints.WithLabelValues(name, cfg.Provider).Inc()
		return
	}
	m.mintFailures.WithLabelValues(name, cfg.Provider, statusClass(err)).Inc()
}

// statusClass groups failures for the status_class label: the class of the
// partner's HTTP status (2xx: an answer without a usable token; 3xx: a
// redirect, never followed; 4xx; 5xx), network when no answer arrived, and
// internal for a failure inside the engine (such as storage), which is no
// provider.Error.
func statusClass(err error) string {
	var perr *provider.Error
	switch {
	case !errors.As(err, &perr):
		return "internal"
	case perr.Status == 0:
		return "network"
	default:
		return fmt.Sprintf("%dxx", perr.Status/100)
	}
}

// mintCount is the number of tokens minted for a config since the plugin started.
func (m *metrics) mintCount(name, providerName string) int64 {
	var out dto.Metric
	if err := m.mints.WithLabelValues(name, providerName).Write(&out); err != nil {
		return 0
	}
	return int64(out.GetCounter().GetValue())
}

// forget drops a deleted config's series.
func (m *metrics) forget(name string) {
	for _, vec := range []*prometheus.MetricVec{
		m.mints.MetricVec, m.mintFailures.MetricVec, m.mintDuration.MetricVec, m.cacheHits.MetricVec,
		m.cacheMisses.MetricVec, m.refreshAhead.MetricVec, m.forcedRefresh.MetricVec, m.coalescedReads.MetricVec,
		m.retryAfterHeld.MetricVec, m.leasesIssued.MetricVec,
	} {
		vec.DeletePartialMatch(prometheus.Labels{"config": name})
	}
}
