package backend

import (
	"context"
	"fmt"
	"runtime"
	"testing"
	"time"

	"github.com/hashicorp/vault/sdk/logical"

	"github.com/partnertoken/vault-plugin-secrets-partnertoken/internal/partnersim"
)

// The cached token read is compared with a read that only fetches one
// storage entry (config/<name>): a cached read must cost no more than that,
// since the in-memory front spares it even that round trip.
//
//	go test -run '^$' -bench 'Read' -benchmem ./backend/

func BenchmarkTokenReadCached(b *testing.B) {
	env := newTestEnv(b)
	env.writeConfig("p", nil)
	env.readToken("p")
	benchmarkParallelReads(b, env, "token/p")
}

func BenchmarkStorageEntryRead(b *testing.B) {
	env := newTestEnv(b)
	env.writeConfig("p", nil)
	benchmarkParallelReads(b, env, "config/p")
}

// benchmarkParallelReads reads path b.N times in all from GOMAXPROCS
// goroutines, logging at the plugin's default level: the test env logs at
// trace, and a trace line per read would be most of what is measured.
func benchmarkParallelReads(b *testing.B, env *testEnv, path string) {
	b.Helper()
	env.b.Logger().SetLevel(defaultLogLevel)
	req := &logical.Request{Operation: logical.ReadOperation, Path: path, Storage: env.storage, MountPoint: "partner/"}
	ctx := context.Background()
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := env.b.HandleRequest(ctx, req); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.StopTimer()
}

func BenchmarkTokenReadMiss(b *testing.B) {
	env := newTestEnv(b)
	env.writeConfig("p", nil)
	ctx := context.Background()
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		// Dropping the entry and the stored token forces a mint.
		if err := env.b.cache.discardToken(ctx, "p"); err != nil {
			b.Fatal(err)
		}
		if _, err := env.request(logical.ReadOperation, "token/p", nil); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkTokenReadMissSimulator is a cold read through each partner's
// protocol against the strict simulator: building and signing the request,
// the loopback round trip, parsing and storing the token.
//
//	go test -run '^$' -bench MissSimulator -benchmem ./backend/
func BenchmarkTokenReadMissSimulator(b *testing.B) {
	for _, partner := range partnersim.Partners() {
		b.Run(partner, func(b *testing.B) {
			// DOKU's simulator checks Request-Timestamp against its clock.
			env := newTestEnvAt(b, time.Now())
			// Dinie's per-minute quota measures the partner, not the engine.
			sim := startSimulator(b, partnersim.Options{Now: env.clock.Now, DinieRateLimit: 1 << 30})
			env.mustOK(logical.CreateOperation, "config/"+partner, simConfig(sim, partner, ""))
			ctx := context.Background()
			b.ReportAllocs()
			b.ResetTimer()
			for range b.N {
				if err := env.b.cache.discardToken(ctx, partner); err != nil {
					b.Fatal(err)
				}
				env.readToken(partner)
			}
			b.StopTimer()
			if n := sim.Mints(partner); n != b.N {
				b.Fatalf("%d reads of a forgotten token minted %d times", b.N, n)
			}
		})
	}
}

// BenchmarkForcedRefresh is refresh/<name> past its rate limit: one mint
// against the test partner, stored, while the old token is replaced.
func BenchmarkForcedRefresh(b *testing.B) {
	env := newTestEnv(b)
	env.writeConfig("p", nil)
	env.readToken("p")
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		env.clock.Advance(refreshMinInterval)
		if resp := env.mustOK(logical.UpdateOperation, "refresh/p", nil); resp.Data["refreshed"] != true {
			b.Fatalf("refresh kept the token: %v", resp.Warnings)
		}
	}
}

// BenchmarkTokenReadDuringRefresh reads a token whose refresh ahead is
// held at the partner for the whole run: readers keep getting the valid
// token from memory, as fast as BenchmarkTokenReadCached, and never wait.
func BenchmarkTokenReadDuringRefresh(b *testing.B) {
	env := newTestEnv(b)
	env.writeConfig("p", nil)
	env.readToken("p")
	arrived, release := env.partner.hold()
	env.clock.Advance(49 * time.Minute) // past 80% of the hour-long token
	<-arrived
	benchmarkParallelReads(b, env, "token/p")
	if !env.b.cache.lookup("p").refreshing.Load() {
		b.Fatal("the refresh ended during the run")
	}
	release()
	env.waitRefresh(2)
}

// BenchmarkScaleTenThousandConfigs configures 10,000 partners in one mount,
// reads a token of each, and reports the memory each cached config costs
// and how long listing them takes.
//
//	go test -run '^$' -bench Scale -benchtime 1x ./backend/
func BenchmarkScaleTenThousandConfigs(b *testing.B) {
	const configs = 10000
	for range b.N {
		env := newTestEnv(b)
		env.logs.discard = true
		for i := range configs {
			env.writeConfig(fmt.Sprintf("partner-%05d", i), nil)
		}
		runtime.GC()
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		for i := range configs {
			env.readToken(fmt.Sprintf("partner-%05d", i))
		}
		runtime.GC()
		runtime.ReadMemStats(&after)
		b.ReportMetric(float64(after.HeapAlloc-before.HeapAlloc)/configs, "heap-B/cached-config")

		start := time.Now()
		list := env.mustOK(logical.ListOperation, "config/", nil)
		b.ReportMetric(float64(time.Since(start).Microseconds())/1000, "list-config-ms")
		if n := len(list.Data["keys"].([]string)); n != configs {
			b.Fatalf("listed %d configs", n)
		}
		start = time.Now()
		env.mustOK(logical.ListOperation, "status/", nil)
		b.ReportMetric(float64(time.Since(start).Microseconds())/1000, "list-status-ms")
		env.b.Cleanup(context.Background())
	}
}
