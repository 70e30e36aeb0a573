package backend

import (
	"errors"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/vault/sdk/logical"

	"github.com/partnertoken/vault-plugin-secrets-partnertoken/internal/partnersim"
)

// readFails reads token/name and returns the 502 it must fail with.
func (env *testEnv) readFails(name string) error {
	env.t.Helper()
	_, err := env.request(logical.ReadOperation, "token/"+name, nil)
	var coded logical.HTTPCodedError
	if !errors.As(err, &coded) || coded.Code() != http.StatusBadGateway {
		env.t.Fatalf("read of %s: got %v, want a 502", name, err)
	}
	return err
}

func TestRetryAfterIsRememberedBetweenReads(t *testing.T) {
	for _, status := range []int{http.StatusTooManyRequests, http.StatusServiceUnavailable} {
		env := newTestEnv(t)
		env.writeConfig("p", map[string]any{"timeout": "2s"})
		env.partner.inject(partnersim.Fault{Status: status, RetryAfter: "120"})
		env.readFails("p")
		for range 4 {
			msg := env.readFails("p").Error()
			for _, want := range []string{`config "p"`, "OAuth2 token endpoint", "asked to wait until", "no new request for another 2m0s"} {
				if !strings.Contains(msg, want) {
					t.Fatalf("HTTP %d: %q does not say %q", status, msg, want)
				}
			}
		}
		if n := env.partner.requests(); n != 1 {
			t.Fatalf("HTTP %d: five reads sent %d requests, want 1", status, n)
		}
		if held := counterValue(t, env.b.metrics.retryAfterHeld.WithLabelValues("p", "oauth2")); held != 4 {
			t.Fatalf("HTTP %d: retry_after_held = %v, want 4", status, held)
		}
		data := env.mustOK(logical.ReadOperation, "status/p", nil).Data
		if data["backoff"] != "partner asked to wait" || data["backoff_until"] != rfc3339(env.clock.Now().Add(2*time.Minute)) {
			t.Fatalf("HTTP %d: status shows backoff %v until %v", status, data["backoff"], data["backoff_until"])
		}
		env.clock.Advance(2 * time.Minute)
		if got := env.readToken("p").Data["access_token"]; got != env.partner.token(1) {
			t.Fatalf("HTTP %d: after the wait got %v", status, got)
		}
	}
}

func TestRetryAfterKeepsServingTheCachedTokenAndAConfigWriteClearsIt(t *testing.T) {
	env := newTestEnv(t)
	env.writeConfig("p", map[string]any{"timeout": "2s"})
	env.readToken("p")
	env.clock.Advance(time.Minute)
	env.partner.inject(partnersim.Fault{Status: http.StatusTooManyRequests, RetryAfter: "600"})
	if _, err := env.request(logical.UpdateOperation, "refresh/p", nil); err == nil {
		t.Fatal("a refresh the partner rate-limited succeeded")
	}
	if got := env.readToken("p").Data["access_token"]; got != env.partner.token(1) {
		t.Fatalf("the cached token was not served during the wait: %v", got)
	}
	env.clock.Advance(10 * time.Second)
	if _, err := env.request(logical.UpdateOperation, "refresh/p", nil); err == nil || !strings.Contains(err.Error(), "asked to wait") {
		t.Fatalf("a refresh during the wait: %v", err)
	}
	if n := env.partner.requests(); n != 2 {
		t.Fatalf("partner saw %d requests, want 2", n)
	}
	env.mustOK(logical.UpdateOperation, "config/p", map[string]any{"ttl": "5m"})
	if got := env.readToken("p").Data["access_token"]; got != env.partner.token(2) {
		t.Fatalf("a config write did not clear the wait: %v", got)
	}
}

