package backend

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/vault/sdk/logical"
)

// TestVerifyDoesNotHoldTheNameLock: while verify=true waits for the
// partner, another request that takes the name's lock (a delete) is not
// held up; the verify then finds the config changed and stores nothing.
func TestVerifyDoesNotHoldTheNameLock(t *testing.T) {
	env := newTestEnv(t)
	env.writeConfig("p", nil)
	arrived, release := env.partner.hold()
	result := make(chan error, 1)
	go func() {
		_, err := env.request(logical.UpdateOperation, "config/p", map[string]any{"ttl": "5m", "verify": true})
		result <- err
	}()
	<-arrived
	deleted := make(chan struct{})
	go func() {
		env.mustOK(logical.DeleteOperation, "config/p", nil)
		close(deleted)
	}()
	within(t, "a delete while verify waited for the partner", deleted)
	release()
	var err error
	select {
	case err = <-result:
	case <-time.After(10 * time.Second):
		t.Fatal("the verify did not finish")
	}
	var coded logical.HTTPCodedError
	if !errors.As(err, &coded) || coded.Code() != http.StatusConflict || !strings.Contains(err.Error(), "rewritten or deleted while this write verified it") {
		t.Fatalf("verify after a concurrent delete: %v, want a 409", err)
	}
	if cfg, _ := readConfig(t.Context(), env.storage, "p"); cfg != nil {
		t.Fatal("the verify stored a config that was deleted meanwhile")
	}
}

// TestVerifyStopsWhenTheWriterGivesUp: verify runs under the request's
// context.
func TestVerifyStopsWhenTheWriterGivesUp(t *testing.T) {
	env := newTestEnv(t)
	arrived, release := env.partner.hold()
	defer release()
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan struct{})
	go func() {
		defer close(done)
		env.b.HandleRequest(ctx, &logical.Request{
			Operation: logical.CreateOperation, Path: "config/p", Storage: env.storage, MountPoint: "partner/",
			Data: map[string]any{"provider": "oauth2", "token_url": env.partner.URL(), "client_id": testClientID,
				"client_secret": testClientSecret, "verify": true, "timeout": "5m"},
		})
	}()
	<-arrived
	cancel()
	within(t, "a verify whose writer gave up", done)
	if cfg, _ := readConfig(t.Context(), env.storage, "p"); cfg != nil {
		t.Fatal("a cancelled verify stored the config")
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

func TestConfigWriteAndDeleteDropTheCachedToken(t *testing.T) {
	env := newTestEnv(t)
	env.writeConfig("p", nil)
	env.readToken("p")
	env.mustOK(logical.UpdateOperation, "config/p", map[string]any{"ttl": "10m"})
	if tok := env.readToken("p").Data["access_token"]; tok != env.partner.token(2) {
		t.Fatalf("after a config write got %v, want a new token", tok)
	}
	env.mustOK(logical.DeleteOperation, "config/p", nil)
	if _, err := env.request(logical.ReadOperation, "token/p", nil); err == nil {
		t.Fatal("token of a deleted config still served")
	}
	if entry, _ := env.storage.Get(t.Context(), tokenPrefix+"p"); entry != nil {
		t.Fatal("deleted config left its token in storage")
	}
}
