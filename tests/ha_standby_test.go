package e2e

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/partnertoken/vault-plugin-secrets-partnertoken/tests/internal/metricsjson"
)

// The cluster's unleased reads: with lease_mode=none a token read registers
// no lease, so a standby that serves reads itself (OpenBao) answers it from
// its replica, and the active node sees none of those reads while the
// token is servable. Where standbys run no plugin (Vault's community
// edition) every read still goes to the active node: the same tests pin
// that down.

const (
	// standbyFollowWithin is how soon after a write on the active node
	// (a refresh, a config delete) every standby must answer with it: the
	// time for Raft to apply the write on the standby and for OpenBao to
	// hand the plugin the invalidation.
	standbyFollowWithin = 3 * time.Second
	// standbyReadsEach is how many reads each standby gets per count.
	standbyReadsEach = 20
)

// testUnleasedReadsOnStandbys reads a lease_mode=none config through the
// standbys: none of the reads reaches the active node (counted in its
// metrics), every node returns the active node's token, status/ and
// metrics of a standby say what it served, a refresh on the active node
// shows in the standbys' answers at once, a leader change keeps every node
// serving without a mint, and a config delete stops the standbys serving.
func (s *haSuite) testUnleasedReadsOnStandbys(t *testing.T) {
	ctx := ctxFor(t)
	const name, p = "unleased", "setu"
	active, err := s.c.waitActive(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := configure(ctx, active.root, mount, name, p, s.sim, map[string]any{"lease_mode": "none"}); err != nil {
		t.Fatal(err)
	}
	mintsBefore := s.sim.mints(t, p)
	first := readUnleased(ctx, t, active, name)

	// 1. Reads through the standbys, while the token is servable.
	standbys := s.standbys(active)
	s.waitStandbysServe(ctx, t, active, name)
	before := servedOn(ctx, t, active, name)
	made := s.readThroughStandbys(active, func(n *haNode) {
		if got := readUnleased(ctx, t, n, name); got.AccessToken != first.AccessToken {
			t.Errorf("token/%s through the standby %s is another token than through the active node %s", name, n.ID, active.ID)
		}
	})
	checkReachedActive(ctx, t, active, name, before, made)

	// 2. What a standby says about itself.
	for _, n := range standbys {
		status, err := n.root.read(ctx, mount+"/status/"+name)
		if err != nil {
			t.Errorf("status/%s through %s: %v", name, n.ID, err)
			continue
		}
		checkStandbyStatus(t, n, name, status.Data)
		served := metricValue(ctx, t, n, "partnertoken_standby_reads_total", name)
		switch {
		case env.server.standbyReads && served < standbyReadsEach:
			t.Errorf("partnertoken_standby_reads_total{config=%q} through %s = %v, want at least the %d reads it served", name, n.ID, served, standbyReadsEach)
		case !env.server.standbyReads && served != 0:
			t.Errorf("partnertoken_standby_reads_total{config=%q} through %s = %v: %s standbys forward every read", name, n.ID, served, env.server.product)
		}
	}

	// 3. A refresh on the active node shows in every standby's answers.
	before = servedOn(ctx, t, active, name)
	refreshed := s.refreshOn(ctx, t, active, name)
	var wg sync.WaitGroup
	var mu sync.Mutex
	made = 0
	for _, n := range standbys {
		wg.Go(func() {
			took, reads, err := waitServed(ctx, n, name, func(l *unleased) bool { return l.AccessToken == refreshed.AccessToken })
			mu.Lock()
			made += reads
			mu.Unlock()
			if err != nil {
				t.Errorf("after the refresh on %s: %v", active.ID, err)
				return
			}
			t.Logf("%s served the refreshed token %s after the refresh returned", n.ID, took.Round(time.Millisecond))
			if took > standbyFollowWithin {
				t.Errorf("%s served the token of before the refresh for %s after it returned, want at most %s", n.ID, took.Round(time.Millisecond), standbyFollowWithin)
			}
		})
	}
	wg.Wait()
	// The active node answered one read itself, in refreshOn.
	checkReachedActive(ctx, t, active, name, before+1, made)

	// 4. Leadership moves: every node serves the refreshed token, from
	// its replica or as the new active node, and nothing is minted.
	next, err := s.c.stepDown(ctx, active)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%s stepped down, %s is active", active.ID, next.ID)
	for _, n := range s.c.running() {
		l, err := readUnleasedThrough(ctx, t, n, name)
		if err != nil {
			t.Errorf("token/%s through %s after the step-down: %v", name, n.ID, err)
		} else if l.AccessToken != refreshed.AccessToken {
			t.Errorf("token/%s through %s after the step-down is another token than the refreshed one", name, n.ID)
		}
	}
	s.waitStandbysServe(ctx, t, next, name)
	before = servedOn(ctx, t, next, name)
	made = s.readThroughStandbys(next, func(n *haNode) {
		if got := readUnleased(ctx, t, n, name); got.AccessToken != refreshed.AccessToken {
			t.Errorf("token/%s through %s after the step-down is another token than the refreshed one", name, n.ID)
		}
	})
	checkReachedActive(ctx, t, next, name, before, made)
	if n := s.sim.mints(t, p) - mintsBefore; n != 2 {
		t.Errorf("%d mints for the first read, a refresh and reads through every node across a step-down, want 2", n)
	}

	// 5. A config delete on the active node stops every standby serving.
	if _, err := next.root.delete(ctx, mount+"/config/"+name); err != nil {
		t.Fatal(err)
	}
	for _, n := range s.standbys(next) {
		wg.Go(func() {
			took, err := waitRefused(ctx, n, name)
			if err != nil {
				t.Errorf("after the delete on %s: %v", next.ID, err)
				return
			}
			t.Logf("%s stopped serving %s after the delete returned", n.ID, took.Round(time.Millisecond))
			if took > standbyFollowWithin {
				t.Errorf("%s served token/%s for %s after its config was deleted, want at most %s", n.ID, name, took.Round(time.Millisecond), standbyFollowWithin)
			}
		})
	}
	wg.Wait()
}

// testUnleasedRefreshAheadThroughStandbys reads a lease_mode=none config
// whose 30-second tokens are refreshed halfway through their life through
// the standbys only, for two refreshes. The first token was minted for a
// read on the active node; its replacement the active node never sees
// read, yet it is refreshed ahead too, well before the standbys would stop
// serving it, so no reader waits for a mint. The active node sees at most
// one read per standby and token (the one that tells it the token is in
// use), and every standby serves each new token as soon as it has it.
func (s *haSuite) testUnleasedRefreshAheadThroughStandbys(t *testing.T) {
	ctx := ctxFor(t)
	const name, p = "unleased-ahead", "doku"
	const fraction = 0.5
	if err := s.sim.admin(http.MethodPut, "lifetimes/"+p, map[string]string{"lifetime": haRefreshLifetime.String()}, nil); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = s.sim.admin(http.MethodPut, "lifetimes/"+p, map[string]string{"lifetime": time.Hour.String()}, nil)
	})
	active, err := s.c.waitActive(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := configure(ctx, active.root, mount, name, p, s.sim, map[string]any{
		"lease_mode": "none", "expiry_margin": haRefreshMargin.String(), "refresh_fraction": fraction,
	}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _, _ = active.root.delete(context.Background(), mount+"/config/"+name) })
	mintsBefore := s.sim.mints(t, p)
	first := readUnleased(ctx, t, active, name)
	s.waitStandbysServe(ctx, t, active, name)
	before := servedOn(ctx, t, active, name)

	standbys := s.standbys(active)
	readers := startReaders(ctx, t, s.sim, p, standbys, name, 250*time.Millisecond)
	defer readers.stop()
	second := readers.waitToken(ctx, t, func(l *lease) bool { return l.ExpiresAt.After(first.ExpiresAt) })
	third := readers.waitToken(ctx, t, func(l *lease) bool { return l.ExpiresAt.After(second.ExpiresAt) })
	// Every standby serves the new token, then a while longer.
	time.Sleep(standbyFollowWithin)
	reads := readers.stop()
	reached := servedOn(ctx, t, active, name) - before

	t.Logf("%d reads through %d standbys; tokens minted %s and %s apart; %v of the reads reached the active node %s",
		len(reads), len(standbys), second.ExpiresAt.Sub(first.ExpiresAt), third.ExpiresAt.Sub(second.ExpiresAt), reached, active.ID)
	// Refresh ahead at half the lifetime; without it, a token would be
	// replaced only once the standbys stopped serving it, near its end.
	want := time.Duration(fraction * float64(haRefreshLifetime))
	for i, gap := range []time.Duration{second.ExpiresAt.Sub(first.ExpiresAt), third.ExpiresAt.Sub(second.ExpiresAt)} {
		if gap < want-2*time.Second || gap > want+4*time.Second {
			t.Errorf("token %d was minted %s after token %d, want about %s (refresh_fraction %g)", i+2, gap, i+1, want, fraction)
		}
	}
	if n := s.sim.mints(t, p) - mintsBefore; n != 3 {
		t.Errorf("%d mints, want 3: the first token and two refreshes", n)
	}
	checkUnleasedReads(t, reads)
	switch {
	case env.server.standbyReads && reached > float64(2*len(standbys)):
		t.Errorf("%v reads through the standbys reached the active node, want at most one per standby and refreshed token", reached)
	case !env.server.standbyReads && reached < float64(len(reads)):
		t.Errorf("%v of %d reads through the standbys reached the active node: %s standbys forward every read", reached, len(reads), env.server.product)
	}
}

