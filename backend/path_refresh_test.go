package backend

import (
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/vault/sdk/logical"
)

func TestForcedRefreshIsCoalescedAndRateLimited(t *testing.T) {
	env := newTestEnv(t)
	env.writeConfig("p", nil)
	env.readToken("p")
	env.clock.Advance(time.Minute)

	arrived, release := env.partner.hold()
	const callers = 50
	var wg sync.WaitGroup
	refreshed := make(chan bool, callers)
	for range callers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			resp, err := env.request(logical.UpdateOperation, "refresh/p", nil)
			if err != nil {
				t.Error(err)
				return
			}
			refreshed <- resp.Data["refreshed"].(bool)
		}()
	}
	<-arrived
	release()
	wg.Wait()
	close(refreshed)
	if n := env.partner.mints(); n != 2 {
		t.Fatalf("%d concurrent forced refreshes caused %d mints in all, want 2", callers, n)
	}
	if got := env.readToken("p").Data["access_token"]; got != env.partner.token(2) {
		t.Fatalf("after the refresh got %v", got)
	}

	// Right after, a refresh keeps the fresh token.
	resp := env.mustOK(logical.UpdateOperation, "refresh/p", nil)
	if resp.Data["refreshed"] != false || len(resp.Warnings) == 0 {
		t.Fatalf("refresh within the rate limit: %#v", resp)
	}
	env.clock.Advance(refreshMinInterval)
	if resp := env.mustOK(logical.UpdateOperation, "refresh/p", nil); resp.Data["refreshed"] != true {
		t.Fatalf("refresh after the rate limit: %#v", resp)
	}
	if n := env.partner.mints(); n != 3 {
		t.Fatalf("mints = %d, want 3", n)
	}
}
