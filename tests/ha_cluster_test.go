package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// haNodes is the size of the HA cluster: three voters, so that one can die
// and the other two keep quorum.
const haNodes = 3

// haNode is one `vault server` process of the HA cluster, with its own
// config file, data folder, API port and cluster port (the port above it).
// It keeps its config and data across restarts; its log is appended to.
type haNode struct {
	ID      string // the Raft node_id: node1, node2, node3
	Addr    string // http://127.0.0.1:port, also its api_addr
	Dir     string
	LogPath string

	config string
	cmd    *exec.Cmd
	done   chan struct{} // closed when the process exited
	err    error         // its exit status, once done
	root   *vaultClient
	// redirects counts the redirects its clients followed.
	redirects atomic.Int64
}

// haCluster is a Vault cluster on integrated storage (Raft) on loopback,
// initialised with one unseal key share, every node unsealed and a voter,
// with the plugin under test registered by SHA-256 and mounted at mount.
type haCluster struct {
	nodes []*haNode
	// members are the nodes that belong to the cluster: the first one,
	// then each joiner once it has joined.
	members   []*haNode
	unsealKey string
	rootToken string
}

// startCluster starts and forms the cluster; t's cleanup stops it. The
// plugin directory is the suite's: every node runs the same plugin binary,
// as the replicated plugin catalog requires.
func startCluster(ctx context.Context, t *testing.T) *haCluster {
	t.Helper()
	base := filepath.Join(env.workDir, "ha")
	c := &haCluster{}
	t.Cleanup(c.stop)
	for i := 1; i <= haNodes; i++ {
		n, err := newHANode(base, "node"+strconv.Itoa(i))
		if err != nil {
			t.Fatal(err)
		}
		c.nodes = append(c.nodes, n)
		if err := n.start(); err != nil {
			t.Fatal(err)
		}
	}
	for _, n := range c.nodes {
		if err := n.waitListening(ctx); err != nil {
			t.Fatal(err)
		}
	}

	// The first node initialises the cluster and becomes its active node.
	first := c.nodes[0]
	var init struct {
		KeysB64   []string `json:"keys_base64"`
		RootToken string   `json:"root_token"`
	}
	if err := first.call(ctx, http.MethodPut, "sys/init", map[string]any{"secret_shares": 1, "secret_threshold": 1}, &init); err != nil {
		t.Fatalf("initialising %s: %v", first.ID, err)
	}
	if len(init.KeysB64) != 1 || init.RootToken == "" {
		t.Fatalf("sys/init answered %d unseal keys and root token set %t, want 1 and true", len(init.KeysB64), init.RootToken != "")
	}
	c.unsealKey, c.rootToken = init.KeysB64[0], init.RootToken
	c.members = []*haNode{first}
	for _, n := range c.nodes {
		n.root = n.client(c.rootToken)
	}
	if err := c.unseal(ctx, first); err != nil {
		t.Fatal(err)
	}
	if _, err := c.waitActive(ctx, nil); err != nil {
		t.Fatal(err)
	}
	// Joiners become voters once autopilot finds them stable for
	// server_stabilization_time (10 s by default).
	if _, err := first.root.write(ctx, "sys/storage/raft/autopilot/configuration", map[string]any{
		"server_stabilization_time": "2s",
	}); err != nil {
		t.Fatalf("configuring autopilot: %v", err)
	}

	for _, n := range c.nodes[1:] {
		var joined struct {
			Joined bool `json:"joined"`
		}
		if err := n.call(ctx, http.MethodPost, "sys/storage/raft/join", map[string]any{"leader_api_addr": first.Addr}, &joined); err != nil {
			t.Fatalf("%s joining %s: %v", n.ID, first.ID, err)
		}
		if !joined.Joined {
			t.Fatalf("%s did not join %s", n.ID, first.ID)
		}
		// Unsealing a joiner completes the join: it answers the leader's
		// challenge with the keyring it can now decrypt.
		if err := c.unseal(ctx, n); err != nil {
			t.Fatal(err)
		}
		c.members = append(c.members, n)
	}
	if err := c.waitVoters(ctx, c.nodes); err != nil {
		t.Fatal(err)
	}
	active, err := c.waitActive(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := registerPluginOn(ctx, active.root, mount); err != nil {
		t.Fatal(err)
	}
	if err := c.waitMounted(ctx, mount); err != nil {
		t.Fatal(err)
	}
	return c
}

// waitMounted waits until every running member answers under path/. A
// standby that serves reads itself (standbyReads) sets a new mount up a
// moment after the active node, and until then answers 404 "no handler for
// route" rather than forwarding; one that forwards answers at once.
func (c *haCluster) waitMounted(ctx context.Context, path string) error {
	return poll(ctx, 30*time.Second, func() error {
		for _, n := range c.running() {
			if _, err := n.root.read(ctx, path+"/providers"); err != nil {
				return fmt.Errorf("%s does not serve %s/ yet: %w", n.ID, path, err)
			}
		}
		return nil
	})
}

// newHANode writes the config of node id below base.
func newHANode(base, id string) (*haNode, error) {
	dir := filepath.Join(base, id)
	if err := os.MkdirAll(filepath.Join(dir, "raft"), 0o700); err != nil {
		return nil, err
	}
	port, err := freePortPair()
	if err != nil {
		return nil, err
	}
	api := "127.0.0.1:" + strconv.Itoa(port)
	cluster := "127.0.0.1:" + strconv.Itoa(port+1)
	n := &haNode{
		ID:      id,
		Addr:    "http://" + api,
		Dir:     dir,
		LogPath: filepath.Join(dir, "vault.log"),
		config:  filepath.Join(dir, "vault.hcl"),
	}
	// performance_multiplier 1 is Raft's fastest timing (1 s heartbeat and
	// election timeouts, Vault's default is 5): a killed leader is replaced
	// within seconds.
	hcl := fmt.Sprintf(`
disable_mlock    = true
ui               = false
api_addr         = %q
cluster_addr     = %q
plugin_directory = %q

storage "raft" {
  path                   = %q
  node_id                = %q
  performance_multiplier = 1
}

listener "tcp" {
  address         = %q
  cluster_address = %q
  tls_disable     = true
}
`, n.Addr, "https://"+cluster, env.pluginDir, filepath.Join(dir, "raft"), id, api, cluster)
	if err := os.WriteFile(n.config, []byte(hcl), 0o600); err != nil {
		return nil, err
	}
	return n, nil
}

// start runs the node's server process, appending to its log.
func (n *haNode) start() error {
	logFile, err := os.OpenFile(n.LogPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return err
	}
	defer logFile.Close()
	fmt.Fprintf(logFile, "==== e2e: starting %s at %s\n", n.ID, time.Now().UTC().Format(time.RFC3339Nano))
	cmd := serverCommand(n.Dir, nil, "server", "-config="+n.config, "-log-level=debug")
	cmd.Stdout, cmd.Stderr = logFile, logFile
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("starting %s: %w", n.ID, err)
	}
	n.cmd, n.done, n.err = cmd, make(chan struct{}), nil
	go func(done chan struct{}) {
		n.err = cmd.Wait()
		close(done)
	}(n.done)
	return nil
}

