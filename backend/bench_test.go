package backend

import (
	"context"
	"fmt"
	"runtime"
	"testing"
	"time"

	"github.com/hashicorp/vault/sdk/logical"
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
	req := &logical.Request{Operation: logical.ReadOperation, Path: "token/p", Storage: env.storage, MountPoint: "partner/"}
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
}

func BenchmarkStorageEntryRead(b *testing.B) {
	env := newTestEnv(b)
	env.writeConfig("p", nil)
	req := &logical.Request{Operation: logical.ReadOperation, Path: "config/p", Storage: env.storage, MountPoint: "partner/"}
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
}

func BenchmarkTokenReadMiss(b *testing.B) {
	env := newTestEnv(b)
	env.writeConfig("p", nil)
	ctx := context.Background()
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		// Dropping the entry and the stored token forces a mint.
		if err := env.b.cache.forget(ctx, env.storage, "p"); err != nil {
			b.Fatal(err)
		}
		if _, err := env.request(logical.ReadOperation, "token/p", nil); err != nil {
			b.Fatal(err)
		}
	}
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
