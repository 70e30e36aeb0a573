package e2e

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/prometheus/client_golang/api"
	promv1 "github.com/prometheus/client_golang/api/prometheus/v1"
)

// prometheusServer is a Prometheus server (built by scripts/get-prometheus.sh)
// in its own process, with its data and log in a test's directory.
type prometheusServer struct {
	URL     string
	API     promv1.API
	LogPath string

	cmd  *exec.Cmd
	done chan struct{}
}

// prometheusBin is the Prometheus server `make test-e2e` names in
// PARTNERTOKEN_E2E_PROMETHEUS_BIN, else the one scripts/get-prometheus.sh
// builds into .cache/bin, and reports how the test ends to the summary of
// `make test`. Without one the test is skipped with a warning, except in
// CI (CI set), where it fails: a suite that silently stops running
// Prometheus would let the rules and the dashboard rot.
func prometheusBin(t *testing.T) string {
	t.Helper()
	var why string
	reportResult(t, "PARTNERTOKEN_E2E_PROMETHEUS_RESULT", &why)
	bin := os.Getenv("PARTNERTOKEN_E2E_PROMETHEUS_BIN")
	if bin == "" {
		repo, err := filepath.Abs("..")
		if err != nil {
			t.Fatal(err)
		}
		version, err := pinnedVersion(filepath.Join(repo, "tools", "prometheus", "go.mod"), "github.com/prometheus/prometheus")
		if err != nil {
			t.Fatal(err)
		}
		bin = filepath.Join(repo, ".cache", "bin", "prometheus-"+version)
	}
	if info, err := os.Stat(bin); err != nil || info.IsDir() || info.Mode()&0o111 == 0 {
		why = fmt.Sprintf("no Prometheus server at %s (scripts/get-prometheus.sh builds it from the Go module proxy; "+
			"make test-e2e runs it, see what it printed)", bin)
		if os.Getenv("CI") != "" {
			t.Fatalf("cannot run the alerts and the dashboard in Prometheus: %s (a failure in CI, where CI is set; elsewhere a skip)", why)
		}
		t.Skipf("WARNING: the alerts and the dashboard were NOT run in Prometheus: %s", why)
	}
	return bin
}

// startPrometheus runs a Prometheus server with config (prometheus.yml
// text) on a free loopback port, and stops it when the test ends.
func startPrometheus(t *testing.T, ctx context.Context, bin, dir, config string) *prometheusServer {
	t.Helper()
	configPath := filepath.Join(dir, "prometheus.yml")
	if err := os.WriteFile(configPath, []byte(config), 0o600); err != nil {
		t.Fatal(err)
	}
	port, err := freePortPair()
	if err != nil {
		t.Fatal(err)
	}
	listen := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	logFile, err := os.Create(filepath.Join(dir, "prometheus.log"))
	if err != nil {
		t.Fatal(err)
	}
	defer logFile.Close()
	p := &prometheusServer{URL: "http://" + listen, LogPath: logFile.Name(), done: make(chan struct{})}
	p.cmd = exec.Command(bin,
		"--config.file="+configPath,
		"--storage.tsdb.path="+filepath.Join(dir, "data"),
		"--web.listen-address="+listen,
		"--log.level=debug",
	)
	p.cmd.Stdout, p.cmd.Stderr = logFile, logFile
	setDeathSignal(p.cmd)
	if err := p.cmd.Start(); err != nil {
		t.Fatalf("starting %s: %v", bin, err)
	}
	go func() {
		_ = p.cmd.Wait()
		close(p.done)
	}()
	t.Cleanup(func() { terminate(p.cmd.Process, p.done, 10*time.Second) })

	client, err := api.NewClient(api.Config{Address: p.URL})
	if err != nil {
		t.Fatal(err)
	}
	p.API = promv1.NewAPI(client)

	deadline := time.Now().Add(60 * time.Second)
	for {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, p.URL+"/-/ready", nil)
		if resp, err := http.DefaultClient.Do(req); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return p
			}
		}
		select {
		case <-p.done:
			t.Fatalf("Prometheus exited while starting; its log:\n%s", tail(p.LogPath, 40))
		case <-time.After(200 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("Prometheus was not ready within 60s; its log:\n%s", tail(p.LogPath, 40))
		}
	}
}
