package backend

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/vault/sdk/logical"
)

// newOutageEnv is a test env with config p whose mints send a single
// request (the back-off between a mint's attempts is longer than its
// timeout), so that every read, refresh or background refresh that asks
// the partner is one request to count.
func newOutageEnv(t *testing.T) *testEnv {
	t.Helper()
	env := newTestEnv(t)
	env.b = env.newBackendWith(options{retry: &retryPolicy{initial: time.Minute, max: time.Minute}})
	env.writeConfig("p", map[string]any{"timeout": "2s"})
	return env
}

// waitRequests waits for the partner's request number n, sent in the
// background, and for the background work to end (a deadlock guard, not a
// timing assertion).
func (env *testEnv) waitRequests(n int) {
	env.t.Helper()
	for deadline := time.Now().Add(10 * time.Second); env.partner.requests() < n; time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			env.t.Fatalf("waited for request %d; the partner has seen %d", n, env.partner.requests())
		}
	}
	env.settle()
}

// outageStatus is what status/p says of the outage: the failures, and
// the next attempt and the start as offsets from start.
func (env *testEnv) outageStatus(start time.Time) (failures any, next, since string) {
	env.t.Helper()
	data := env.mustOK(logical.ReadOperation, "status/p", nil).Data
	if data["backoff"] != "partner down" || data["backoff_until"] != data["next_attempt_at"] {
		env.t.Fatalf("status/p shows no outage: %v", data)
	}
	at := func(k string) string {
		t, err := time.Parse(time.RFC3339, data[k].(string))
		if err != nil {
			env.t.Fatalf("status/p %s: %v", k, err)
		}
		return t.Sub(start).String()
	}
	return data["outage_failures"], at("next_attempt_at"), at("outage_since")
}

func TestOutageWaitDoublesFromASecondUpToTheCap(t *testing.T) {
	for _, tc := range []struct {
		name       string
		backoffMax time.Duration
		want       []float64 // seconds, after the 1st, 2nd, ... failed attempt
	}{
		{"the default cap", defaultOutageBackoffMax, []float64{1, 2, 4, 8, 16, 30, 30, 30}},
		{"a cap below the first wait", time.Second / 2, []float64{0.5, 0.5, 0.5}},
		{"a cap that is a step", 4 * time.Second, []float64{1, 2, 4, 4}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for i, secs := range tc.want {
				want := time.Duration(secs * float64(time.Second))
				if got := outageWait(i+1, tc.backoffMax, 0); got != want {
					t.Errorf("after failure %d: waited %s, want %s", i+1, got, want)
				}
				// The jitter takes up to half of the wait, never adds to it.
				if got := outageWait(i+1, tc.backoffMax, 0.999); got <= want/2 || got > want {
					t.Errorf("after failure %d with jitter: waited %s, want in (%s, %s]", i+1, got, want/2, want)
				}
			}
		})
	}
	if got := outageWait(1000, time.Hour, 0); got != time.Hour {
		t.Errorf("after 1000 failures: waited %s, want the cap", got)
	}
}

// TestPartnerDownFailsReadsAtOnceUntilTheNextAttempt: once a mint finds
// the partner down, reads that need a mint are answered at once with a
// 502 that names the partner, the last error and the next attempt, without
// a request; the first read once the attempt is due makes it, a single
// request; the attempts come a second apart, then twice as long each
// time up to outage_backoff_max; status/p and the metrics show it; and the
// first attempt that succeeds serves the read and ends the outage.
func TestPartnerDownFailsReadsAtOnceUntilTheNextAttempt(t *testing.T) {
	env := newOutageEnv(t)
	env.mustOK(logical.UpdateOperation, "settings", map[string]any{"outage_backoff_max": "8s"})
	env.partner.down()
	start := env.clock.Now()
	msg := env.readFails("p").Error()
	for _, want := range []string{`config "p"`, "the OAuth2 token endpoint is down, 1 attempt failed since " + rfc3339(start),
		"HTTP 503", "next attempt at " + rfc3339(start.Add(time.Second)) + ", in 1s", "refresh/p tries at once"} {
		if !strings.Contains(msg, want) {
			t.Fatalf("%q does not say %q", msg, want)
		}
	}
	for range 5 {
		env.readFails("p")
	}
	if n := env.partner.requests(); n != 1 {
		t.Fatalf("six reads sent %d requests, want the one that found the partner down", n)
	}
	if refused := counterValue(t, env.b.metrics.outageRefusedReads.WithLabelValues("p", "oauth2")); refused != 5 {
		t.Fatalf("outage_refused_reads = %v, want 5", refused)
	}
	if failures, next, since := env.outageStatus(start); failures != 1 || next != "1s" || since != "0s" {
		t.Fatalf("status/p: %v failures, next attempt at +%s, since +%s", failures, next, since)
	}

	sent := 1
	for i, wait := range []time.Duration{1, 2, 4, 8, 8} {
		wait *= time.Second
		env.clock.Advance(wait - time.Millisecond)
		env.readFails("p")
		if n := env.partner.requests(); n != sent {
			t.Fatalf("attempt %d: a read before it was due sent a request", i+2)
		}
		env.clock.Advance(time.Millisecond)
		msg := env.readFails("p").Error()
		sent++
		if n := env.partner.requests(); n != sent {
			t.Fatalf("attempt %d: the read when it was due sent %d requests, want one", i+2, n-sent+1)
		}
		if want := fmt.Sprintf("%d attempts failed", i+2); !strings.Contains(msg, want) {
			t.Fatalf("attempt %d: %q does not say %q", i+2, msg, want)
		}
	}
	elapsed := env.clock.Since(start)
	if failures, next, _ := env.outageStatus(start); failures != 6 || next != (elapsed+8*time.Second).String() {
		t.Fatalf("status/p after six failures: %v failures, next attempt at +%s, want +%s", failures, next, elapsed+8*time.Second)
	}

	env.partner.back()
	env.clock.Advance(8 * time.Second)
	if got := env.readToken("p").Data["access_token"]; got != env.partner.token(1) {
		t.Fatalf("the attempt after the partner returned got %v", got)
	}
	data := env.mustOK(logical.ReadOperation, "status/p", nil).Data
	for _, k := range []string{"backoff", "outage_since", "outage_failures", "next_attempt_at"} {
		if data[k] != nil {
			t.Errorf("status/p still has %s = %v once the partner answered", k, data[k])
		}
	}
	if !strings.Contains(env.logs.String(), "partner answers again") {
		t.Error("no log line says the partner answers again")
	}
}

