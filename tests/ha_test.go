package e2e

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/partnertoken/vault-plugin-secrets-partnertoken/internal/partnersim"
)

const (
	// haRefreshLifetime is how long the tokens of the refresh tests live.
	haRefreshLifetime = 30 * time.Second
	// haRefreshMargin is the refresh configs' expiry_margin. With it a
	// 30-second token is refreshed after 24 s (80%) and served until 26 s.
	haRefreshMargin = 3 * time.Second
	// haRefreshAfter is when, in a token's life, refresh ahead replaces it.
	haRefreshAfter = 24 * time.Second
)

// haSuite is the state the HA tests share: one cluster, its own simulator,
// and what the first test saw.
type haSuite struct {
	c   *haCluster
	sim *simulator
	// orphans are the plugin processes of killed servers.
	orphans []*orphanWatch
	// tokens are the access tokens first served for each partner's config.
	tokens map[string]string
	// configs are the partner configs as first read back.
	configs map[string]map[string]any
	// leases are a lease on each partner's token, from the first test.
	leases map[string]string
	// secrets are client secrets written besides the simulator's own.
	secrets []simClient
}

// TestHA runs the engine on a 3-node cluster (Vault or OpenBao) with integrated storage
// (Raft): one token per config for the whole cluster, the token surviving
// a step-down and the death of the active node, config rewrites dropping
// it everywhere, refresh ahead never running twice, also when leadership
// moves while a refresh is due, and unleased reads answered by the
// standbys themselves where they serve reads (OpenBao).
func TestHA(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a 3-node Vault cluster; skipped with -short")
	}
	began := time.Now()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()

	// Hour-long tokens: none is refreshed unless a test shortens it.
	lifetimes := map[string]time.Duration{}
	for _, p := range partners {
		lifetimes[p] = time.Hour
	}
	sim, err := startSimulator("ha", lifetimes)
	if err != nil {
		t.Fatal(err)
	}
	defer sim.Close()

	c := startCluster(ctx, t)
	active, err := c.waitActive(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("3-node Raft cluster formed in %s, %s active; logs in %s",
		time.Since(began).Round(time.Second), active.ID, filepath.Dir(active.Dir))
	for _, p := range partners {
		if err := configure(ctx, active.root, mount, p, p, sim, nil); err != nil {
			t.Fatal(err)
		}
	}
	s := &haSuite{c: c, sim: sim, tokens: map[string]string{}, configs: map[string]map[string]any{}, leases: map[string]string{}}
	defer s.stopOrphans()

	if !t.Run("MintOnceServeEverywhere", s.testMintOnce) {
		t.Fatal("the cluster does not serve tokens; the remaining HA tests depend on it")
	}
	t.Run("StandbyRedirectsWithoutForwarding", s.testStandbyRedirect)
	t.Run("UnleasedReadsOnStandbys", s.testUnleasedReadsOnStandbys)
	t.Run("UnleasedRefreshAheadThroughStandbys", s.testUnleasedRefreshAheadThroughStandbys)
	t.Run("StepDown", s.testStepDown)
	t.Run("KillActive", s.testKillActive)
	t.Run("ConfigRewrite", s.testConfigRewrite)
	t.Run("RefreshAcrossStepDowns", s.testRefreshAcrossStepDowns)
	t.Run("RefreshAcrossKill", s.testRefreshAcrossKill)

	var logs []string
	for _, n := range c.nodes {
		logs = append(logs, n.LogPath)
	}
	if leaks := findSecrets(logs, append(sim.secrets(), s.secrets...)); len(leaks) > 0 {
		t.Errorf("client secrets in the cluster's logs:\n  %s", strings.Join(leaks, "\n  "))
	}
	t.Logf("the HA suite took %s; clients followed %d redirects from standbys not yet forwarding to a new active node", time.Since(began).Round(time.Second), c.redirects())
}