// unleased is a lease_mode=none answer of token/<name>.
type unleased struct {
	AccessToken string
	ExpiresAt   time.Time
	TTL         float64
	Rotation    float64
	LeaseID     string
}

// readUnleased reads token/<name> through n once and checks the shape of an
// unleased answer; a failed read fails the test.
func readUnleased(ctx context.Context, t *testing.T, n *haNode, name string) *unleased {
	t.Helper()
	resp, err := n.root.read(ctx, mount+"/token/"+name)
	if err != nil {
		t.Fatalf("reading token/%s through %s: %v", name, n.ID, err)
	}
	l, err := parseUnleased(resp)
	if err != nil {
		t.Fatalf("token/%s through %s: %v", name, n.ID, err)
	}
	return l
}

// readUnleasedThrough reads token/<name> through n, retrying while the
// node cannot answer yet, as right after a leader change.
func readUnleasedThrough(ctx context.Context, t *testing.T, n *haNode, name string) (*unleased, error) {
	t.Helper()
	var l *unleased
	err := poll(ctx, 60*time.Second, func() error {
		resp, err := n.root.read(ctx, mount+"/token/"+name)
		if err != nil {
			t.Logf("reading token/%s through %s: %v (retrying)", name, n.ID, err)
			return err
		}
		l, err = parseUnleased(resp)
		return stopPolling(err)
	})
	return l, err
}

