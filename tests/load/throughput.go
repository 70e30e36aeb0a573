package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"time"
)

// segment is what n clients achieved reading one path for one period.
type segment struct {
	count    int // reads answered 200 within the period
	sent     int // requests sent, those answered after the period included
	errs     int
	firstErr error
	lat      []time.Duration
}

// drive reads path with n concurrent clients (closed loop: each sends its
// next request when the previous answer is read) for d. Only reads that
// complete within d are counted; drive returns once every client's last
// request is done, so nothing spills into the next segment.
func drive(ctx context.Context, client *http.Client, addr, token, path string, n int, d time.Duration) segment {
	return driveAll(ctx, client, addr, token, []string{path}, n, d)
}

// driveAll is drive over several paths: client i reads paths i, i+n,
// i+2n, ... in turn (or path i mod len(paths) if there are fewer than n).
func driveAll(ctx context.Context, client *http.Client, addr, token string, paths []string, n int, d time.Duration) segment {
	deadline := time.Now().Add(d)
	parts := make([]segment, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			var readers []*reader
			for j := i % len(paths); j < len(paths); j += n {
				readers = append(readers, newReader(client, addr, token, paths[j]))
			}
			seg := &parts[i]
			seg.lat = make([]time.Duration, 0, 4096)
			for k := 0; ctx.Err() == nil; k++ {
				t0 := time.Now()
				if !t0.Before(deadline) {
					return
				}
				seg.sent++
				err := readers[k%len(readers)].get()
				t1 := time.Now()
				if t1.After(deadline) {
					return
				}
				if err != nil {
					seg.errs++
					if seg.firstErr == nil {
						seg.firstErr = err
					}
					continue
				}
				seg.lat = append(seg.lat, t1.Sub(t0))
			}
		})
	}
	wg.Wait()
	var out segment
	for _, p := range parts {
		out.count += len(p.lat)
		out.sent += p.sent
		out.errs += p.errs
		if out.firstErr == nil {
			out.firstErr = p.firstErr
		}
		out.lat = append(out.lat, p.lat...)
	}
	return out
}

// targetResult accumulates a target's rounds.
type targetResult struct {
	target
	perRound []float64 // req/s of each round
	count    int
	errs     int
	firstErr error
	lat      []time.Duration
	leased   string
	bytes    int
	cpu      map[string]time.Duration // CPU time per process over the rounds
}

