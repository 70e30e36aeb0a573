package e2e

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/partnertoken/vault-plugin-secrets-partnertoken/internal/partnersim"
	"github.com/partnertoken/vault-plugin-secrets-partnertoken/tests/internal/simadmin"
)

// partners are the simulated partners; the shared server has a config
// named after each.
var partners = []string{"dupr", "setu", "podero", "doku", "dinie", "oauth2"}

// simClient is a client the simulator accepts.
type simClient struct {
	ID     string `json:"id"`
	Secret string `json:"secret"`
}

// simulator is a partner simulator (internal/cmd/partnersim) in its own process, as
// `make dev` runs it, driven through its admin API under /_sim/.
type simulator struct {
	URL       string               `json:"url"`
	TokenURLs map[string]string    `json:"token_urls"`
	Clients   map[string]simClient `json:"clients"`
	// TLSTokenURLs are the partners on the TLS listener, whose certificate
	// chains to CACertificate, the simulator's test CA.
	TLSTokenURLs  map[string]string `json:"tls_token_urls"`
	CACertificate string            `json:"ca_certificate"`

	cmd     *exec.Cmd
	done    chan struct{}
	logPath string
	http    *http.Client
}

var buildSim = sync.OnceValues(func() (string, error) {
	bin := filepath.Join(env.workDir, "partnersim")
	cmd := exec.Command("go", "build", "-o", bin, "./internal/cmd/partnersim")
	cmd.Dir = ".." // the engine's module, which holds the simulator
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("building the partner simulator: %v\n%s", err, out)
	}
	return bin, nil
})

// startSimulator starts a simulator on a free loopback port, with the
// given token lifetimes instead of the partners' defaults. name tells its
// log apart from other simulators'.
func startSimulator(name string, lifetimes map[string]time.Duration) (*simulator, error) {
	bin, err := buildSim()
	if err != nil {
		return nil, err
	}
	args := []string{"-addr", "127.0.0.1:0", "-tls-addr", "127.0.0.1:0"}
	if len(lifetimes) > 0 {
		var list []string
		for p, d := range lifetimes {
			list = append(list, p+"="+d.String())
		}
		slices.Sort(list)
		args = append(args, "-lifetime", strings.Join(list, ","))
	}
	s := &simulator{
		done:    make(chan struct{}),
		logPath: filepath.Join(env.workDir, "partnersim-"+name+".log"),
		http:    &http.Client{Timeout: 10 * time.Second},
	}
	logFile, err := os.Create(s.logPath)
	if err != nil {
		return nil, err
	}
	defer logFile.Close()
	s.cmd = exec.Command(bin, args...)
	s.cmd.Stderr = logFile
	stdout, err := s.cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	setDeathSignal(s.cmd)
	if err := s.cmd.Start(); err != nil {
		return nil, err
	}
	go func() {
		_ = s.cmd.Wait()
		close(s.done)
	}()

	// Its first line on stdout says where it listens and whom it accepts.
	lines := make(chan []byte, 1)
	go func() {
		line, _ := bufio.NewReader(stdout).ReadBytes('\n')
		lines <- line
		_, _ = io.Copy(io.Discard, stdout)
	}()
	select {
	case line := <-lines:
		if err := json.Unmarshal(line, s); err != nil || s.URL == "" {
			s.Close()
			return nil, fmt.Errorf("the simulator's first line is not the expected JSON (%v); its log:\n%s", err, tail(s.logPath, 20))
		}
	case <-time.After(30 * time.Second):
		s.Close()
		return nil, fmt.Errorf("the simulator printed nothing within 30s; its log:\n%s", tail(s.logPath, 20))
	}
	for _, p := range partners {
		if s.TokenURLs[p] == "" || s.TLSTokenURLs[p] == "" || s.Clients[p].Secret == "" {
			s.Close()
			return nil, fmt.Errorf("the simulator does not simulate %s", p)
		}
	}
	return s, nil
}

// Close stops the simulator.
func (s *simulator) Close() {
	if s.cmd.Process == nil {
		return
	}
	terminate(s.cmd.Process, s.done, 10*time.Second)
}

func (s *simulator) tokenURL(partner string) string { return s.TokenURLs[partner] }

func (s *simulator) client(partner string) simClient { return s.Clients[partner] }

// secrets are the credentials of every simulated client.
func (s *simulator) secrets() []simClient {
	var out []simClient
	for _, c := range s.Clients {
		out = append(out, c)
	}
	return out
}

// admin calls the simulator's admin API and decodes the answer into out.
func (s *simulator) admin(method, path string, body, out any) error {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	return simadmin.Client{URL: s.URL, HTTP: s.http}.Call(ctx, method, path, body, out)
}

// allStats are the simulator's counters of every partner.
func (s *simulator) allStats(t testing.TB) map[string]partnersim.Stats {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	stats, err := simadmin.Client{URL: s.URL, HTTP: s.http}.Stats(ctx)
	if err != nil {
		t.Fatalf("asking the simulator for its counters: %v", err)
	}
	return stats
}

// mints counts the tokens the simulator issued for partner.
func (s *simulator) mints(t testing.TB, partner string) int {
	t.Helper()
	st, ok := s.allStats(t)[partner]
	if !ok {
		t.Fatalf("the simulator has no counters for %s", partner)
	}
	return st.Mints
}

// active tells whether partner issued token and still accepts it.
func (s *simulator) active(t testing.TB, partner, token string) bool {
	t.Helper()
	var out struct {
		Active bool `json:"active"`
	}
	if err := s.admin(http.MethodPost, "introspect", map[string]string{"partner": partner, "token": token}, &out); err != nil {
		t.Errorf("asking the simulator about a token: %v", err)
		return false
	}
	return out.Active
}

// TestSimAdminClient calls the admin API of a simulator in its own process
// through simadmin.Client: an accepted call decodes the answer, a refused
// one is an error naming the status and the path.
func TestSimAdminClient(t *testing.T) {
	t.Parallel()
	s, err := startSimulator("admin-client", nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	c := simadmin.Client{URL: s.URL, HTTP: s.http}
	if err := c.Call(t.Context(), http.MethodPut, "lifetimes/dinie", map[string]string{"lifetime": "2m"}, nil); err != nil {
		t.Fatal(err)
	}
	if stats, err := c.Stats(t.Context()); err != nil || len(stats) != len(partners) {
		t.Fatalf("stats: %v %v", stats, err)
	}
	err = c.Call(t.Context(), http.MethodPut, "lifetimes/dinie", map[string]string{"lifetime": "soon"}, nil)
	if err == nil || !strings.Contains(err.Error(), "HTTP 400") || !strings.Contains(err.Error(), "/_sim/lifetimes/dinie") {
		t.Fatalf("a refused call returned %v, want an error with the status and the path", err)
	}
}
