package main

import (
	"context"
	"fmt"
	"math"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// defaultOutageBackoffMax is the engine's default cap of the back-off
// between attempts while a partner is down (settings' outage_backoff_max),
// used when the mount does not report one.
const defaultOutageBackoffMax = 30 * time.Second

// outageSample is one read in the outage mode, times relative to the
// start of the run.
type outageSample struct {
	start, end time.Duration
	status     int // 0: no answer
}

// outageResult is what one run of the outage mode measured.
type outageResult struct {
	readers  int
	samples  []outageSample
	window   time.Duration // how long the partner was down
	requests int           // partner requests while it was down
	mints    int           // tokens the partner issued while it was down
	bound    int           // partner requests the back-off allows in window
	// recovery is from the partner's return to the end of the first
	// successful read that started after it; negative when none came.
	recovery time.Duration
	// refusal is the body of the first 502, as an example of what readers
	// are told.
	refusal string
}

// runOutage measures what readers of one config see while its partner is
// down. For each reader count of -outage-clients, on a fresh config with
// -outage-lifetime tokens, the readers each read every -outage-interval;
// after a few seconds of cached reads the simulator answers every token
// request with -outage-status for -outage-duration (its outage mode), then
// answers again, and the readers go on until one of them is served again.
// Goals: the median failed read under a second (Vault's round trip
// included), partner requests while it is down within what the engine's
// back-off allows whatever the number of readers, and reads served again
// within the back-off's cap of the partner's return.
func runOutage(ctx context.Context, o *options) (bool, error) {
	sim, err := loadSimulator(o.handshake)
	if err != nil {
		return false, err
	}
	admin := &vault{addr: o.addr, token: o.adminToken, http: newHTTPClient(4)}
	backoffMax, source, err := outageBackoffMax(ctx, admin, o.mount)
	if err != nil {
		return false, err
	}
	if err := sim.setLifetime(ctx, o.outagePartner, o.outageLifetime); err != nil {
		return false, err
	}
	fmt.Printf("\n## Partner outage: readers each reading every %s, %s tokens, the simulator answering HTTP %d to every %s token request for %s; back-off cap %s (%s)\n\n",
		o.outageInterval, o.outageLifetime, o.outageStatus, o.outagePartner, o.outageDuration, backoffMax, source)
	fmt.Printf("| readers | reads | served | refused (502) | other answers | failed read p50 ms | p90 ms | max ms | partner requests while down | per minute | bound | mints while down | return to first served read (s) | result |\n")
	fmt.Printf("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|\n")
	ok := true
	var refusal string
	for _, n := range o.outageClients {
		res, err := outageRun(ctx, o, sim, admin, n, backoffMax)
		if err != nil {
			return false, err
		}
		var failed []time.Duration
		served, refused, other := 0, 0, 0
		for _, s := range res.samples {
			switch s.status {
			case http.StatusOK:
				served++
			case http.StatusBadGateway:
				refused++
			default:
				other++
			}
			if s.status != http.StatusOK {
				failed = append(failed, s.end-s.start)
			}
		}
		f := summarize(failed)
		recovered := res.recovery >= 0 && res.recovery <= backoffMax+time.Second
		pass := other == 0 && f.p50 < time.Second && res.requests <= res.bound && res.mints == 0 && recovered
		ok = ok && pass
		recovery := "none"
		if res.recovery >= 0 {
			recovery = fmt.Sprintf("%.1f", res.recovery.Seconds())
		}
		fmt.Printf("| %d | %d | %d | %d | %d | %s | %s | %s | %d | %.1f | %d | %d | %s | %s |\n",
			n, len(res.samples), served, refused, other, ms(f.p50), ms(f.p90), ms(f.max),
			res.requests, float64(res.requests)/res.window.Minutes(), res.bound, res.mints, recovery, passMiss(pass))
		if refusal == "" {
			refusal = res.refusal
		}
	}
	fmt.Printf("\ngoals: failed read p50 < 1000 ms; partner requests while down <= bound; no mint while down; served again within the cap (%s, plus a second for the round trip) of the partner's return; every answer a token or a 502\n", backoffMax)
	fmt.Printf("bound: the mint that finds the partner down, with its retries within the config's timeout (counted as %d requests), then one attempt per back-off step from 1s, doubling up to the cap, then at least half the cap apart\n", o.outageDiscovery)
	if refusal != "" {
		fmt.Printf("a refused read is told: %s\n", refusal)
	}
	return ok, nil
}

// outageRun is one run of the outage mode with n readers.
func outageRun(ctx context.Context, o *options, sim *simulator, admin *vault, n int, backoffMax time.Duration) (*outageResult, error) {
	p := o.outagePartner
	name := fmt.Sprintf("outage-%d-%d", time.Now().Unix(), n)
	if err := writeConfig(ctx, admin, sim, o.mount, name, p, nil); err != nil {
		return nil, err
	}
	// Deleted at the end: its token, read until then, would otherwise be
	// refreshed ahead during the next run's outage, and its requests
	// counted there.
	defer func() {
		_, _, _ = admin.do(context.WithoutCancel(ctx), http.MethodDelete, o.mount+"/config/"+name, nil)
	}()
	path := o.mount + "/token/" + name
	client := newHTTPClient(n)
	defer client.CloseIdleConnections()
	// The first read mints; the readers start from a cached token.
	if err := newReader(client, o.addr, o.readToken, path).get(); err != nil {
		return nil, err
	}

	t0 := time.Now()
	var stop atomic.Bool
	// returned is when the partner came back, as an offset from t0; until
	// then it is "never".
	var returned, firstServed atomic.Int64
	returned.Store(math.MaxInt64)
	firstServed.Store(-1)
	served := make(chan struct{})
	var once sync.Once
	parts := make([][]outageSample, n)
	refusals := make([]string, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			r := newReader(client, o.addr, o.readToken, path)
			// Staggered, so the readers do not arrive in step.
			due := time.Duration(i) * o.outageInterval / time.Duration(n)
			for !stop.Load() && ctx.Err() == nil {
				if wait := due - time.Since(t0); wait > 0 {
					time.Sleep(wait)
				}
				start := time.Since(t0)
				err := r.get()
				end := time.Since(t0)
				parts[i] = append(parts[i], outageSample{start: start, end: end, status: r.status})
				if r.status == http.StatusBadGateway && refusals[i] == "" {
					refusals[i] = strings.TrimSpace(r.buf.String())
				}
				if err == nil && int64(start) >= returned.Load() {
					firstServed.CompareAndSwap(-1, int64(end))
					once.Do(func() { close(served) })
				}
				// A slow read delays the next, which does not catch up.
				due = max(due+o.outageInterval, time.Since(t0))
			}
		})
	}
	finish := func() {
		stop.Store(true)
		wg.Wait()
	}

	sleep(ctx, 5*time.Second)
	before, err := sim.stats(ctx, p)
	if err != nil {
		finish()
		return nil, err
	}
	if err := sim.outage(ctx, p, o.outageStatus); err != nil {
		finish()
		return nil, err
	}
	down := time.Now()
	sleep(ctx, o.outageDuration)
	if err := sim.clearFaults(ctx, p); err != nil {
		finish()
		return nil, err
	}
	returned.Store(int64(time.Since(t0)))
	window := time.Since(down)
	after, err := sim.stats(ctx, p)
	if err != nil {
		finish()
		return nil, err
	}
	select {
	case <-served:
		sleep(ctx, time.Second)
	case <-time.After(backoffMax + 30*time.Second):
	case <-ctx.Done():
	}
	finish()

	res := &outageResult{
		readers:  n,
		window:   window,
		requests: after.Requests - before.Requests,
		mints:    after.Mints - before.Mints,
		bound:    outageRequestBound(window, backoffMax, o.outageDiscovery),
		recovery: -1,
	}
	for i, part := range parts {
		res.samples = append(res.samples, part...)
		if res.refusal == "" {
			res.refusal = refusals[i]
		}
	}
	slices.SortFunc(res.samples, func(a, b outageSample) int { return int(a.start - b.start) })
	if at := firstServed.Load(); at >= 0 {
		res.recovery = time.Duration(at - returned.Load())
	}
	return res, nil
}