func runThroughput(ctx context.Context, o *options) (bool, error) {
	client := newHTTPClient(o.clients)
	rv := &vault{addr: o.addr, token: o.readToken, http: client}
	targets := append([]target{{name: "partnertoken", path: strings.Trim(o.partner, "/")}}, o.baselines...)
	results := make([]*targetResult, len(targets))

	fmt.Printf("\n## Throughput: cached reads, %d clients, %d rounds of %s per target (rotating order), %s warm-up\n\n",
		o.clients, o.rounds, o.duration, o.warmup)
	for i, t := range targets {
		res := &targetResult{target: t, cpu: map[string]time.Duration{}}
		results[i] = res
		// One checked read: the path answers, and whether it is leased.
		r := newReader(client, o.addr, o.readToken, t.path)
		if err := r.get(); err != nil {
			return false, fmt.Errorf("%s: %w", t.name, err)
		}
		res.bytes = r.buf.Len()
		resp, err := rv.read(ctx, t.path)
		if err != nil {
			return false, fmt.Errorf("%s: %w", t.name, err)
		}
		if len(resp.Data) == 0 {
			return false, fmt.Errorf("%s: GET %s answered no data", t.name, t.path)
		}
		res.leased = "no lease"
		if resp.LeaseID != "" {
			res.leased = fmt.Sprintf("lease %ds, renewable=%v", resp.LeaseDuration, resp.Renewable)
		}
	}
	for _, t := range targets {
		if seg := drive(ctx, client, o.addr, o.readToken, t.path, o.clients, o.warmup); seg.errs > 0 {
			return false, fmt.Errorf("warm-up of %s: %d failed reads, the first: %v", t.name, seg.errs, seg.firstErr)
		}
	}
	procs := findProcesses(o.vaultPid)
	for round := range o.rounds {
		var line []string
		for i := range targets {
			res := results[(i+round)%len(targets)]
			cpu := procs.cpu()
			seg := drive(ctx, client, o.addr, o.readToken, res.path, o.clients, o.duration)
			for name, d := range procs.cpu() {
				res.cpu[name] += d - cpu[name]
			}
			if ctx.Err() != nil {
				return false, ctx.Err()
			}
			rate := float64(seg.count) / o.duration.Seconds()
			res.perRound = append(res.perRound, rate)
			res.count += seg.count
			res.errs += seg.errs
			if res.firstErr == nil {
				res.firstErr = seg.firstErr
			}
			res.lat = append(res.lat, seg.lat...)
			line = append(line, fmt.Sprintf("%s %.0f/s", res.name, rate))
		}
		fmt.Printf("round %d: %s\n", round+1, strings.Join(line, ", "))
	}

	fmt.Printf("\n| target | path | answer | req/s | rounds (min-max) | p50 ms | p90 ms | p99 ms | max ms | errors |\n")
	fmt.Printf("|---|---|---|---:|---|---:|---:|---:|---:|---:|\n")
	failed := false
	for _, res := range results {
		s := summarize(res.lat)
		total := float64(res.count) / (o.duration.Seconds() * float64(o.rounds))
		fmt.Printf("| %s | `%s` | %d B, %s | %.0f | %.0f-%.0f | %s | %s | %s | %s | %d |\n",
			res.name, res.path, res.bytes, res.leased, total, slices.Min(res.perRound), slices.Max(res.perRound),
			ms(s.p50), ms(s.p90), ms(s.p99), ms(s.max), res.errs)
		if res.errs > 0 {
			failed = true
			fmt.Fprintf(os.Stderr, "load: %s: %d failed reads, the first: %v\n", res.name, res.errs, res.firstErr)
		}
	}

	cpuPerRead := func(res *targetResult) float64 {
		var total time.Duration
		for _, d := range res.cpu {
			total += d
		}
		return float64(total) / float64(res.count)
	}
	if names := procs.names(); len(names) > 1 {
		fmt.Printf("\nCPU time per read, in microseconds, of each process (from /proc; %d CPUs):\n\n", runtime.NumCPU())
		fmt.Printf("| target | %s | total | CPUs busy |\n|---|%s---:|---:|\n", strings.Join(names, " | "), strings.Repeat("---:|", len(names)))
		for _, res := range results {
			var cells []string
			var total time.Duration
			for _, name := range names {
				total += res.cpu[name]
				cells = append(cells, fmt.Sprintf("%.0f", float64(res.cpu[name].Microseconds())/float64(res.count)))
			}
			fmt.Printf("| %s | %s | %.0f | %.2f |\n", res.name, strings.Join(cells, " | "),
				float64(total.Microseconds())/float64(res.count), total.Seconds()/(o.duration.Seconds()*float64(o.rounds)))
		}
	}

	fmt.Printf("\nEach round reads every target back to back, so each round gives a ratio in which the\n"+
		"machine's drift cancels out. A goal is judged by the median of those ratios and its 95%%\n"+
		"interval: PASS if the median is at or above the goal; MISS if the whole interval is below\n"+
		"it (measurably slower, however little); PASS within noise if the median is below the goal\n"+
		"but the interval holds the goal and reaches no more than %.0f%% below it; UNDECIDED (a\n"+
		"miss: run more rounds) if it reaches further.\n"+
		"The CPU time ratio is what the throughput ratio would be if the processes measured had the\n"+
		"CPUs to themselves (other load on the machine moves throughput, not CPU time per read).\n", o.noiseMargin*100)
	ok := !failed
	partner := results[0]
	withCPU := len(procs.names()) > 1
	fmt.Printf("\n| goal | throughput ratio (all rounds) | per round: median [95%% interval] (min-max) | CPU time per read, inverse ratio | result |\n|---|---:|---|---:|---|\n")
	for _, res := range results[1:] {
		ratio := float64(partner.count) / float64(res.count)
		var rounds []float64
		for r := range partner.perRound {
			rounds = append(rounds, partner.perRound[r]/res.perRound[r])
		}
		summary := summarizeRatios(rounds)
		result, goal := "(no goal)", "partnertoken vs "+res.name
		if res.goal > 0 {
			verdict := judgeRatio(summary, res.goal, o.noiseMargin)
			ok = ok && verdict.pass
			result = verdict.result
			goal = fmt.Sprintf("partnertoken >= %gx %s", res.goal, res.name)
		}
		cpuRatio := "-"
		if withCPU {
			cpuRatio = fmt.Sprintf("%.2fx", cpuPerRead(res)/cpuPerRead(partner))
		}
		fmt.Printf("| %s | %.2fx | %s (%.2f-%.2f) | %s | %s |\n", goal, ratio, interval(summary), slices.Min(rounds), slices.Max(rounds), cpuRatio, result)
	}

	if o.vaultProfile != "" {
		if err := profileVault(ctx, o, client, targets); err != nil {
			return false, err
		}
	}
	return ok, nil
}

