package backend

import (
	"net/http"
	"testing"
	"time"

	"github.com/hashicorp/vault/sdk/logical"
)

// seriesOf counts the metric series labelled with config name.
func seriesOf(t *testing.T, b *backend, name string) int {
	t.Helper()
	families, err := b.metrics.registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, f := range families {
		for _, m := range f.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "config" && l.GetValue() == name {
					n++
				}
			}
		}
	}
	return n
}

// checkNothingRecorded fails the test if metrics or status/ hold anything
// under name.
func checkNothingRecorded(t *testing.T, b *backend, name string) {
	t.Helper()
	if n := seriesOf(t, b, name); n != 0 {
		t.Errorf("metrics hold %d series of %s", n, name)
	}
	if _, ok := b.lastMints.m.Load(name); ok {
		t.Errorf("status/ holds a record of %s", name)
	}
}

// checkStartsAtZero writes name again and fails the test unless its status
// shows no mint and no error from before.
func checkStartsAtZero(t *testing.T, env *testEnv, name string) {
	t.Helper()
	env.writeConfig(name, nil)
	data := env.mustOK(logical.ReadOperation, "status/"+name, nil).Data
	if data["mint_count"] != int64(0) || data["last_error"] != nil || data["last_mint_at"] != nil {
		t.Errorf("a new config of %s inherits: mint_count %v, last_error %v, last_mint_at %v", name, data["mint_count"], data["last_error"], data["last_mint_at"])
	}
}

// TestARefusedVerifyRecordsNothing: a verify=true write the partner
// refuses, for a name that is not stored, leaves no metric series and no
// status; for a stored name it is recorded as every mint is.
func TestARefusedVerifyRecordsNothing(t *testing.T) {
	env := newTestEnv(t)
	resp, err := env.request(logical.CreateOperation, "config/fresh", map[string]any{
		"provider": "oauth2", "token_url": env.partner.URL(), "client_id": testClientID,
		"client_secret": "wrong-secret-123", "verify": true,
	})
	if err != nil || resp == nil || !resp.IsError() {
		t.Fatalf("want the verify refused, got %v %v", resp, err)
	}
	checkNothingRecorded(t, env.b, "fresh")
	checkStartsAtZero(t, env, "fresh")

	resp, err = env.request(logical.UpdateOperation, "config/fresh", map[string]any{"client_secret": "wrong-secret-123", "verify": true})
	if err != nil || resp == nil || !resp.IsError() {
		t.Fatalf("want the verify refused, got %v %v", resp, err)
	}
	if data := env.mustOK(logical.ReadOperation, "status/fresh", nil).Data; data["last_error_status"] != http.StatusUnauthorized {
		t.Errorf("a refused verify of a stored config is not in its status: %v", data)
	}
}

// TestADeleteDuringAMintRecordsNothing deletes the config while its mint
// waits for the partner, with a second reader sharing the mint: once the
// partner answers, neither the mint (a token or a refusal) nor the shared
// read brings back series or status, and a new config of the same name
// starts at zero.
func TestADeleteDuringAMintRecordsNothing(t *testing.T) {
	for _, refused := range []bool{false, true} {
		env := newTestEnv(t)
		env.writeConfig("p", nil)
		if refused {
			env.partner.failNext(http.StatusUnauthorized)
		}
		arrived, release := env.partner.hold()
		read := func(done chan<- struct{}) {
			defer close(done)
			env.request(logical.ReadOperation, "token/p", nil)
		}
		first, second := make(chan struct{}), make(chan struct{})
		go read(first)
		<-arrived
		go read(second)
		// The second reader counts its miss before it joins the mint:
		// wait for the count, then give it a moment to join. Should it
		// join late, it finds the config deleted, which must record
		// nothing either.
		for deadline := time.Now().Add(10 * time.Second); cacheMisses(t, env.b, "p") < 2; {
			if time.Now().After(deadline) {
				t.Fatal("the second reader never missed the cache")
			}
			time.Sleep(time.Millisecond)
		}
		time.Sleep(20 * time.Millisecond)
		env.mustOK(logical.DeleteOperation, "config/p", nil)
		release()
		within(t, "the first read", first)
		within(t, "the second read", second)
		env.settle()
		checkNothingRecorded(t, env.b, "p")
		checkStartsAtZero(t, env, "p")
	}
}

// cacheMisses is partnertoken_cache_misses_total of config name, read
// without creating its series.
func cacheMisses(t *testing.T, b *backend, name string) float64 {
	t.Helper()
	families, err := b.metrics.registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range families {
		if f.GetName() != "partnertoken_cache_misses_total" {
			continue
		}
		for _, m := range f.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "config" && l.GetValue() == name {
					return m.GetCounter().GetValue()
				}
			}
		}
	}
	return 0
}
