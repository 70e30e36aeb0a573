package e2e

import (
	"context"
	"fmt"
	"net/http"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/partnertoken/vault-plugin-secrets-partnertoken/tests/internal/simadmin"
)

// TestAgentKeepsTheLastTokenThroughAPartnerOutage: Vault never hands out a
// token past its lease, but a reader keeps what it last got. Through a
// partner outage longer than a token's life, a Vault Agent's rendered file
// keeps the last token after it has expired (the Agent's reads fail and it
// retries; it neither empties the file nor exits), and once the partner
// answers again the Agent renders a new token. docs/reading-tokens.md says
// so.
func TestAgentKeepsTheLastTokenThroughAPartnerOutage(t *testing.T) {
	ctx := ctxFor(t)
	// A short timeout: each failed mint during the outage ends soon.
	agent := startRenderingAgent(ctx, t, "outage", map[string]any{"timeout": "2s"})
	p, sim := agent.partner, agent.sim
	defer agent.stop(t, sim)
	first := agent.awaitToken(t, "", 30*time.Second)

	// The partner goes down: every request is answered 503.
	admin := simadmin.Client{URL: sim.URL, HTTP: sim.http}
	if err := admin.StartOutage(ctx, p, http.StatusServiceUnavailable); err != nil {
		t.Fatal(err)
	}
	down := time.Now()
	for time.Since(down) < agentLifetime+10*time.Second {
		select {
		case <-agent.exited:
			t.Fatalf("the Agent exited during the outage (%v)", agent.exitErr)
		case <-time.After(time.Second):
		}
		if tok := agent.token(); tok != first {
			t.Fatalf("%s into the outage the file holds %q, want the last token rendered before it", time.Since(down).Round(time.Second), tok)
		}
	}
	if sim.active(t, p, first) {
		t.Fatalf("the token in the file has not expired after %s of outage: the test proves nothing", agentLifetime+10*time.Second)
	}

	// The partner answers again.
	if err := admin.ClearFaults(ctx, p); err != nil {
		t.Fatal(err)
	}
	next := agent.awaitToken(t, first, 2*time.Minute)
	if !sim.active(t, p, next) {
		t.Errorf("after the outage the Agent rendered a token the partner does not accept")
	}
}