// outageRequestBound is the most partner requests the engine's back-off
// allows while a partner is down for window: the mint that finds it down
// (discovery requests, its own retries within the config's timeout), then
// one attempt per step of the back-off from a second, doubling, until it
// reaches backoffMax, then attempts at least half of backoffMax apart (the
// jitter takes up to half of each wait).
func outageRequestBound(window, backoffMax time.Duration, discovery int) int {
	ramp := 0
	for d := time.Second; d < backoffMax; d *= 2 {
		ramp++
	}
	return discovery + ramp + int(2*window/backoffMax) + 1
}

// outageBackoffMax is the mount's outage_backoff_max setting, or the
// engine's default when the mount reports none, and where it came from.
func outageBackoffMax(ctx context.Context, v *vault, mount string) (time.Duration, string, error) {
	r, err := v.read(ctx, mount+"/settings")
	if err != nil {
		return 0, "", err
	}
	switch x := r.Data["outage_backoff_max"].(type) {
	case float64:
		return time.Duration(x * float64(time.Second)), "the mount's outage_backoff_max", nil
	case string:
		if secs, err := strconv.ParseFloat(x, 64); err == nil {
			return time.Duration(secs * float64(time.Second)), "the mount's outage_backoff_max", nil
		}
		if d, err := time.ParseDuration(x); err == nil {
			return d, "the mount's outage_backoff_max", nil
		}
		return 0, "", fmt.Errorf("%s/settings: outage_backoff_max %q is not a duration", mount, x)
	}
	return defaultOutageBackoffMax, "the mount reports no outage_backoff_max: the default", nil
}

// sleep waits for d or until ctx ends.
func sleep(ctx context.Context, d time.Duration) {
	select {
	case <-time.After(d):
	case <-ctx.Done():
	}
}