// testMintOnce reads every partner's token through all three nodes at
// once: the active node mints once, and every reader, whichever node it
// asked, gets that token.
func (s *haSuite) testMintOnce(t *testing.T) {
	ctx := ctxFor(t)
	active, err := s.c.waitActive(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	before := s.sim.allMints(t)
	logged := mintLogLines(t, s.c.nodes)
	redirects := s.c.redirects()
	for _, p := range partners {
		// Three readers per node, all at once.
		type result struct {
			node *haNode
			l    *lease
			err  error
		}
		results := make(chan result, 3*len(s.c.nodes))
		var wg sync.WaitGroup
		for _, n := range s.c.nodes {
			for range 3 {
				wg.Add(1)
				go func() {
					defer wg.Done()
					l, err := readToken(ctx, n.root, mount, p)
					results <- result{n, l, err}
				}()
			}
		}
		wg.Wait()
		close(results)
		for r := range results {
			if r.err != nil {
				t.Errorf("reading token/%s through %s: %v", p, r.node.ID, r.err)
				continue
			}
			checkLease(t, s.sim, p, mount, p, r.l)
			if s.tokens[p] == "" {
				s.tokens[p], s.leases[p] = r.l.AccessToken, r.l.ID
			} else if r.l.AccessToken != s.tokens[p] {
				t.Errorf("token/%s through %s is another token than through other nodes", p, r.node.ID)
			}
		}
		// And once more through each node, one after the other.
		for _, n := range s.c.nodes {
			if l, err := readToken(ctx, n.root, mount, p); err != nil {
				t.Errorf("reading token/%s through %s: %v", p, n.ID, err)
			} else if l.AccessToken != s.tokens[p] {
				t.Errorf("token/%s through %s is another token than before", p, n.ID)
			}
		}
		resp, err := active.root.read(ctx, mount+"/config/"+p)
		if err != nil {
			t.Fatal(err)
		}
		s.configs[p] = resp.Data
	}
	after := s.sim.allMints(t)
	for _, p := range partners {
		if n := after[p] - before[p]; n != 1 {
			t.Errorf("%s: %d mints for 9 concurrent and 3 later reads through 3 nodes, want 1", p, n)
		}
	}
	if n := s.c.redirects() - redirects; n != 0 {
		t.Errorf("the standbys redirected %d reads to the active node, want them forwarded", n)
	}
	// Only the active node's plugin minted. In Vault's community edition
	// a standby runs no plugin at all and forwards every request to the
	// active node; an OpenBao standby runs the plugin to serve reads of
	// what it holds (configs, unleased tokens), and the engine has it
	// forward leased token reads, as these are.
	for _, n := range s.c.nodes {
		if plugins := slices.DeleteFunc(childPids(n.pid()), func(pid int) bool { return !isPlugin(pid) }); n != active && len(plugins) > 0 && !env.server.standbyReads {
			t.Errorf("the standby %s runs plugin processes %v", n.ID, plugins)
		}
		minted := mintLogLines(t, []*haNode{n})[n.ID] - logged[n.ID]
		switch {
		case n == active && minted != len(partners):
			t.Errorf("the active node %s logged %d mints, want %d", n.ID, minted, len(partners))
		case n != active && minted != 0:
			t.Errorf("the standby %s logged %d mints, want none", n.ID, minted)
		}
	}
}

// testStandbyRedirect reads a token through each standby with request
// forwarding turned off (X-Vault-No-Request-Forwarding, as a client may
// send): the standby cannot serve it and redirects (307) to the active
// node, and a client that follows the redirect gets the cluster's token.
// On OpenBao, whose standbys serve reads themselves, this needs the engine
// to refuse token reads on a standby; before, the standby answered HTTP 500.
func (s *haSuite) testStandbyRedirect(t *testing.T) {
	ctx := ctxFor(t)
	active, err := s.c.waitActive(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	const p = "dupr"
	path := "/v1/" + mount + "/token/" + p
	for _, n := range s.c.running() {
		if n == active {
			continue
		}
		get := func(follow bool) (*http.Response, []byte) {
			t.Helper()
			req, err := http.NewRequestWithContext(ctx, http.MethodGet, n.Addr+path, nil)
			if err != nil {
				t.Fatal(err)
			}
			req.Header.Set("X-Vault-Token", s.c.rootToken)
			req.Header.Set("X-Vault-No-Request-Forwarding", "true")
			client := &http.Client{Timeout: time.Minute}
			if !follow {
				client.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
			}
			resp, err := client.Do(req)
			if err != nil {
				t.Fatalf("reading token/%s through %s without forwarding: %v", p, n.ID, err)
			}
			defer resp.Body.Close()
			body, _ := io.ReadAll(resp.Body)
			return resp, body
		}
		resp, body := get(false)
		if resp.StatusCode != http.StatusTemporaryRedirect || resp.Header.Get("Location") != active.Addr+path {
			t.Errorf("token/%s through the standby %s without forwarding: HTTP %d, Location %q; want 307 to %s: %.300s",
				p, n.ID, resp.StatusCode, resp.Header.Get("Location"), active.Addr+path, body)
			continue
		}
		resp, body = get(true)
		var out struct {
			Data struct {
				AccessToken string `json:"access_token"`
			} `json:"data"`
		}
		if err := json.Unmarshal(body, &out); resp.StatusCode != http.StatusOK || err != nil || out.Data.AccessToken != s.tokens[p] {
			t.Errorf("following the redirect from %s: HTTP %d, want 200 with the cluster's token: %.300s", n.ID, resp.StatusCode, body)
		}
	}
}

// testStepDown moves leadership with sys/step-down: the new active node
// serves the cached tokens from storage, every node returns them, and
// nothing is minted.
func (s *haSuite) testStepDown(t *testing.T) {
	ctx := ctxFor(t)
	active, err := s.c.waitActive(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	before := s.sim.allMints(t)
	next, err := s.c.stepDown(ctx, active)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%s stepped down, %s is active", active.ID, next.ID)
	s.checkCachedEverywhere(ctx, t, before)
	// Vault's leases live in replicated storage too.
	for _, p := range partners {
		resp, err := next.root.write(ctx, "sys/leases/lookup", map[string]any{"lease_id": s.leases[p]})
		if err != nil {
			t.Errorf("looking up a lease on token/%s after the step-down: %v", p, err)
		} else if ttl, _ := resp.Data["ttl"].(float64); ttl <= 0 {
			t.Errorf("the lease %s has ttl %v after the step-down, want it running", s.leases[p], resp.Data["ttl"])
		}
	}
}

// testKillActive kills the active node's process (SIGKILL): the other two
// keep quorum, elect a new active node that serves the cached tokens
// without minting, and the killed node, restarted and unsealed, rejoins
// and serves them too.
func (s *haSuite) testKillActive(t *testing.T) {
	ctx := ctxFor(t)
	active, err := s.c.waitActive(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	before := s.sim.allMints(t)
	killedAt := time.Now()
	orphans := s.kill(active)
	next, err := s.c.waitActive(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%s killed, %s active after %s", active.ID, next.ID, time.Since(killedAt).Round(100*time.Millisecond))
	s.checkCachedEverywhere(ctx, t, before)

	orphans.report(t)
	orphans.stop()

	if err := active.start(); err != nil {
		t.Fatal(err)
	}
	if err := active.waitListening(ctx); err != nil {
		t.Fatal(err)
	}
	if err := s.c.unseal(ctx, active); err != nil {
		t.Fatal(err)
	}
	if err := s.c.waitVoters(ctx, s.c.nodes); err != nil {
		t.Fatal(err)
	}
	if _, err := s.c.waitActive(ctx, nil); err != nil {
		t.Fatal(err)
	}
	if err := s.c.waitMounted(ctx, mount); err != nil {
		t.Fatal(err)
	}
	t.Logf("%s restarted and a voter again %s after the kill", active.ID, time.Since(killedAt).Round(time.Second))
	s.checkCachedEverywhere(ctx, t, before)
}

// checkCachedEverywhere reads every partner's token through every running
// node: each is the token first served, and no partner minted since
// before. Every config reads back as it was written.
func (s *haSuite) checkCachedEverywhere(ctx context.Context, t *testing.T, before map[string]int) {
	t.Helper()
	for _, n := range s.c.running() {
		for _, p := range partners {
			l, err := readThrough(ctx, t, n, p)
			if err != nil {
				t.Errorf("reading token/%s through %s: %v", p, n.ID, err)
				continue
			}
			checkLease(t, s.sim, p, mount, p, l)
			if l.AccessToken != s.tokens[p] {
				t.Errorf("token/%s through %s is not the cached token", p, n.ID)
			}
			resp, err := n.root.read(ctx, mount+"/config/"+p)
			if err != nil {
				t.Errorf("reading config/%s through %s: %v", p, n.ID, err)
			} else if !reflect.DeepEqual(resp.Data, s.configs[p]) {
				t.Errorf("config/%s through %s reads %v, want %v as written", p, n.ID, resp.Data, s.configs[p])
			}
		}
		resp, err := n.root.list(ctx, mount+"/config")
		if err != nil {
			t.Errorf("listing the configs through %s: %v", n.ID, err)
			continue
		}
		var names []string
		keys, _ := resp.Data["keys"].([]any)
		for _, k := range keys {
			if name, ok := k.(string); ok && slices.Contains(partners, name) {
				names = append(names, name)
			}
		}
		if len(names) != len(partners) {
			t.Errorf("listing the configs through %s: %v, want every partner's", n.ID, keys)
		}
	}
	after := s.sim.allMints(t)
	for _, p := range partners {
		if n := after[p] - before[p]; n != 0 {
			t.Errorf("%s: %d mints, want none: the cached token is in replicated storage", p, n)
		}
	}
}

// testConfigRewrite rewrites a config on the active node while readers on
// every node keep reading: no read that starts after the write returns
// succeeded gets the old token, one mint replaces it, and the replacement
// is what every node serves, also after leadership moves. Rewriting
// through a standby (forwarded to the active node) does the same.
func (s *haSuite) testConfigRewrite(t *testing.T) {
	ctx := ctxFor(t)
	const name, p = "rewrite", "oauth2"
	active, err := s.c.waitActive(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := configure(ctx, active.root, mount, name, p, s.sim, nil); err != nil {
		t.Fatal(err)
	}
	first, err := readToken(ctx, active.root, mount, name)
	if err != nil {
		t.Fatal(err)
	}
	old := map[string]bool{first.AccessToken: true}

	rewrite := func(via *haNode, secret string) string {
		t.Helper()
		before := s.sim.mints(t, p)
		readers := startReaders(ctx, t, s.sim, p, s.c.running(), name, 100*time.Millisecond)
		defer readers.stop()
		time.Sleep(time.Second) // readers on every node get the current token
		if _, err := via.root.write(ctx, mount+"/config/"+name, map[string]any{"client_secret": secret}); err != nil {
			t.Fatalf("rewriting config/%s through %s: %v", name, via.ID, err)
		}
		written := time.Now()
		time.Sleep(2 * time.Second)
		reads := readers.stop()

		var fresh string
		for _, r := range reads {
			switch {
			case r.err != nil:
				t.Errorf("reading token/%s through %s: %v", name, r.node.ID, r.err)
			case r.started.After(written) && old[r.token]:
				t.Errorf("a read through %s that started %s after the rewrite returned got a token minted before it",
					r.node.ID, r.started.Sub(written).Round(time.Millisecond))
			case r.started.After(written) && fresh == "":
				fresh = r.token
			case r.started.After(written) && r.token != fresh:
				t.Errorf("after the rewrite, %s served another token than other nodes", r.node.ID)
			}
		}
		if fresh == "" {
			t.Fatalf("no read after the rewrite returned a token")
		}
		checkReads(t, reads)
		for _, n := range s.c.running() {
			if !slices.ContainsFunc(reads, func(r haRead) bool { return r.node == n && r.started.After(written) && r.err == nil }) {
				t.Errorf("no read through %s after the rewrite", n.ID)
			}
		}
		if n := s.sim.mints(t, p) - before; n != 1 {
			t.Errorf("rewriting the config caused %d mints while %d reads ran, want 1", n, len(reads))
		}
		old[fresh] = true
		return fresh
	}
	rotated := simClient{ID: s.sim.client(p).ID, Secret: "rotated-" + randomString(12)}
	s.secrets = append(s.secrets, rotated)
	if err := s.sim.admin(http.MethodPut, "clients/"+p, map[string]any{
		"id": rotated.ID, "secret": rotated.Secret, "previous_secrets": []string{s.sim.client(p).Secret},
	}, nil); err != nil {
		t.Fatal(err)
	}
	second := rewrite(active, rotated.Secret)

	// Leadership moves: the new active node serves the new token.
	before := s.sim.mints(t, p)
	next, err := s.c.stepDown(ctx, active)
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range s.c.running() {
		l, err := readThrough(ctx, t, n, name)
		if err != nil {
			t.Fatalf("reading token/%s through %s: %v", name, n.ID, err)
		}
		checkLease(t, s.sim, p, mount, name, l)
		if l.AccessToken != second {
			t.Errorf("after %s stepped down, %s serves another token than the one minted after the rewrite", active.ID, n.ID)
		}
	}
	if n := s.sim.mints(t, p) - before; n != 0 {
		t.Errorf("after the step-down: %d mints, want none", n)
	}

	// Through a standby: Vault forwards the write to the active node.
	var standby *haNode
	for _, n := range s.c.running() {
		if n != next {
			standby = n
		}
	}
	third := rewrite(standby, rotated.Secret)
	if third == second {
		t.Errorf("rewriting through %s left the cached token in place", standby.ID)
	}
}

// testRefreshAcrossStepDowns reads a 30-second token through every node
// twice a second for two of its refreshes, and moves leadership around
// both: just before the first refresh is due (the refresh timer armed on
// the old active node dies with its mount; the new one arms its own), and
// while the second one's request to the partner is under way (the partner
// holds it for 3 s). Each lifetime costs exactly one mint, every mint is
// served, and every reader, whichever node it asks, gets a token the
// partner accepts.
func (s *haSuite) testRefreshAcrossStepDowns(t *testing.T) {
	ctx := ctxFor(t)
	w := s.watchRefresh(ctx, t, "refresh", "podero")

	// 1: step down 2 s before the first refresh is due.
	due := w.first.ExpiresAt.Add(haRefreshAfter - haRefreshLifetime)
	sleepUntil(ctx, due.Add(-2*time.Second))
	w.move(ctx, t, "stepped down 2s before the refresh was due", func(active *haNode) {
		if _, err := s.c.stepDown(ctx, active); err != nil {
			t.Fatal(err)
		}
	})
	second := w.readers.waitToken(ctx, t, func(l *lease) bool { return l.ExpiresAt.After(w.first.ExpiresAt) })

	// 2: the partner holds the next request for 3 s; step down 1 s into it.
	due = second.ExpiresAt.Add(haRefreshAfter - haRefreshLifetime)
	sleepUntil(ctx, due.Add(-2*time.Second))
	if err := s.sim.admin(http.MethodPost, "faults/"+w.partner, map[string]any{"delay": "3s", "times": 1}, nil); err != nil {
		t.Fatal(err)
	}
	sleepUntil(ctx, due.Add(time.Second))
	w.move(ctx, t, "stepped down 1s after the refresh was due, its partner request held up", func(active *haNode) {
		if _, err := s.c.stepDown(ctx, active); err != nil {
			t.Fatal(err)
		}
	})
	w.readers.waitToken(ctx, t, func(l *lease) bool { return l.ExpiresAt.After(second.ExpiresAt) })
	// Long enough for a second refresh of the same token, held up at the
	// partner or not, to show.
	sleepUntil(ctx, time.Now().Add(5*time.Second))
	w.finish(ctx, t, 3)
}

// testRefreshAcrossKill kills the active node 3 s before a 30-second
// token's second refresh is due (the first one ran on that node), with
// readers on every node: the new active node refreshes the token once, and
// nothing else does. The killed server's plugin process is left behind
// (nobody stops it) with the refresh timer still armed; it must not mint.
func (s *haSuite) testRefreshAcrossKill(t *testing.T) {
	ctx := ctxFor(t)
	w := s.watchRefresh(ctx, t, "refresh-kill", "dinie")
	second := w.readers.waitToken(ctx, t, func(l *lease) bool { return l.ExpiresAt.After(w.first.ExpiresAt) })

	due := second.ExpiresAt.Add(haRefreshAfter - haRefreshLifetime)
	sleepUntil(ctx, due.Add(-3*time.Second))
	var orphans *orphanWatch
	w.move(ctx, t, "killed 3s before the refresh was due", func(active *haNode) {
		orphans = s.kill(active)
		w.down(active)
	})
	w.readers.waitToken(ctx, t, func(l *lease) bool { return l.ExpiresAt.After(second.ExpiresAt) })
	// Long enough for a second refresh of the same token to show.
	sleepUntil(ctx, time.Now().Add(5*time.Second))
	orphans.report(t)
	w.finish(ctx, t, 3)
}

// refreshWatch follows a 30-second token of one config through every
// node while leadership moves.
type refreshWatch struct {
	s             *haSuite
	name, partner string
	before        partnersim.Stats
	logged        map[string]int
	first         *lease
	readers       *haReaders
	// moves are when leadership moved: reads may fail then.
	moves []haWindow
}

// haWindow is a time when reads through node (every node when nil) may
// fail; an open window (zero to) lasts to the end.
type haWindow struct {
	node     *haNode
	from, to time.Time
}

// watchRefresh makes partner's tokens live haRefreshLifetime, configures
// name for it, mints its first token through the active node, and starts
// readers on every node. Each test needs a partner of its own: counting its
// mints counts the test's.
func (s *haSuite) watchRefresh(ctx context.Context, t *testing.T, name, partner string) *refreshWatch {
	t.Helper()
	if err := s.sim.admin(http.MethodPut, "lifetimes/"+partner, map[string]string{"lifetime": haRefreshLifetime.String()}, nil); err != nil {
		t.Fatal(err)
	}
	active, err := s.c.waitActive(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := configure(ctx, active.root, mount, name, partner, s.sim, map[string]any{"expiry_margin": haRefreshMargin.String()}); err != nil {
		t.Fatal(err)
	}
	w := &refreshWatch{s: s, name: name, partner: partner, before: s.sim.allStats(t)[partner], logged: mintLogLines(t, s.c.nodes)}
	if w.first, err = readToken(ctx, active.root, mount, name); err != nil {
		t.Fatal(err)
	}
	if life := w.first.ExpiresAt.Sub(w.first.ReceivedAt); life > haRefreshLifetime || life < haRefreshLifetime-5*time.Second {
		t.Fatalf("the first token of %s expires in %s, want %s", name, life, haRefreshLifetime)
	}
	w.readers = startReaders(ctx, t, s.sim, partner, s.c.running(), name, 500*time.Millisecond)
	t.Cleanup(func() { w.readers.stop() })
	return w
}

// move moves leadership away from the active node with f, waits until the
// cluster has settled, and records when reads may have failed.
func (w *refreshWatch) move(ctx context.Context, t *testing.T, what string, f func(active *haNode)) {
	t.Helper()
	active, err := w.s.c.waitActive(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	from := time.Now()
	f(active)
	next, err := w.s.c.waitActive(ctx, active)
	if err != nil {
		t.Fatal(err)
	}
	w.moves = append(w.moves, haWindow{from: from.Add(-time.Second), to: time.Now().Add(3 * time.Second)})
	t.Logf("%s %s; %s active %s later", active.ID, what, next.ID, time.Since(from).Round(100*time.Millisecond))
}

// down records that node n stopped serving for good.
func (w *refreshWatch) down(n *haNode) {
	w.moves = append(w.moves, haWindow{node: n, from: time.Now()})
}

// excused tells whether a failed read happened while its node could not serve.
func (w *refreshWatch) excused(r haRead) bool {
	for _, m := range w.moves {
		if (m.node == nil || m.node == r.node) && r.ended.After(m.from) && (m.to.IsZero() || r.started.Before(m.to)) {
			return true
		}
	}
	return false
}

// finish stops the readers and checks what they saw: want tokens, each
// minted once (the partner issued exactly the tokens that were served),
// about haRefreshAfter apart, every read good, failures only while
// leadership moved, and every node serving after the last move.
func (w *refreshWatch) finish(ctx context.Context, t *testing.T, want int) {
	t.Helper()
	reads := w.readers.stop()
	stats := w.s.sim.allStats(t)[w.partner]

	var served []*lease
	failed := 0
	for _, r := range reads {
		if r.err != nil {
			failed++
			if !w.excused(r) {
				t.Errorf("a read through %s at %s failed while leadership stayed put: %v", r.node.ID, r.started.Format(timeMillis), r.err)
			}
			continue
		}
		if !slices.ContainsFunc(served, func(l *lease) bool { return l.AccessToken == r.token }) {
			served = append(served, r.l)
		}
	}
	if !slices.ContainsFunc(served, func(l *lease) bool { return l.AccessToken == w.first.AccessToken }) {
		served = append(served, w.first)
	}
	slices.SortFunc(served, func(a, b *lease) int { return a.ExpiresAt.Compare(b.ExpiresAt) })
	var expiries []string
	for _, l := range served {
		expiries = append(expiries, l.ExpiresAt.Format(time.TimeOnly))
	}
	minted := stats.Mints - w.before.Mints
	t.Logf("%d reads (%d failed while leadership moved), %d tokens served (expiring %s), %d minted, %d partner requests held up and abandoned",
		len(reads), failed, len(served), strings.Join(expiries, ", "), minted, stats.Faults-w.before.Faults)

	if len(served) != want {
		t.Errorf("%d tokens served, want %d", len(served), want)
	}
	if minted != len(served) {
		t.Errorf("the partner issued %d tokens and %d were served: a refresh ran twice or its token was lost", minted, len(served))
	}
	for i := 1; i < len(served); i++ {
		gap := served[i].ExpiresAt.Sub(served[i-1].ExpiresAt)
		// Never early (that would be a second refresh of one token); late
		// only by as long as leadership took to move.
		if gap < haRefreshAfter-3*time.Second || gap > haRefreshLifetime+10*time.Second {
			t.Errorf("token %d was minted %s after token %d, want about %s (refresh ahead at 80%%)", i+1, gap, i, haRefreshAfter)
		}
	}
	checkReads(t, reads)
	var last time.Time
	for _, m := range w.moves {
		if m.to.After(last) {
			last = m.to
		}
	}
	for _, n := range w.s.c.running() {
		if !slices.ContainsFunc(reads, func(r haRead) bool { return r.node == n && r.err == nil && r.started.After(last) }) {
			t.Errorf("no read through %s succeeded after leadership last moved", n.ID)
		}
	}
	mints := mintLogLines(t, w.s.c.nodes)
	total := 0
	var per []string
	for _, n := range w.s.c.nodes {
		total += mints[n.ID] - w.logged[n.ID]
		per = append(per, fmt.Sprintf("%s %d", n.ID, mints[n.ID]-w.logged[n.ID]))
	}
	t.Logf("mints logged per node: %s", strings.Join(per, ", "))
	if total != minted {
		t.Errorf("the nodes logged %d mints, the partner issued %d", total, minted)
	}
	// Refreshing stops: nobody reads this config any more.
	if _, err := w.s.c.running()[0].root.delete(ctx, mount+"/config/"+w.name); err != nil {
		t.Errorf("deleting config/%s: %v", w.name, err)
	}
}

// checkReads checks every successful read: a lease that ends before the
// token, a token the partner accepted when it was served, and no node
// serving a token older than one that any node had already served to a
// read that ended before this one started.
func checkReads(t *testing.T, reads []haRead) {
	t.Helper()
	byStart := slices.Clone(reads)
	slices.SortFunc(byStart, func(a, b haRead) int { return a.started.Compare(b.started) })
	byEnd := slices.Clone(reads)
	slices.SortFunc(byEnd, func(a, b haRead) int { return a.ended.Compare(b.ended) })
	var newest *haRead // of the reads ended so far, the one with the latest token
	errs := 0
	report := func(format string, args ...any) {
		t.Helper()
		if errs++; errs <= 10 {
			t.Errorf(format, args...)
		}
	}
	for _, r := range byStart {
		for len(byEnd) > 0 && byEnd[0].ended.Before(r.started) {
			if f := byEnd[0]; f.err == nil && (newest == nil || f.l.ExpiresAt.After(newest.l.ExpiresAt)) {
				newest = &f
			}
			byEnd = byEnd[1:]
		}
		if r.err != nil {
			continue
		}
		if newest != nil && r.l.ExpiresAt.Before(newest.l.ExpiresAt) {
			report("a read through %s at %s got an older token than %s had served at %s",
				r.node.ID, r.started.Format(timeMillis), newest.node.ID, newest.ended.Format(timeMillis))
		}
		if !r.ended.Before(r.l.ExpiresAt) || r.l.End().After(r.l.ExpiresAt) || r.l.Duration <= 0 {
			report("a read through %s at %s got an expired token or a bad lease: expires_at %s, lease %s",
				r.node.ID, r.ended.Format(timeMillis), r.l.ExpiresAt.Format(timeMillis), r.l.Duration)
		}
		if r.accepted != nil && !*r.accepted {
			report("a read through %s at %s got a token the partner does not accept", r.node.ID, r.ended.Format(timeMillis))
		}
	}
	if errs > 10 {
		t.Errorf("and %d more bad reads", errs-10)
	}
}

const timeMillis = "15:04:05.000"

// haRead is one read of a token through one node.
type haRead struct {
	node           *haNode
	started, ended time.Time
	l              *lease
	token          string
	err            error
	// accepted is whether the partner accepted the token right after the
	// read, asked for the first read of each token through each node.
	accepted *bool
}

// haReaders read a token through a set of nodes in a loop, one goroutine
// per node, until stopped.
type haReaders struct {
	stopOnce sync.Once
	cancel   context.CancelFunc
	wg       sync.WaitGroup
	mu       sync.Mutex
	reads    []haRead
}

// startReaders starts a reader per node that reads token/<name> of a
// config of partner every interval, and asks the partner whether it
// accepts each token the first time the node serves it. Errors are
// recorded, not retried: callers judge them.
func startReaders(ctx context.Context, t *testing.T, sim *simulator, partner string, nodes []*haNode, name string, interval time.Duration) *haReaders {
	ctx, cancel := context.WithCancel(ctx)
	r := &haReaders{cancel: cancel}
	for _, n := range nodes {
		r.wg.Add(1)
		go func() {
			defer r.wg.Done()
			checked := map[string]bool{}
			for ctx.Err() == nil {
				read := haRead{node: n, started: time.Now()}
				reqCtx, cancelReq := context.WithTimeout(ctx, 30*time.Second)
				read.l, read.err = readToken(reqCtx, n.root, mount, name)
				cancelReq()
				read.ended = time.Now()
				if ctx.Err() != nil {
					return // cut short by stop
				}
				if read.err == nil {
					read.token = read.l.AccessToken
					if !checked[read.token] {
						checked[read.token] = true
						ok := sim.active(t, partner, read.token)
						read.accepted = &ok
					}
				}
				r.mu.Lock()
				r.reads = append(r.reads, read)
				r.mu.Unlock()
				select {
				case <-ctx.Done():
				case <-time.After(interval):
				}
			}
		}()
	}
	return r
}

// stop stops the readers and returns every read they made.
func (r *haReaders) stop() []haRead {
	r.stopOnce.Do(func() {
		r.cancel()
		r.wg.Wait()
	})
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.reads)
}

// waitToken waits up to a token lifetime for a read that returned a token
// matching want, and returns it.
func (r *haReaders) waitToken(ctx context.Context, t *testing.T, want func(*lease) bool) *lease {
	t.Helper()
	var found *lease
	err := poll(ctx, 2*haRefreshLifetime, func() error {
		r.mu.Lock()
		defer r.mu.Unlock()
		for _, read := range r.reads {
			if read.err == nil && want(read.l) {
				found = read.l
				return nil
			}
		}
		return errors.New("no reader got the next token yet")
	})
	if err != nil {
		t.Fatal(err)
	}
	return found
}

// readThrough reads token/<name> through n, retrying for a while as long
// as Vault itself is what fails (no answer, HTTP 500 or 503, as while a
// standby learns of a new active node); the engine's own errors (4xx, 502)
// are returned at once.
func readThrough(ctx context.Context, t *testing.T, n *haNode, name string) (*lease, error) {
	t.Helper()
	var l *lease
	err := poll(ctx, 60*time.Second, func() error {
		var err error
		l, err = readToken(ctx, n.root, mount, name)
		if err != nil {
			if s := statusOf(err); s != 0 && s != http.StatusInternalServerError && s != http.StatusServiceUnavailable {
				return stopPolling(err)
			}
			t.Logf("reading token/%s through %s: %v (retrying)", name, n.ID, err)
		}
		return err
	})
	return l, err
}

// sleepUntil sleeps until at or until ctx ends.
func sleepUntil(ctx context.Context, at time.Time) {
	select {
	case <-ctx.Done():
	case <-time.After(time.Until(at)):
	}
}

// allMints are the tokens the simulator issued, per partner.
func (s *simulator) allMints(t testing.TB) map[string]int {
	t.Helper()
	out := map[string]int{}
	for p, st := range s.allStats(t) {
		out[p] = st.Mints
	}
	return out
}

// mintLogLines counts, per node, the plugin's "minted token" log lines.
func mintLogLines(t *testing.T, nodes []*haNode) map[string]int {
	t.Helper()
	out := map[string]int{}
	for _, n := range nodes {
		data, err := os.ReadFile(n.LogPath)
		if err != nil {
			t.Fatal(err)
		}
		out[n.ID] = strings.Count(string(data), ": minted token:")
	}
	return out
}

// kill kills n's server process (SIGKILL) and watches the plugin
// processes it leaves behind.
func (s *haSuite) kill(n *haNode) *orphanWatch {
	pids := childPids(n.pid())
	n.kill()
	o := watchOrphans(n, pids)
	s.orphans = append(s.orphans, o)
	return o
}

// stopOrphans kills whatever plugin process of a killed server still runs.
func (s *haSuite) stopOrphans() {
	for _, o := range s.orphans {
		o.stop()
	}
}

// orphanWatch follows the plugin processes a killed server left behind
// and notes when each one ends.
type orphanWatch struct {
	stopOnce sync.Once
	node     *haNode
	killedAt time.Time
	done     chan struct{}
	mu       sync.Mutex
	alive    map[int]bool
	lived    map[int]time.Duration
}

func watchOrphans(n *haNode, pids []int) *orphanWatch {
	o := &orphanWatch{node: n, killedAt: time.Now(), done: make(chan struct{}), alive: map[int]bool{}, lived: map[int]time.Duration{}}
	for _, pid := range pids {
		if isPlugin(pid) {
			o.alive[pid] = true
		}
	}
	go func() {
		for {
			select {
			case <-o.done:
				return
			case <-time.After(100 * time.Millisecond):
			}
			o.mu.Lock()
			for pid := range o.alive {
				if !isPlugin(pid) {
					delete(o.alive, pid)
					o.lived[pid] = time.Since(o.killedAt)
				}
			}
			o.mu.Unlock()
		}
	}()
	return o
}

// report logs how long each orphan outlived its server, so far.
func (o *orphanWatch) report(t *testing.T) {
	t.Helper()
	o.mu.Lock()
	defer o.mu.Unlock()
	for pid, d := range o.lived {
		t.Logf("%s's plugin process %d outlived its server by %s", o.node.ID, pid, d.Round(100*time.Millisecond))
	}
	for pid := range o.alive {
		t.Logf("%s's plugin process %d still runs %s after its server was killed", o.node.ID, pid, time.Since(o.killedAt).Round(100*time.Millisecond))
	}
}

// stop kills the orphans still running: they are this test's processes.
func (o *orphanWatch) stop() {
	o.stopOnce.Do(func() {
		close(o.done)
		o.mu.Lock()
		defer o.mu.Unlock()
		for pid := range o.alive {
			if p, err := os.FindProcess(pid); err == nil && isPlugin(pid) {
				_ = p.Kill()
			}
		}
	})
}
