package backend

import (
	"errors"
	"fmt"
	"net/http"
	"slices"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/partnertoken/vault-plugin-secrets-partnertoken/internal/provider"
)

// metrics are the mount's counters, gauges and latency histogram. Each
// backend (one per mount, even in a multiplexed plugin process) has its own
// registry, so one mount's numbers never mix with another's. Labels are the
// config name and provider only: never anything from the credentials or
// the token.
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
	leaseSeconds       *prometheus.CounterVec
	standbyReads       *prometheus.CounterVec
	// The current token of each config that has one.
	tokenIssued     *prometheus.GaugeVec
	tokenExpiry     *prometheus.GaugeVec
	refreshInterval *prometheus.GaugeVec
}

var configLabels = []string{"config", "provider"}

// newMetrics defines every metric: one line each. Registering it and
// dropping a deleted config's series follow from the definition.
func newMetrics() *metrics {
	m := &metrics{registry: prometheus.NewRegistry()}
	m.mints = m.counter("partnertoken_mints_total", "Tokens minted from the partner.")
	m.mintFailures = m.counter("partnertoken_mint_failures_total", "Mints that failed, by class: refused (400, 401, 403), rate_limited (429, or an answer that asks to wait), other_4xx, 2xx, 3xx, 5xx, network (no answer), internal.", "status_class")
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
	m.leaseSeconds = m.counter("partnertoken_lease_ttl_seconds_total", "Sum of the TTLs of the leases issued; its rate is the number of leases the reads keep alive in Vault.")
	m.standbyReads = m.counter("partnertoken_standby_reads_total", "Token reads (lease_mode=none) this node answered from its replica as a standby, without the active node.")
	m.tokenIssued = m.gauge("partnertoken_token_issued_timestamp_seconds", "When the current token was minted, in seconds since the Unix epoch.")
	m.tokenExpiry = m.gauge("partnertoken_token_expiry_timestamp_seconds", "When the current token expires, in seconds since the Unix epoch.")
	m.refreshInterval = m.gauge("partnertoken_refresh_interval_seconds", "Time from the current token's mint to its refresh ahead: the expected time between mints while readers use it (refresh_fraction of the lifetime, less for short-lived tokens).")
	return m
}

// counter registers a counter labelled by config, provider and extra.
func (m *metrics) counter(name, help string, extra ...string) *prometheus.CounterVec {
	v := prometheus.NewCounterVec(prometheus.CounterOpts{Name: name, Help: help}, slices.Concat(configLabels, extra))
	m.register(v, v.MetricVec)
	return v
}

// gauge registers a gauge labelled by config and provider.
func (m *metrics) gauge(name, help string) *prometheus.GaugeVec {
	v := prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: name, Help: help}, configLabels)
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

// leaseIssued counts a lease of ttl. The rate of the TTLs' sum is the
// number of leases alive in Vault (Little's law: leases alive = leases
// issued per second × their mean TTL), as status/<name> estimates it.
func (m *metrics) leaseIssued(name, providerName string, ttl time.Duration) {
	m.leasesIssued.WithLabelValues(name, providerName).Inc()
	m.leaseSeconds.WithLabelValues(name, providerName).Add(ttl.Seconds())
}

// failureClasses are the values of status_class, each a different thing
// to do for whoever is alerted.
var failureClasses = []string{"refused", "rate_limited", "other_4xx", "2xx", "3xx", "5xx", "network", "internal"}

// statusClass groups failures for the status_class label. refused is the
// partner's refusal of the request or the credentials (provider.Error's
// Refused: 400, 401, 403), which the engine remembers for refusal_backoff;
// rate_limited a 429 or any answer that names a wait the engine then
// honours (asksToWait); other_4xx the rest of 4xx (404: a wrong
// token_url). 2xx is an answer without a usable token, 3xx a redirect
// (never followed), 5xx a server error, network no answer at all, and
// internal a failure inside the engine (such as storage), which is no
// provider.Error.
func statusClass(err error) string {
	var perr *provider.Error
	switch {
	case !errors.As(err, &perr):
		return "internal"
	case perr.Status == 0:
		return "network"
	case perr.Refused():
		return "refused"
	case perr.Status == http.StatusTooManyRequests || asksToWait(perr):
		return "rate_limited"
	case perr.Status/100 == 4:
		return "other_4xx"
	default:
		return fmt.Sprintf("%dxx", perr.Status/100)
	}
}

// configStored starts name's failure counters at 0 for every class, when
// its config is written or first loaded on this node: Prometheus sees a
// counter's first failure only as an increase from a value it scraped
// before.
func (m *metrics) configStored(name, providerName string) {
	for _, class := range failureClasses {
		m.mintFailures.WithLabelValues(name, providerName, class)
	}
}

// tokenCurrent reports tok as name's current token, refreshed ahead at
// refreshAt while readers use it.
func (m *metrics) tokenCurrent(name, providerName string, tok *storedToken, refreshAt time.Time) {
	m.tokenIssued.WithLabelValues(name, providerName).Set(float64(tok.IssuedAt.UnixMilli()) / 1000)
	m.tokenExpiry.WithLabelValues(name, providerName).Set(float64(tok.ExpiresAt.UnixMilli()) / 1000)
	m.refreshInterval.WithLabelValues(name, providerName).Set(refreshAt.Sub(tok.IssuedAt).Seconds())
}

// tokenGone drops the series of name's current token when memory no
// longer holds one.
func (m *metrics) tokenGone(name string) {
	for _, vec := range []*prometheus.GaugeVec{m.tokenIssued, m.tokenExpiry, m.refreshInterval} {
		vec.DeletePartialMatch(prometheus.Labels{"config": name})
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

// standbyReadCount is the number of token reads of a config this node
// answered from its replica as a standby since the plugin started.
func (m *metrics) standbyReadCount(name, providerName string) int64 {
	var out dto.Metric
	if err := m.standbyReads.WithLabelValues(name, providerName).Write(&out); err != nil {
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
