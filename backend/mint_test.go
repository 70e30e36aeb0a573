package backend

import (
	"encoding/base64"
	"errors"
	"github.com/partnertoken/vault-plugin-secrets-partnertoken/internal/partnersim"
	"net"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/vault/sdk/logical"
)

func TestTemporaryFailuresAreRetried(t *testing.T) {
	for _, status := range []int{http.StatusRequestTimeout, http.StatusInternalServerError, http.StatusBadGateway, http.StatusServiceUnavailable} {
		t.Run(http.StatusText(status), func(t *testing.T) {
			env := newTestEnv(t)
			env.writeConfig("p", nil)
			env.partner.inject(partnersim.Fault{Status: status}, partnersim.Fault{Status: status})
			if got := env.readToken("p").Data["access_token"]; got != env.partner.token(1) {
				t.Fatalf("got %v", got)
			}
			if n := env.partner.requests(); n != 3 {
				t.Fatalf("partner saw %d requests, want 2 failures and 1 success", n)
			}
		})
	}
}

func TestRefusalsAreNeverRetried(t *testing.T) {
	for _, status := range []int{http.StatusBadRequest, http.StatusUnauthorized, http.StatusForbidden} {
		t.Run(http.StatusText(status), func(t *testing.T) {
			env := newTestEnv(t)
			env.writeConfig("p", nil)
			env.partner.failNext(status)
			if _, err := env.request(logical.ReadOperation, "token/p", nil); err == nil {
				t.Fatal("read succeeded")
			}
			if n := env.partner.requests(); n != 1 {
				t.Fatalf("partner saw %d requests, want 1", n)
			}
		})
	}
}

func TestRetryAfterIsHonouredWithinTheBudget(t *testing.T) {
	env := newTestEnv(t)
	env.writeConfig("p", nil)
	env.partner.inject(partnersim.Fault{Status: http.StatusTooManyRequests, RetryAfter: "1"})
	start := time.Now()
	if got := env.readToken("p").Data["access_token"]; got != env.partner.token(1) {
		t.Fatalf("got %v", got)
	}
	// A floor, not a timing assertion: the retry must not come early.
	if waited := time.Since(start); waited < time.Second {
		t.Fatalf("retried after %s, before the partner's Retry-After of 1s", waited)
	}
}

func TestRetryAfterBeyondTheBudgetSaysSo(t *testing.T) {
	env := newTestEnv(t)
	env.writeConfig("p", map[string]any{"timeout": "2s"})
	env.partner.inject(partnersim.Fault{Status: http.StatusTooManyRequests, RetryAfter: "30"})
	_, err := env.request(logical.ReadOperation, "token/p", nil)
	if err == nil || !strings.Contains(err.Error(), "HTTP 429") || !strings.Contains(err.Error(), "asked to wait 30s before trying again, beyond the 2s timeout") {
		t.Fatalf("got %v", err)
	}
	if n := env.partner.requests(); n != 1 {
		t.Fatalf("partner saw %d requests, want 1", n)
	}
}

func TestUnreachablePartnerExhaustsTheBudgetClearly(t *testing.T) {
	env := newTestEnv(t)
	// A port nothing listens on: connections are refused at once.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	env.writeConfig("p", map[string]any{"token_url": "http://" + addr + "/token", "timeout": "1s"})
	_, err = env.request(logical.ReadOperation, "token/p", nil)
	if err == nil || !strings.Contains(err.Error(), "gave up after") || !strings.Contains(err.Error(), "within the 1s timeout") {
		t.Fatalf("got %v", err)
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

func TestRotationFallsBackToTheNextSecretAndPromotesIt(t *testing.T) {
	const nextSecret = "the-next-secret-42"
	env := newTestEnv(t)
	env.writeConfig("p", map[string]any{"next_client_secret": nextSecret})
	if got := env.readToken("p").Data["access_token"]; got != env.partner.token(1) {
		t.Fatalf("got %v", got)
	}
	// The partner retires the current secret.
	env.partner.acceptSecrets(nextSecret)
	env.clock.Advance(time.Minute)
	env.mustOK(logical.UpdateOperation, "refresh/p", nil)
	cfg := env.storedConfig("p")
	if cfg.ClientSecret != nextSecret || cfg.NextClientSecret != "" {
		t.Fatal("the next secret was not promoted")
	}
	if got := env.readToken("p").Data["access_token"]; got != env.partner.token(2) {
		t.Fatalf("after the rotation got %v", got)
	}
	data := env.mustOK(logical.ReadOperation, "config/p", nil).Data
	if data["next_client_secret_set"] != false || data["client_secret_set"] != true {
		t.Fatalf("config read after promotion: %v", data)
	}
}

func TestVerifyRefusesCredentialsThePartnerRejects(t *testing.T) {
	env := newTestEnv(t)
	resp, err := env.request(logical.CreateOperation, "config/p", map[string]any{
		"provider": "oauth2", "token_url": env.partner.URL(), "client_id": testClientID,
		"client_secret": "wrong-secret-123", "verify": true,
	})
	if err != nil || resp == nil || !resp.IsError() {
		t.Fatalf("got %v %v", resp, err)
	}
	msg := resp.Error().Error()
	for _, want := range []string{"nothing was stored", "HTTP 401", "invalid_client"} {
		if !strings.Contains(msg, want) {
			t.Errorf("%q does not mention %q", msg, want)
		}
	}
	if strings.Contains(msg, "wrong-secret-123") {
		t.Fatalf("message echoes the secret: %s", msg)
	}
	if cfg, _ := readConfig(t.Context(), env.storage, "p"); cfg != nil {
		t.Fatal("rejected credentials were stored")
	}

	resp = env.mustOK(logical.CreateOperation, "config/p", map[string]any{
		"provider": "oauth2", "token_url": env.partner.URL(), "client_id": testClientID,
		"client_secret": testClientSecret, "verify": true,
	})
	if resp.Data["verified"] != true {
		t.Fatalf("verify response: %v", resp.Data)
	}
	env.readToken("p")
	if n := env.partner.mints(); n != 1 {
		t.Fatalf("the verifying token was not kept: %d mints", n)
	}
}

func TestLogsNeverContainTheSecret(t *testing.T) {
	env := newTestEnv(t)
	env.writeConfig("p", map[string]any{"next_client_secret": "next-secret-0987"})
	// A full cycle: temporary failures, a retry, a refusal, a fallback to
	// the next secret, a failed refresh and a forced one.
	env.partner.inject(partnersim.Fault{Status: 503}, partnersim.Fault{Status: 500})
	env.readToken("p")
	env.partner.acceptSecrets("next-secret-0987")
	env.partner.inject(partnersim.Fault{Status: 401})
	env.clock.Advance(10 * time.Second)
	env.mustOK(logical.UpdateOperation, "refresh/p", nil)
	env.clock.Advance(10 * time.Second)
	env.mustOK(logical.UpdateOperation, "refresh/p", nil)

	logs := env.logs.String()
	if !strings.Contains(logs, "minted token") || !strings.Contains(logs, "mint attempt failed") {
		t.Fatalf("the cycle was not logged:\n%s", logs)
	}
	for _, secret := range []string{testClientSecret, "next-secret-0987"} {
		for _, form := range []string{
			secret,
			url.QueryEscape(secret),
			base64.StdEncoding.EncodeToString([]byte(testClientID + ":" + secret)),
		} {
			if strings.Contains(logs, form) {
				t.Fatalf("logs contain a form of the secret %q:\n%s", form, logs)
			}
		}
	}
}
