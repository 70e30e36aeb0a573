package backend

import (
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/partnertoken/vault-plugin-secrets-partnertoken/internal/provider"
)

// metrics are the mount's counters and latency summaries. Each backend (one
// per mount, even in a multiplexed plugin process) has its own registry, so
// one mount's numbers never mix with another's. Labels are the config name
// and provider only: never anything from the credentials or the token.
type metrics struct {
	registry *prometheus.Registry
	// perConfig is every metric, for dropping a deleted config's series.
	perConfig []*prometheus.MetricVec

	mints              *prometheus.CounterVec
	mintFailures       *prometheus.CounterVec
	mintDuration       *prometheus.HistogramVec
	cacheHits          *prometheus.CounterVec
	cacheMisses        *prometheus.CounterVec
	refreshAhead       *prometheus.CounterVec
	forcedRefresh      *prometheus.CounterVec
	coalescedReads     *prometheus.CounterVec
	retryAfterHeld     *prometheus.CounterVec
	outageRefusedReads *prometheus.CounterVec
	leasesIssued       *prometheus.CounterVec
}

var configLabels = []string{"config", "provider"}

// newMetrics defines every metric: one line each. Registering it and
// dropping a deleted config's series follow from the definition.
func newMetrics() *metrics {
	m := &metrics{registry: prometheus.NewRegistry()}
	m.mints = m.counter("partnertoken_mints_total", "Tokens minted from the partner.")
	m.mintFailures = m.counter("partnertoken_mint_failures_total", "Mints that failed, by the class of the partner's HTTP status (network when none arrived).", "status_class")
	// A histogram rather than a summary: a few buckets per config stay
	// small at 10,000 configs, and Prometheus can aggregate them.
	m.mintDuration = m.histogram("partnertoken_mint_duration_seconds", "Time to mint a token, retries included.", 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30)
	m.cacheHits = m.counter("partnertoken_cache_hits_total", "Token reads answered with a cached token.")
	m.cacheMisses = m.counter("partnertoken_cache_misses_total", "Token reads that found no valid token and waited for a mint.")
	m.refreshAhead = m.counter("partnertoken_refresh_ahead_total", "Background refreshes of a token in use before it expires.")
	m.forcedRefresh = m.counter("partnertoken_forced_refreshes_total", "Writes to refresh/<name>.")
	m.coalescedReads = m.counter("partnertoken_coalesced_requests_total", "Reads and refreshes that shared a mint another request started instead of calling the partner.")
	m.retryAfterHeld = m.counter("partnertoken_retry_after_held_total", "Mints refused without calling the partner because it asked to wait (Retry-After, X-RateLimit-Reset) and the wait has not passed.")
	m.outageRefusedReads = m.counter("partnertoken_outage_refused_reads_total", "Token reads that needed a mint and were refused at once, without calling the partner, because it is down and its next attempt is not due or is in flight.")
	m.leasesIssued = m.counter("partnertoken_leases_issued_total", "Token reads answered with a Vault lease (lease_mode=per_read); each lives in Vault until it ends.")
	return m
}

// counter registers a counter labelled by config, provider and extra.
func (m *metrics) counter(name, help string, extra ...string) *prometheus.CounterVec {
	v := prometheus.NewCounterVec(prometheus.CounterOpts{Name: name, Help: help}, slices.Concat(configLabels, extra))
	m.register(v, v.MetricVec)
	return v
}

// histogram registers a histogram labelled by config and provider.
func (m *metrics) histogram(name, help string, buckets ...float64) *prometheus.HistogramVec {
	v := prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: name, Help: help, Buckets: buckets}, configLabels)
	m.register(v, v.MetricVec)
	return v
}

func (m *metrics) register(c prometheus.Collector, vec *prometheus.MetricVec) {
	m.registry.MustRegister(c)
	m.perConfig = append(m.perConfig, vec)
}

func (m *metrics) mintDone(providerName, name string, took time.Duration, err error) {
	m.mintDuration.WithLabelValues(name, providerName).Observe(took.Seconds())
	if err == nil {
		m.mints.WithLabelValues(name, providerName).Inc()
		return
	}
	m.mintFailures.WithLabelValues(name, providerName, statusClass(err)).Inc()
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

// deleteSeries drops a deleted config's series.
func (m *metrics) deleteSeries(name string) {
	for _, vec := range m.perConfig {
		vec.DeletePartialMatch(prometheus.Labels{"config": name})
	}
}