// TestDinieRateLimitResetIsRemembered: Dinie says when its window resets
// in X-RateLimit-Reset rather than Retry-After.
func TestDinieRateLimitResetIsRemembered(t *testing.T) {
	env := newTestEnvAt(t, time.Now())
	sim := startSimulator(t, partnersim.Options{})
	env.mustOK(logical.CreateOperation, "config/d", simConfig(sim, "dinie", ""))
	env.mustOK(logical.UpdateOperation, "config/d", map[string]any{"timeout": "2s"})
	if err := sim.Inject("dinie", partnersim.Fault{Status: http.StatusTooManyRequests, RateLimitReset: time.Now().Add(5 * time.Minute)}); err != nil {
		t.Fatal(err)
	}
	env.readFails("d")
	before := sim.Requests("dinie")
	msg := env.readFails("d").Error()
	if !strings.Contains(msg, "Dinie") || !strings.Contains(msg, "asked to wait until") {
		t.Fatalf("%q does not name Dinie and the wait", msg)
	}
	if after := sim.Requests("dinie"); after != before {
		t.Fatalf("a read during Dinie's rate-limit window reached it (%d requests)", after-before)
	}
}

func TestRefusalIsRememberedUntilTheConfigChanges(t *testing.T) {
	env := newTestEnv(t)
	env.writeConfig("p", nil)
	env.partner.failNext(http.StatusUnauthorized)
	if _, err := env.request(logical.ReadOperation, "token/p", nil); err == nil {
		t.Fatal("refused read succeeded")
	}
	_, err := env.request(logical.ReadOperation, "token/p", nil)
	var coded logical.HTTPCodedError
	if !errors.As(err, &coded) || coded.Code() != http.StatusBadGateway ||
		!strings.Contains(err.Error(), "HTTP 401") || !strings.Contains(err.Error(), "remembered: no new attempt for another 30s") {
		t.Fatalf("second read: %v, want a 502 saying the refusal is remembered", err)
	}
	if n := env.partner.requests(); n != 1 {
		t.Fatalf("a remembered refusal still reached the partner: %d requests", n)
	}

	env.clock.Advance(30 * time.Second)
	if got := env.readToken("p").Data["access_token"]; got != env.partner.token(1) {
		t.Fatalf("after the back-off got %v", got)
	}

	env.partner.failNext(http.StatusUnauthorized)
	env.mustOK(logical.UpdateOperation, "config/p", nil)
	env.request(logical.ReadOperation, "token/p", nil)
	env.mustOK(logical.UpdateOperation, "config/p", map[string]any{"client_secret": testClientSecret})
	if got := env.readToken("p").Data["access_token"]; got != env.partner.token(2) {
		t.Fatalf("a config write did not clear the refusal: %v", got)
	}
}

// TestDUPRRefusalsAreRememberedAsRefusals has the simulated DUPR refuse a
// wrong secret (401, as DUPR's errors page says) and a wrong path (403, as
// its gateway was seen to answer): both are refusals, tried once and
// remembered, never retried.
func TestDUPRRefusalsAreRememberedAsRefusals(t *testing.T) {
	for _, tc := range []struct {
		name, secret, path string
		status             int
		want               string
	}{
		{"a wrong secret", "definitely-the-wrong-secret", "", 401, `message="Your API credentials are wrong or expired."`},
		{"a wrong path", "", "/dupr/token", 403, `message="Authentication error. Please provide a valid API key."`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			env := newTestEnv(t)
			sim := startSimulator(t, partnersim.Options{Now: env.clock.Now})
			cfg := simConfig(sim, partnersim.DUPR, tc.secret)
			if tc.path != "" {
				cfg["token_url"] = sim.URL() + tc.path
			}
			env.mustOK(logical.CreateOperation, "config/dupr", cfg)
			_, err := env.request(logical.ReadOperation, "token/dupr", nil)
			if err == nil || !strings.Contains(err.Error(), fmt.Sprintf("HTTP %d", tc.status)) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("read: %v, want HTTP %d with %s", err, tc.status, tc.want)
			}
			if n := sim.Requests(partnersim.DUPR); n != 1 {
				t.Errorf("DUPR saw %d requests, want 1: a refusal is never retried", n)
			}
			status := env.mustOK(logical.ReadOperation, "status/dupr", nil).Data
			if status["backoff"] != "credentials refused" || status["last_error_status"] != tc.status {
				t.Errorf("status backoff = %v, last_error_status = %v; want credentials refused, %d", status["backoff"], status["last_error_status"], tc.status)
			}
		})
	}
}

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