// TestOutageEndsWithSuccessAndWithAConfigWrite: a config write forgets
// the outage, so the next read asks the partner at once; a success ends it,
// so the next outage starts from a second again.
func TestOutageEndsWithSuccessAndWithAConfigWrite(t *testing.T) {
	env := newOutageEnv(t)
	env.partner.down()
	env.readFails("p")
	env.clock.Advance(time.Second)
	env.readFails("p")
	if failures, _, _ := env.outageStatus(env.clock.Now()); failures != 2 {
		t.Fatalf("status/p: %v failures, want 2", failures)
	}

	env.mustOK(logical.UpdateOperation, "config/p", map[string]any{"timeout": "3s"})
	if data := env.mustOK(logical.ReadOperation, "status/p", nil).Data; data["outage_since"] != nil {
		t.Fatalf("status/p shows the outage after a config write: %v", data)
	}
	env.readFails("p")
	if n := env.partner.requests(); n != 3 {
		t.Fatalf("the read after the config write sent %d requests in all, want 3: it asks at once", n)
	}
	if failures, next, since := env.outageStatus(env.clock.Now()); failures != 1 || next != "1s" || since != "0s" {
		t.Fatalf("status/p after the config write: %v failures, next at +%s, since +%s", failures, next, since)
	}

	env.partner.back()
	env.clock.Advance(time.Second)
	env.readToken("p")
	env.clock.Advance(10 * time.Second)
	env.partner.down()
	// The cached token is still served; a forced refresh finds the partner down again.
	if _, err := env.request(logical.UpdateOperation, "refresh/p", nil); err == nil || !strings.Contains(err.Error(), "1 attempt failed") {
		t.Fatalf("refresh/p as the partner went down again: %v", err)
	}
	if failures, next, _ := env.outageStatus(env.clock.Now()); failures != 1 || next != "1s" {
		t.Fatalf("status/p in the second outage: %v failures, next at +%s, want 1 and +1s", failures, next)
	}
}

// TestManyReadersMakeOneAttempt: when the next attempt falls due under
// many readers, one of them makes it, and every other is answered at once
// while it is in flight.
func TestManyReadersMakeOneAttempt(t *testing.T) {
	env := newOutageEnv(t)
	env.partner.down()
	env.readFails("p")
	env.clock.Advance(time.Second)
	arrived, release := env.partner.hold()
	released := false
	t.Cleanup(func() {
		if !released {
			release()
		}
	})
	attempt := make(chan error, 1)
	go func() {
		_, err := env.request(logical.ReadOperation, "token/p", nil)
		attempt <- err
	}()
	within(t, "the attempt's arrival at the partner", arrived)
	const others = 50
	errs := make(chan error, others)
	for range others {
		go func() {
			_, err := env.request(logical.ReadOperation, "token/p", nil)
			errs <- err
		}()
	}
	for range others {
		if err := <-errs; err == nil || !strings.Contains(err.Error(), "the next attempt is in flight") {
			t.Fatalf("a read while the attempt was in flight: %v", err)
		}
	}
	release()
	released = true
	if err := <-attempt; err == nil || !strings.Contains(err.Error(), "2 attempts failed") {
		t.Fatalf("the read that made the attempt: %v", err)
	}
	if n := env.partner.requests(); n != 2 {
		t.Fatalf("%d readers sent %d requests, want 2 (the mint that found the partner down and one attempt)", others+2, n)
	}
	if refused := counterValue(t, env.b.metrics.outageRefusedReads.WithLabelValues("p", "oauth2")); refused != others {
		t.Fatalf("outage_refused_reads = %v, want %d", refused, others)
	}
}