// profileVault reads each target for o.duration while Vault takes a CPU
// profile of itself, and saves it as <dir>/vault-<target>.pprof.
func profileVault(ctx context.Context, o *options, client *http.Client, targets []target) error {
	if err := os.MkdirAll(o.vaultProfile, 0o755); err != nil {
		return err
	}
	secs := max(1, int(o.duration.Seconds()))
	admin := &http.Client{Timeout: time.Duration(secs+30) * time.Second}
	fmt.Println()
	for _, t := range targets {
		// The reads start before the profile and end after it, so it
		// covers load only.
		var seg segment
		var wg sync.WaitGroup
		wg.Go(func() {
			seg = drive(ctx, client, o.addr, o.readToken, t.path, o.clients, time.Duration(secs)*time.Second+time.Second)
		})
		time.Sleep(300 * time.Millisecond)
		var pluginProfile []byte
		var pluginErr error
		var pwg sync.WaitGroup
		if url, ok := o.pluginProfile[t.name]; ok {
			pwg.Go(func() {
				pluginProfile, pluginErr = fetchProfile(ctx, admin, fmt.Sprintf("%s/debug/pprof/profile?seconds=%d", url, secs), "")
			})
		}
		profile, perr := fetchProfile(ctx, admin, fmt.Sprintf("%s/v1/sys/pprof/profile?seconds=%d", o.addr, secs), o.adminToken)
		pwg.Wait()
		wg.Wait()
		if perr != nil {
			return fmt.Errorf("profiling Vault while reading %s: %w", t.name, perr)
		}
		if pluginErr != nil {
			return fmt.Errorf("profiling the plugin of %s: %w", t.name, pluginErr)
		}
		file := filepath.Join(o.vaultProfile, "vault-"+t.name+".pprof")
		if err := os.WriteFile(file, profile, 0o644); err != nil {
			return err
		}
		fmt.Printf("Vault CPU profile while reading %s (%.0f req/s): %s\n", t.name, float64(seg.count)/(float64(secs)+1), file)
		if pluginProfile != nil {
			file := filepath.Join(o.vaultProfile, "plugin-"+t.name+".pprof")
			if err := os.WriteFile(file, pluginProfile, 0o644); err != nil {
				return err
			}
			fmt.Printf("plugin CPU profile while reading %s: %s\n", t.name, file)
		}
	}
	return nil
}

// fetchProfile gets a CPU profile from a pprof endpoint (Vault's with a token).
func fetchProfile(ctx context.Context, admin *http.Client, url, token string) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, err
	}
	if token != "" {
		req.Header.Set("X-Vault-Token", token)
	}
	resp, err := admin.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	profile, err := io.ReadAll(resp.Body)
	if err == nil && resp.StatusCode != http.StatusOK {
		err = fmt.Errorf("GET %s: HTTP %d: %.200s", url, resp.StatusCode, profile)
	}
	return profile, err
}
