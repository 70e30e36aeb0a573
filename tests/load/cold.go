package main

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"sync"
	"time"
)

// runCold releases o.coldClients readers at once on a config nobody read
// yet, o.coldTrials times with a fresh config each, and checks that the
// partner saw exactly one mint per trial. The simulator holds the mint for
// o.coldDelay, so every reader arrives while it is in flight.
func runCold(ctx context.Context, o *options) (bool, error) {
	sim, err := loadSimulator(o.handshake)
	if err != nil {
		return false, err
	}
	admin := &vault{addr: o.addr, token: o.adminToken, http: newHTTPClient(4)}
	n := o.coldClients
	fmt.Printf("\n## Cold start: %d concurrent readers of a fresh config, the simulator holding the mint for %s\n\n", n, o.coldDelay)
	fmt.Printf("| trial | readers OK | distinct tokens | partner requests | mints | readers that waited for the mint | p50 ms | max ms | result |\n")
	fmt.Printf("|---|---:|---:|---:|---:|---:|---:|---:|---|\n")
	ok := true
	stamp := time.Now().Unix()
	for trial := 1; trial <= o.coldTrials; trial++ {
		name := fmt.Sprintf("cold-%d-%d", stamp, trial)
		if err := writeConfig(ctx, admin, sim, o.mount, name, o.coldPartner, nil); err != nil {
			return false, err
		}
		// One connection per reader, opened beforehand, so the reads leave
		// together instead of queueing behind TCP handshakes.
		client := newHTTPClient(n)
		if err := openConnections(ctx, client, o.addr, n); err != nil {
			return false, err
		}
		before, err := sim.stats(ctx, o.coldPartner)
		if err != nil {
			return false, err
		}
		if o.coldDelay > 0 {
			if err := sim.delay(ctx, o.coldPartner, o.coldDelay); err != nil {
				return false, err
			}
		}

		type result struct {
			token string
			lat   time.Duration
			err   error
		}
		results := make([]result, n)
		start := make(chan struct{})
		var ready, done sync.WaitGroup
		for i := range n {
			ready.Add(1)
			done.Go(func() {
				r := newReader(client, o.addr, o.readToken, o.mount+"/token/"+name)
				ready.Done()
				<-start
				t0 := time.Now()
				err := r.get()
				results[i] = result{lat: time.Since(t0), err: err}
				if err == nil {
					results[i].token = r.accessToken()
				}
			})
		}
		ready.Wait()
		close(start)
		done.Wait()

		after, err := sim.stats(ctx, o.coldPartner)
		if err != nil {
			return false, err
		}
		tokens := map[string]bool{}
		var lat []time.Duration
		okReads, waited := 0, 0
		var firstErr error
		for _, r := range results {
			if r.err != nil {
				if firstErr == nil {
					firstErr = r.err
				}
				continue
			}
			okReads++
			tokens[r.token] = true
			lat = append(lat, r.lat)
			if o.coldDelay > 0 && r.lat >= o.coldDelay {
				waited++
			}
		}
		s := summarize(lat)
		mints := after.Mints - before.Mints
		pass := okReads == n && len(tokens) == 1 && mints == 1
		ok = ok && pass
		fmt.Printf("| %d | %d/%d | %d | %d | %d | %d | %s | %s | %s |\n", trial, okReads, n, len(tokens),
			after.Requests-before.Requests, mints, waited, ms(s.p50), ms(s.max), passMiss(pass))
		if firstErr != nil {
			fmt.Fprintf(os.Stderr, "load: cold trial %d: %d failed reads, the first: %v\n", trial, n-okReads, firstErr)
		}
		client.CloseIdleConnections()
	}
	return ok, nil
}

// openConnections fills client's pool with up to n connections to Vault by
// sending n concurrent requests for sys/health.
func openConnections(ctx context.Context, client *http.Client, addr string, n int) error {
	var wg sync.WaitGroup
	errs := make([]error, n)
	start := make(chan struct{})
	for i := range n {
		wg.Go(func() {
			r := newReader(client, addr, "", "sys/health")
			<-start
			errs[i] = r.get()
		})
	}
	close(start)
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return fmt.Errorf("opening %d connections to Vault: %w", n, err)
		}
	}
	return nil
}