func parseUnleased(resp *vaultResponse) (*unleased, error) {
	l := &unleased{LeaseID: resp.LeaseID}
	l.AccessToken, _ = resp.Data["access_token"].(string)
	l.TTL, _ = resp.Data["ttl"].(float64)
	l.Rotation, _ = resp.Data["rotation_period"].(float64)
	expires, _ := resp.Data["expires_at"].(string)
	var err error
	if l.ExpiresAt, err = time.Parse(time.RFC3339, expires); err != nil {
		return nil, fmt.Errorf("expires_at %q: %w", expires, err)
	}
	switch {
	case l.AccessToken == "":
		return nil, fmt.Errorf("no access_token")
	case l.LeaseID != "" || resp.LeaseDuration != 0:
		return nil, fmt.Errorf("a lease (%q, %d s) on a lease_mode=none read", l.LeaseID, resp.LeaseDuration)
	case l.TTL < 1 || time.Now().Add(time.Duration(l.TTL)*time.Second).After(l.ExpiresAt):
		return nil, fmt.Errorf("ttl %v s does not end before the token expires at %s", l.TTL, expires)
	case l.Rotation < 1:
		return nil, fmt.Errorf("rotation_period %v", l.Rotation)
	}
	return l, nil
}

// standbys are the running members other than active.
func (s *haSuite) standbys(active *haNode) []*haNode {
	return slices.DeleteFunc(s.c.running(), func(n *haNode) bool { return n == active })
}

// servedOn is how many reads of config name the engine on n answered: its
// cache hits and misses. Through the active node, these are the reads that
// reached it, wherever they entered the cluster.
func servedOn(ctx context.Context, t *testing.T, n *haNode, name string) float64 {
	t.Helper()
	return metricValue(ctx, t, n, "partnertoken_cache_hits_total", name) + metricValue(ctx, t, n, "partnertoken_cache_misses_total", name)
}