// running tells whether the node's process is alive.
func (n *haNode) running() bool {
	if n.cmd == nil {
		return false
	}
	select {
	case <-n.done:
		return false
	default:
		return true
	}
}

// stop ends the process gracefully (SIGTERM), so it stops its plugin.
func (n *haNode) stop() {
	if !n.running() {
		return
	}
	terminate(n.cmd.Process, n.done, 30*time.Second)
}

// kill ends the process at once (SIGKILL), as a crash or a power cut
// would: no step-down, no cleanup.
func (n *haNode) kill() {
	if !n.running() {
		return
	}
	_ = n.cmd.Process.Kill()
	<-n.done
}

// pid is the process id of the running server.
func (n *haNode) pid() int {
	if n.cmd == nil || n.cmd.Process == nil {
		return 0
	}
	return n.cmd.Process.Pid
}

// client is an API client for this node that authenticates with token.
// A standby forwards requests to the active node; when it cannot, as in
// the moment after leadership moved before its forwarding connection to
// the new active node is up, it redirects there (307). Vault's and
// OpenBao's own clients (CLI, Agent, api package) follow one redirect, and
// so does this one, counting it: testMintOnce checks that a settled
// cluster forwards instead.
func (n *haNode) client(token string) *vaultClient {
	return &vaultClient{addr: n.Addr, token: token, http: &http.Client{
		Timeout: 60 * time.Second,
		CheckRedirect: func(_ *http.Request, via []*http.Request) error {
			if len(via) > 1 {
				return http.ErrUseLastResponse
			}
			n.redirects.Add(1)
			return nil
		},
	}}
}