// TestRefreshTriesAtOnceDuringAnOutage: refresh/<name> makes an attempt
// whatever the back-off says, while reads keep getting the cached token;
// once the partner answers, it mints.
func TestRefreshTriesAtOnceDuringAnOutage(t *testing.T) {
	env := newOutageEnv(t)
	env.readToken("p")
	env.clock.Advance(time.Minute)
	env.partner.down()
	for i := range 2 {
		_, err := env.request(logical.UpdateOperation, "refresh/p", nil)
		if err == nil || !strings.Contains(err.Error(), "is down") {
			t.Fatalf("refresh %d during the outage: %v", i+1, err)
		}
		if n := env.partner.requests(); n != i+2 {
			t.Fatalf("refresh %d during the outage: %d requests in all, want %d", i+1, n, i+2)
		}
	}
	if got := env.readToken("p").Data["access_token"]; got != env.partner.token(1) {
		t.Fatalf("a read during the outage got %v, want the cached token", got)
	}
	if n := env.partner.requests(); n != 3 {
		t.Fatalf("a read of the cached token sent a request")
	}
	env.partner.back()
	if data := env.mustOK(logical.UpdateOperation, "refresh/p", nil).Data; data["refreshed"] != true {
		t.Fatalf("refresh/p once the partner answered: %v", data)
	}
	if got := env.readToken("p").Data["access_token"]; got != env.partner.token(2) {
		t.Fatalf("after the refresh a read got %v, want the new token", got)
	}
}

// TestBackgroundRefreshFollowsTheOutage: a token in use whose refresh
// ahead finds the partner down is served until its leases' end, while the
// background makes the outage's attempts on its schedule, one request
// each; reads of the cached token send none. Once it cannot be served, the
// first read after the next attempt is due makes it, and the others fail at
// once.
func TestBackgroundRefreshFollowsTheOutage(t *testing.T) {
	env := newOutageEnv(t)
	minted := env.clock.Now()
	first := env.readToken("p").Data["access_token"]
	env.partner.down()
	env.clock.Advance(48 * time.Minute) // refresh_fraction 0.8 of an hour
	sent := 2
	env.waitRequests(sent)
	for _, wait := range []time.Duration{1, 2, 4, 8, 16, 30, 30} {
		env.clock.Advance(wait * time.Second)
		sent++
		env.waitRequests(sent)
		if got := env.readToken("p").Data["access_token"]; got != first {
			t.Fatalf("%s after the mint a read got %v, want the cached token", env.clock.Since(minted), got)
		}
		if n := env.partner.requests(); n != sent {
			t.Fatalf("after %d attempts the partner saw %d requests, want %d: one per attempt, none from reads", sent-1, n, sent)
		}
	}
	// Every 30 s while the token can be served (its leases end at 55 min).
	for env.clock.Now().Add(30 * time.Second).Before(minted.Add(54 * time.Minute)) {
		env.clock.Advance(30 * time.Second)
		sent++
		env.waitRequests(sent)
	}
	env.clock.Advance(5 * time.Minute)
	env.settle()
	if n := env.partner.requests(); n != sent {
		t.Fatalf("the background kept asking once the token could not be served: %d requests, want %d", n, sent)
	}
	env.readFails("p") // the attempt is due: this read makes it
	env.readFails("p")
	if n := env.partner.requests(); n != sent+1 {
		t.Fatalf("two reads after the token's end sent %d requests, want one", n-sent)
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