// metricValue is the value of family's series for config name in n's own
// metrics (local=true: a standby that serves reads forwards metrics to the
// active node otherwise), 0 when there is none.
func metricValue(ctx context.Context, t *testing.T, n *haNode, family, name string) float64 {
	t.Helper()
	resp, err := n.root.read(ctx, mount+"/metrics?local=true")
	if err != nil {
		t.Fatalf("reading the metrics through %s: %v", n.ID, err)
	}
	return metricsjson.Value(resp.Data, family, map[string]string{"config": name})
}

// waitStandbysServe waits until a read of name through every standby of
// active leaves the active node's count where it was: each has the config
// and the token in its replica. Where standbys forward every read, there is
// nothing to wait for.
func (s *haSuite) waitStandbysServe(ctx context.Context, t *testing.T, active *haNode, name string) {
	t.Helper()
	if !env.server.standbyReads {
		return
	}
	err := poll(ctx, 15*time.Second, func() error {
		before := servedOn(ctx, t, active, name)
		for _, n := range s.standbys(active) {
			if _, err := n.root.read(ctx, mount+"/token/"+name); err != nil {
				return fmt.Errorf("reading token/%s through %s: %w", name, n.ID, err)
			}
		}
		if reached := servedOn(ctx, t, active, name) - before; reached != 0 {
			return fmt.Errorf("%v of %d reads of token/%s through the standbys reached the active node %s",
				reached, len(s.standbys(active)), name, active.ID)
		}
		return nil
	})
	if err != nil {
		t.Errorf("the standbys do not serve the unleased token/%s themselves: %v", name, err)
	}
}

// readThroughStandbys calls read standbyReadsEach times on each standby of
// active, the standbys at once, and returns how many reads it made.
func (s *haSuite) readThroughStandbys(active *haNode, read func(n *haNode)) int {
	var wg sync.WaitGroup
	standbys := s.standbys(active)
	for _, n := range standbys {
		wg.Go(func() {
			for range standbyReadsEach {
				read(n)
			}
		})
	}
	wg.Wait()
	return len(standbys) * standbyReadsEach
}

// checkReachedActive checks how many of the reads made through the
// standbys since the active node had answered before reached it: none
// where standbys serve unleased reads, else every one of them (made).
func checkReachedActive(ctx context.Context, t *testing.T, active *haNode, name string, before float64, made int) {
	t.Helper()
	reached := servedOn(ctx, t, active, name) - before
	want, why := 0.0, "serve unleased reads themselves"
	if !env.server.standbyReads {
		want, why = float64(made), "forward every read"
	}
	t.Logf("%v of %d reads of token/%s through the standbys reached the active node %s", reached, made, name, active.ID)
	if reached != want {
		t.Errorf("%v of %d reads of token/%s through the standbys reached the active node %s, want %v (%s standbys %s)",
			reached, made, name, active.ID, want, env.server.product, why)
	}
}

// checkStandbyStatus checks what status/<name> through the standby n says
// about who answers the config's reads there.
func checkStandbyStatus(t *testing.T, n *haNode, name string, data map[string]any) {
	t.Helper()
	if !env.server.standbyReads {
		// Forwarded: the active node answers.
		if data["node_role"] != "active" || data["served_from"] != nil {
			t.Errorf("status/%s through %s: node_role %v, served_from %v; want the active node's status", name, n.ID, data["node_role"], data["served_from"])
		}
		return
	}
	if data["node_role"] != "standby" || data["served_from"] != "replica" {
		t.Errorf("status/%s through the standby %s: node_role %v, served_from %v; want standby, replica", name, n.ID, data["node_role"], data["served_from"])
	}
	loaded, err := time.Parse(time.RFC3339, fmt.Sprint(data["replica_loaded_at"]))
	age, ok := data["replica_age_seconds"].(float64)
	if err != nil || !ok || age < 0 || age > time.Since(loaded).Seconds()+1 {
		t.Errorf("status/%s through the standby %s: replica_loaded_at %v, replica_age_seconds %v; want when it loaded its copy and how long ago",
			name, n.ID, data["replica_loaded_at"], data["replica_age_seconds"])
	}
	if data["token_valid"] != true {
		t.Errorf("status/%s through the standby %s: token_valid %v, want true", name, n.ID, data["token_valid"])
	}
}

