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
