package main

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// runScale writes o.scaleConfigs configs into the mount and reports what a
// real Vault shows with them: write and mint rates, LIST times, cached
// reads spread over every config, and the plugin's memory per cached
// config.
func runScale(ctx context.Context, o *options) (bool, error) {
	sim, err := loadSimulator(o.handshake)
	if err != nil {
		return false, err
	}
	n := o.scaleConfigs
	client := newHTTPClient(o.clients)
	admin := &vault{addr: o.addr, token: o.adminToken, http: client}
	prefix := fmt.Sprintf("scale-%d-", time.Now().Unix())
	names := make([]string, n)
	for i := range names {
		names[i] = fmt.Sprintf("%s%05d", prefix, i)
	}
	fmt.Printf("\n## Scale: %d configs in %s/ (provider %s), %d clients\n\n", n, o.mount, o.scalePartner, o.clients)
	fmt.Printf("| step | through Vault |\n|---|---|\n")

	took, err := parallel(ctx, o.clients, n, func(i int) error {
		return writeConfig(ctx, admin, sim, o.mount, names[i], o.scalePartner, nil)
	})
	if err != nil {
		return false, err
	}
	fmt.Printf("| write %d configs | %.1f s (%.0f writes/s) |\n", n, took.Seconds(), float64(n)/took.Seconds())

	listed, listTook, err := timeList(ctx, admin, o.mount+"/config", 5)
	if err != nil {
		return false, err
	}
	fmt.Printf("| LIST %s/config (%d keys), median of 5 | %s ms |\n", o.mount, listed, ms(listTook))

	pid, rssBefore := pluginMemory(o.vaultPid, o.pluginName)
	before, err := sim.stats(ctx, o.scalePartner)
	if err != nil {
		return false, err
	}
	reads := &vault{addr: o.addr, token: o.readToken, http: client}
	took, err = parallel(ctx, o.clients, n, func(i int) error {
		_, err := reads.read(ctx, o.mount+"/token/"+names[i])
		return err
	})
	if err != nil {
		return false, err
	}
	after, err := sim.stats(ctx, o.scalePartner)
	if err != nil {
		return false, err
	}
	mints := after.Mints - before.Mints
	fmt.Printf("| first read of every token (%d mints at the simulator) | %.1f s (%.0f reads/s) |\n", mints, took.Seconds(), float64(n)/took.Seconds())

	paths := make([]string, n)
	for i, name := range names {
		paths[i] = o.mount + "/token/" + name
	}
	seg := driveAll(ctx, client, o.addr, o.readToken, paths, o.clients, o.duration)
	s := summarize(seg.lat)
	fmt.Printf("| cached reads spread over all %d configs, %s | %.0f req/s, p50 %s ms, p99 %s ms, %d errors |\n",
		n, o.duration, float64(seg.count)/o.duration.Seconds(), ms(s.p50), ms(s.p99), seg.errs)

	_, rssAfter := pluginMemory(o.vaultPid, o.pluginName)
	if pid != 0 && rssBefore > 0 && rssAfter > 0 {
		fmt.Printf("| plugin resident memory (pid %d) before / after caching %d tokens | %.1f MiB / %.1f MiB: %.1f KiB per cached config |\n",
			pid, n, float64(rssBefore)/(1<<20), float64(rssAfter)/(1<<20), float64(rssAfter-rssBefore)/1024/float64(n))
	} else if o.vaultPid > 0 {
		fmt.Printf("| plugin resident memory | not found: Vault (pid %d) runs no %s |\n", o.vaultPid, o.pluginName)
	}

	statuses, statusTook, err := timeList(ctx, admin, o.mount+"/status", 5)
	if err != nil {
		return false, err
	}
	fmt.Printf("| LIST %s/status (%d keys), median of 5 | %s ms |\n", o.mount, statuses, ms(statusTook))
	listed, listTook, err = timeList(ctx, admin, o.mount+"/config", 5)
	if err != nil {
		return false, err
	}
	fmt.Printf("| LIST %s/config again, tokens cached (%d keys), median of 5 | %s ms |\n", o.mount, listed, ms(listTook))

	pass := mints == n && listed >= n && seg.errs == 0
	if !pass {
		fmt.Printf("\nunexpected: %d mints for %d configs, %d configs listed, %d failed reads (the first: %v)\n", mints, n, listed, seg.errs, seg.firstErr)
	}
	return pass, nil
}

// parallel runs f(0..n-1) on workers goroutines and returns how long it took.
func parallel(ctx context.Context, workers, n int, f func(i int) error) (time.Duration, error) {
	start := time.Now()
	var next atomic.Int64
	var firstErr error
	var once sync.Once
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for ctx.Err() == nil {
				i := int(next.Add(1)) - 1
				if i >= n {
					return
				}
				if err := f(i); err != nil {
					once.Do(func() { firstErr = err })
					return
				}
			}
		})
	}
	wg.Wait()
	if firstErr == nil {
		firstErr = ctx.Err()
	}
	return time.Since(start), firstErr
}

// timeList lists path reps times and returns the key count and the median time.
func timeList(ctx context.Context, v *vault, path string, reps int) (int, time.Duration, error) {
	var times []time.Duration
	keys := 0
	for range reps {
		start := time.Now()
		k, err := v.list(ctx, path)
		if err != nil {
			return 0, 0, err
		}
		times = append(times, time.Since(start))
		keys = len(k)
	}
	slices.Sort(times)
	return keys, times[len(times)/2], nil
}

// pluginMemory finds the plugin process (a child of Vault) named name
// and returns its pid and resident set size in bytes (Linux /proc); zeros
// if there is none.
func pluginMemory(vaultPid int, name string) (int, int64) {
	pid, ok := findProcesses(vaultPid).pids[name]
	if !ok || name == "" || name == "load" || name == "vault" {
		return 0, 0
	}
	return pid, residentBytes(filepath.Join("/proc", strconv.Itoa(pid), "status"))
}

func residentBytes(statusFile string) int64 {
	f, err := os.Open(statusFile)
	if err != nil {
		return 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), "VmRSS:"); ok {
			kb, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
			return kb * 1024
		}
	}
	return 0
}
