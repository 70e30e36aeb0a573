package backend

import (
	"context"
	"testing"

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