// refreshOn forces a new token for name on the active node (refresh/<name>
// keeps a token younger than a few seconds, so it is asked again until it
// mints) and returns it as the active node serves it.
func (s *haSuite) refreshOn(ctx context.Context, t *testing.T, active *haNode, name string) *unleased {
	t.Helper()
	err := poll(ctx, 30*time.Second, func() error {
		resp, err := active.root.write(ctx, mount+"/refresh/"+name, nil)
		if err != nil {
			return stopPolling(err)
		}
		if resp.Data["refreshed"] != true {
			return fmt.Errorf("refresh/%s kept the current token: %s", name, strings.Join(resp.Warnings, "; "))
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return readUnleased(ctx, t, active, name)
}

// waitServed reads name through n until want accepts the answer and returns
// how long that took and how many reads.
func waitServed(ctx context.Context, n *haNode, name string, want func(*unleased) bool) (took time.Duration, reads int, err error) {
	start := time.Now()
	for time.Since(start) < time.Minute {
		reads++
		resp, err := n.root.read(ctx, mount+"/token/"+name)
		if err != nil {
			return 0, reads, fmt.Errorf("reading token/%s through %s: %w", name, n.ID, err)
		}
		l, err := parseUnleased(resp)
		if err != nil {
			return 0, reads, fmt.Errorf("token/%s through %s: %w", name, n.ID, err)
		}
		if want(l) {
			return time.Since(start), reads, nil
		}
		time.Sleep(20 * time.Millisecond)
	}
	return 0, reads, fmt.Errorf("%s did not serve the expected token of %s within a minute", n.ID, name)
}

// waitRefused reads name through n until the read fails as for a config
// that does not exist (HTTP 404), and returns how long that took.
func waitRefused(ctx context.Context, n *haNode, name string) (time.Duration, error) {
	start := time.Now()
	for time.Since(start) < time.Minute {
		_, err := n.root.read(ctx, mount+"/token/"+name)
		switch s := statusOf(err); {
		case s == http.StatusNotFound:
			return time.Since(start), nil
		case err != nil:
			return 0, fmt.Errorf("reading token/%s through %s: %v, want HTTP 404", name, n.ID, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	return 0, fmt.Errorf("%s kept serving token/%s for a minute after its config was deleted", n.ID, name)
}

// checkUnleasedReads checks reads of an unleased config through several
// nodes: each succeeded, with a token the partner accepted and that had
// not expired, and no node went back to an older token than it had
// served. Across nodes a standby may serve the previous token for a
// moment after another node has the next one: both are valid.
func checkUnleasedReads(t *testing.T, reads []haRead) {
	t.Helper()
	newest := map[*haNode]time.Time{}
	errs := 0
	report := func(format string, args ...any) {
		t.Helper()
		if errs++; errs <= 10 {
			t.Errorf(format, args...)
		}
	}
	slices.SortFunc(reads, func(a, b haRead) int { return a.started.Compare(b.started) })
	for _, r := range reads {
		switch {
		case r.err != nil:
			report("a read through %s at %s failed: %v", r.node.ID, r.started.Format(timeMillis), r.err)
			continue
		case r.l.ID != "":
			report("a read through %s at %s got a lease on a lease_mode=none read", r.node.ID, r.started.Format(timeMillis))
		case !r.ended.Before(r.l.ExpiresAt):
			report("a read through %s at %s got a token that expired at %s", r.node.ID, r.ended.Format(timeMillis), r.l.ExpiresAt.Format(timeMillis))
		case r.accepted != nil && !*r.accepted:
			report("a read through %s at %s got a token the partner does not accept", r.node.ID, r.ended.Format(timeMillis))
		case r.l.ExpiresAt.Before(newest[r.node]):
			report("a read through %s at %s got an older token than it had served before", r.node.ID, r.started.Format(timeMillis))
		}
		if r.l.ExpiresAt.After(newest[r.node]) {
			newest[r.node] = r.l.ExpiresAt
		}
	}
	if errs > 10 {
		t.Errorf("and %d more bad reads", errs-10)
	}
}
