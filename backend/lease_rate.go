package backend

import (
	"fmt"
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"
)

const (
	// rateWindow is how far back the leased-read rate looks, in
	// rateBuckets slices.
	rateWindow  = time.Minute
	rateBuckets = 6
	// liveLeaseWarning is the number of live leases per config past which
	// status/<name> warns and the log says so: each costs Vault memory and
	// a revocation through the plugin
	// (docs/how-it-works.md#why-lease_modenone-exists).
	liveLeaseWarning = 10_000
	// rateWarningEvery bounds the warning's log lines per config.
	rateWarningEvery = 10 * time.Minute
)

// leaseRates tracks, per config, the leased reads of the last minute and
// the leases they granted, so that status/<name> can tell how many leases
// this rate keeps alive in Vault.
type leaseRates struct {
	byName sync.Map // config name -> *leaseRate
}

type leaseRate struct {
	mu sync.Mutex
	// Bucket i holds the leases of slice number slices[i] (time since the
	// epoch in rateWindow/rateBuckets slices); a bucket of an older slice is
	// stale and counts for nothing.
	slices   [rateBuckets]int64
	counts   [rateBuckets]int64
	ttls     [rateBuckets]time.Duration
	warnedAt time.Time
}

// leaseLoad is what status/<name> shows.
type leaseLoad struct {
	perSecond float64
	live      int64 // leases this rate keeps alive: rate × mean lease TTL
}

func (r *leaseRates) of(name string) *leaseRate {
	if v, ok := r.byName.Load(name); ok {
		return v.(*leaseRate)
	}
	v, _ := r.byName.LoadOrStore(name, &leaseRate{})
	return v.(*leaseRate)
}

func (r *leaseRates) remove(name string) { r.byName.Delete(name) }

// note counts a lease granted at now that Vault keeps for ttl unless it is
// renewed, and logs a warning (at most
// every rateWarningEvery) when the rate keeps too many leases alive.
func (r *leaseRates) note(name, providerName string, now time.Time, ttl time.Duration, logger hclog.Logger) {
	rate := r.of(name)
	rate.mu.Lock()
	slice := sliceOf(now)
	i := slice % rateBuckets
	if rate.slices[i] != slice {
		rate.slices[i], rate.counts[i], rate.ttls[i] = slice, 0, 0
	}
	rate.counts[i]++
	rate.ttls[i] += ttl
	load := rate.load(slice)
	warn := load.live > liveLeaseWarning && now.Sub(rate.warnedAt) >= rateWarningEvery
	if warn {
		rate.warnedAt = now
	}
	rate.mu.Unlock()
	if warn {
		logger.Warn("leased reads keep too many leases alive in Vault", "config", name, "provider", providerName,
			"warning", load.warning())
	}
}

// load is the rate of the last rateWindow at now.
func (r *leaseRates) load(name string, now time.Time) leaseLoad {
	rate := r.of(name)
	rate.mu.Lock()
	defer rate.mu.Unlock()
	return rate.load(sliceOf(now))
}

func sliceOf(t time.Time) int64 { return t.UnixNano() / int64(rateWindow/rateBuckets) }

// load sums the buckets of the rateBuckets slices up to current. Callers
// hold mu.
func (r *leaseRate) load(current int64) leaseLoad {
	var n int64
	var ttl time.Duration
	for i := range rateBuckets {
		if r.slices[i] > current-rateBuckets && r.slices[i] <= current {
			n += r.counts[i]
			ttl += r.ttls[i]
		}
	}
	if n == 0 {
		return leaseLoad{}
	}
	perSecond := float64(n) / rateWindow.Seconds()
	meanTTL := ttl.Seconds() / float64(n)
	return leaseLoad{perSecond: perSecond, live: int64(perSecond * meanTTL)}
}

// warning says what the rate costs and what to do, or "" when it is fine.
func (l leaseLoad) warning() string {
	if l.live <= liveLeaseWarning {
		return ""
	}
	return fmt.Sprintf("%.1f leased reads per second keep about %d leases alive in Vault (more than %d), each costing Vault memory "+
		"and a revocation: read through a Vault Agent template or Vault Proxy's cache (one lease per token lifetime), "+
		"or set lease_mode=none on this config (no lease at all); see docs/reading-at-high-rates.md",
		l.perSecond, l.live, liveLeaseWarning)
}