// call sends a request to the node without a token (the init, unseal and
// join endpoints need none) and decodes a 2xx answer's body into out.
func (n *haNode) call(ctx context.Context, method, path string, body, out any) error {
	return rawCall(ctx, n.client(""), method, path, body, out)
}

// rawCall is vaultClient.call for the endpoints whose answer is not in
// Vault's usual envelope (sys/init, sys/unseal, sys/health, sys/leader).
func rawCall(ctx context.Context, c *vaultClient, method, path string, body, out any) error {
	status, data, err := c.send(ctx, method, path, body)
	if err != nil {
		return err
	}
	if status/100 != 2 {
		var e struct {
			Errors []string `json:"errors"`
		}
		_ = json.Unmarshal(data, &e)
		return &apiError{Method: method, Path: path, Status: status, Errors: e.Errors}
	}
	if out != nil && len(bytes.TrimSpace(data)) > 0 {
		return json.Unmarshal(data, out)
	}
	return nil
}

// health is the node's role from sys/health's status code: 200 active,
// 429 standby, 503 sealed, 501 not initialised; 0 when it does not answer.
func (n *haNode) health(ctx context.Context) int {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	resp, err := n.client("").request(ctx, http.MethodGet, "sys/health", nil)
	if err != nil {
		return 0
	}
	return resp.Status
}

// leaderAddr is the API address of the active node as this node sees it.
func (n *haNode) leaderAddr(ctx context.Context) string {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	var out struct {
		LeaderAddress string `json:"leader_address"`
	}
	if err := rawCall(ctx, n.client(""), http.MethodGet, "sys/leader", nil, &out); err != nil {
		return ""
	}
	return out.LeaderAddress
}

// waitListening waits until the node's API answers at all.
func (n *haNode) waitListening(ctx context.Context) error {
	return poll(ctx, 90*time.Second, func() error {
		if !n.running() {
			return stopPolling(fmt.Errorf("%s exited while starting (%v); its log:\n%s", n.ID, n.err, tail(n.LogPath, 40)))
		}
		if n.health(ctx) == 0 {
			return fmt.Errorf("%s does not answer on %s; its log:\n%s", n.ID, n.Addr, tail(n.LogPath, 20))
		}
		return nil
	})
}

// unseal unseals n with the cluster's only key share.
func (c *haCluster) unseal(ctx context.Context, n *haNode) error {
	var out struct {
		Sealed bool `json:"sealed"`
	}
	if err := n.call(ctx, http.MethodPut, "sys/unseal", map[string]any{"key": c.unsealKey}, &out); err != nil {
		return fmt.Errorf("unsealing %s: %w", n.ID, err)
	}
	// A joiner reports sealed until it has caught up with the leader.
	return poll(ctx, 90*time.Second, func() error {
		if !n.running() {
			return stopPolling(fmt.Errorf("%s exited while unsealing (%v); its log:\n%s", n.ID, n.err, tail(n.LogPath, 40)))
		}
		if s := n.health(ctx); s != http.StatusOK && s != http.StatusTooManyRequests {
			return fmt.Errorf("%s is not unsealed (sys/health: HTTP %d); its log:\n%s", n.ID, s, tail(n.LogPath, 20))
		}
		return nil
	})
}