// TestPartnerOutageThroughVault keeps readers reading a config while its
// partner answers 503 to everything (the simulator's outage mode), on a
// mount whose back-off between attempts stops growing at 8 s. Counts, not
// timings, except where a bound is an order of magnitude away: the cached
// token is served while it lasts; after it, every read is a token or a
// 502 that names the partner and the next attempt, and most are answered
// long before the mint's timeout; the partner sees the mint that found it
// down and then one request per back-off step, not one per reader;
// refresh/<name> tries at once; status/<name> and the metrics show the
// outage; and once the partner answers, reads are served again within the
// back-off's cap.
func TestPartnerOutageThroughVault(t *testing.T) {
	ctx := ctxFor(t)
	const path, name, p = "partner-outage", "outage", "setu"
	const (
		lifetime   = 20 * time.Second
		backoffMax = 8 * time.Second
		timeout    = 4 * time.Second
		down       = 40 * time.Second
		// discovery is the most requests of the mint that finds the
		// partner down, which retries within the timeout.
		discovery = 8
	)
	root := shared.root
	sim, err := startSimulator("outage", map[string]time.Duration{p: lifetime})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(sim.Close)
	admin := simadmin.Client{URL: sim.URL, HTTP: sim.http}
	if err := shared.vault.mountPlugin(ctx, path); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _, _ = root.delete(context.Background(), "sys/mounts/"+path) })
	if _, err := root.write(ctx, path+"/settings", map[string]any{"outage_backoff_max": int(backoffMax / time.Second)}); err != nil {
		t.Fatal(err)
	}
	if err := configure(ctx, root, path, name, p, sim, map[string]any{"timeout": timeout.String()}); err != nil {
		t.Fatal(err)
	}
	cached, err := readToken(ctx, root, path, name)
	if err != nil {
		t.Fatal(err)
	}

	r := startAppReaders(ctx, root, path, name, 6, 200*time.Millisecond)
	defer r.stop()
	time.Sleep(time.Second)
	before := sim.allStats(t)[p]
	if err := admin.StartOutage(ctx, p, http.StatusServiceUnavailable); err != nil {
		t.Fatal(err)
	}
	wentDown := time.Now()

	// Once reads fail, the outage is remembered: status/ and metrics show
	// it, and refresh/<name> sends one request at once.
	if err := poll(ctx, lifetime+timeout+5*time.Second, func() error {
		status, err := root.read(ctx, path+"/status/"+name)
		if err != nil {
			return stopPolling(err)
		}
		if status.Data["backoff"] != "partner down" {
			return fmt.Errorf("status/%s shows no outage: %v", name, status.Data)
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	status, err := root.read(ctx, path+"/status/"+name)
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"outage_since", "outage_failures", "next_attempt_at", "backoff_until"} {
		if status.Data[k] == nil {
			t.Errorf("status/%s has no %s during the outage: %v", name, k, status.Data)
		}
	}
	sent := sim.allStats(t)[p].Requests
	_, err = root.write(ctx, path+"/refresh/"+name, nil)
	expectRefused(t, "refresh/<name> during the outage", err, http.StatusBadGateway, "Setu token endpoint", "HTTP 503")
	if n := sim.allStats(t)[p].Requests - sent; n < 1 {
		t.Errorf("refresh/<name> during the outage sent no request to the partner, want an attempt at once")
	}

	time.Sleep(time.Until(wentDown.Add(down)))
	if err := admin.ClearFaults(ctx, p); err != nil {
		t.Fatal(err)
	}
	returned := time.Now()
	window := returned.Sub(wentDown)
	after := sim.allStats(t)[p]
	if err := poll(ctx, backoffMax+20*time.Second, func() error {
		if _, ok := r.firstServedAfter(returned); !ok {
			return fmt.Errorf("no read served since the partner returned")
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	served, _ := r.firstServedAfter(returned)
	samples := r.stop()

	var failed []time.Duration
	servedCached := false
	for _, s := range samples {
		switch {
		case s.status == http.StatusOK:
			if s.start.After(wentDown) && s.end.Before(returned) {
				if s.token != cached.AccessToken {
					t.Errorf("a read during the outage got a token that was not the cached one")
				}
				servedCached = true
			}
		case s.status == http.StatusBadGateway:
			failed = append(failed, s.took())
			for _, want := range []string{"Setu token endpoint", "next attempt"} {
				if !strings.Contains(s.err.Error(), want) {
					t.Errorf("a refused read does not say %q: %v", want, s.err)
					break
				}
			}
		default:
			t.Errorf("a read during the outage got neither a token nor a 502: %v", s.err)
		}
	}
	if !servedCached {
		t.Errorf("no read got the cached token during the outage")
	}
	if len(failed) == 0 {
		t.Fatalf("no read failed in a %s outage with %s tokens", window.Round(time.Second), lifetime)
	}
	slices.Sort(failed)
	median := failed[len(failed)/2]
	t.Logf("%d reads, %d refused (median %s, max %s); %d partner requests in %s down; served again %s after the partner returned",
		len(samples), len(failed), median.Round(time.Millisecond), failed[len(failed)-1].Round(time.Millisecond),
		after.Requests-before.Requests, window.Round(time.Second), served.end.Sub(returned).Round(10*time.Millisecond))
	if median >= timeout/2 {
		t.Errorf("the median refused read took %s, want it answered long before the %s mint timeout", median, timeout)
	}
	// The mint that found the partner down, one attempt per back-off
	// step from a second up to the cap, then attempts at least half the cap
	// apart (jitter), and the forced refresh.
	ramp := 0
	for d := time.Second; d < backoffMax; d *= 2 {
		ramp++
	}
	bound := discovery + ramp + int(2*window/backoffMax) + 1 + 1
	if n := after.Requests - before.Requests; n > bound {
		t.Errorf("the partner got %d requests in %s down, want at most %d with a %s back-off cap", n, window.Round(time.Second), bound, backoffMax)
	}
	if n := after.Mints - before.Mints; n != 0 {
		t.Errorf("the partner minted %d tokens while down", n)
	}
	if took := served.end.Sub(returned); took > backoffMax+5*time.Second {
		t.Errorf("reads were served again %s after the partner returned, want within the %s cap", took, backoffMax)
	}

	text := rawGet(t, ctx, root, path+"/metrics?format=prometheus")
	m := regexp.MustCompile(`partnertoken_outage_refused_reads_total\{config="` + name + `",provider="` + p + `"\} (\d+)`).FindStringSubmatch(text)
	if m == nil {
		t.Fatalf("Prometheus text has no partnertoken_outage_refused_reads_total for %s", name)
	}
	if n, _ := strconv.Atoi(m[1]); n < 1 || n > len(failed) {
		t.Errorf("partnertoken_outage_refused_reads_total = %d, want between 1 and the %d refused reads", n, len(failed))
	}
	status, err = root.read(ctx, path+"/status/"+name)
	if err != nil {
		t.Fatal(err)
	}
	if status.Data["backoff"] != nil || status.Data["outage_since"] != nil {
		t.Errorf("status/%s still shows the outage once reads are served again: %v", name, status.Data)
	}
}
