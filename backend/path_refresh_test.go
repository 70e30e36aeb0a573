package backend

import (
	"strings"
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