// running are the members whose process is alive.
func (c *haCluster) running() []*haNode {
	var out []*haNode
	for _, n := range c.members {
		if n.running() {
			out = append(out, n)
		}
	}
	return out
}

// waitActive waits until the cluster has settled: exactly one running
// member is active and every other one is an unsealed standby that knows
// it. not, when set, must not be the active node (it just stepped down).
// It returns the active node.
func (c *haCluster) waitActive(ctx context.Context, not *haNode) (*haNode, error) {
	var active *haNode
	err := poll(ctx, 120*time.Second, func() error {
		active = nil
		var roles []string
		for _, n := range c.running() {
			s := n.health(ctx)
			roles = append(roles, fmt.Sprintf("%s:%d", n.ID, s))
			switch {
			case s == http.StatusOK && active != nil:
				return fmt.Errorf("two active nodes: %s", strings.Join(roles, " "))
			case s == http.StatusOK:
				active = n
			case s != http.StatusTooManyRequests:
				return fmt.Errorf("not every node is active or standby (sys/health): %s", strings.Join(roles, " "))
			}
		}
		if active == nil {
			return fmt.Errorf("no active node (sys/health): %s", strings.Join(roles, " "))
		}
		if active == not {
			return fmt.Errorf("%s is still active", not.ID)
		}
		for _, n := range c.running() {
			if got := n.leaderAddr(ctx); got != active.Addr {
				return fmt.Errorf("%s sees %q as the active node, want %s (%s)", n.ID, got, active.Addr, active.ID)
			}
		}
		return nil
	})
	return active, err
}

// waitVoters waits until autopilot reports the cluster healthy with every
// node in want a voter (the leader included).
func (c *haCluster) waitVoters(ctx context.Context, want []*haNode) error {
	return poll(ctx, 120*time.Second, func() error {
		var active *haNode
		for _, n := range c.running() {
			if n.health(ctx) == http.StatusOK {
				active = n
			}
		}
		if active == nil {
			return errors.New("no active node to ask for the autopilot state")
		}
		resp, err := active.root.read(ctx, "sys/storage/raft/autopilot/state")
		if err != nil {
			return err
		}
		var state struct {
			Healthy bool     `json:"healthy"`
			Voters  []string `json:"voters"`
			Servers map[string]struct {
				Status  string `json:"status"`
				Healthy bool   `json:"healthy"`
			} `json:"servers"`
		}
		if err := remarshal(resp.Data, &state); err != nil {
			return err
		}
		var missing []string
		for _, n := range want {
			s, ok := state.Servers[n.ID]
			if !ok || !s.Healthy || !slices.Contains(state.Voters, n.ID) {
				missing = append(missing, fmt.Sprintf("%s (status %q, healthy %t)", n.ID, s.Status, s.Healthy))
			}
		}
		if len(missing) > 0 {
			return fmt.Errorf("not yet healthy voters: %s", strings.Join(missing, ", "))
		}
		return nil
	})
}

// stepDown makes the active node give up leadership and waits until
// another node is active and the standbys know it.
func (c *haCluster) stepDown(ctx context.Context, active *haNode) (*haNode, error) {
	if _, err := active.root.call(ctx, http.MethodPut, "sys/step-down", nil); err != nil {
		return nil, fmt.Errorf("stepping %s down: %w", active.ID, err)
	}
	return c.waitActive(ctx, active)
}

// redirects is how many redirects the clients of every node followed.
func (c *haCluster) redirects() int64 {
	var total int64
	for _, n := range c.nodes {
		total += n.redirects.Load()
	}
	return total
}

// stop stops every node gracefully.
func (c *haCluster) stop() {
	for _, n := range c.nodes {
		n.stop()
	}
}

// remarshal converts a decoded JSON value into out.
func remarshal(in, out any) error {
	data, err := json.Marshal(in)
	if err != nil {
		return err
	}
	return json.Unmarshal(data, out)
}
