package e2e

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/partnertoken/vault-plugin-secrets-partnertoken/backend"
)

const (
	pluginName = "vault-plugin-secrets-partnertoken"
	mount      = "partner"
	rootToken  = "root"
)

// vaultServer is a dev server of the kind under test, Vault or OpenBao
// (in-memory storage, unsealed, root token "root"), running in its own
// process with the plugin directory of the build under test. Its stdout and
// stderr, where the plugin's log lands too, are captured in LogPath.
type vaultServer struct {
	Addr    string // http://127.0.0.1:port
	LogPath string
	Dir     string

	cmd  *exec.Cmd
	done chan struct{} // closed when the process exited
	err  error         // the exit status, once done
	root *vaultClient
}

// startAuditedVault is startVault with a file audit device at file/ that
// logs to auditLog from the start, enabled the way the server kind allows:
// through sys/audit on Vault, in the config file on OpenBao.
func startAuditedVault(ctx context.Context, dir, auditLog string) (*vaultServer, error) {
	if env.server.auditInConfig {
		config := filepath.Join(dir, "audit.hcl")
		if err := os.WriteFile(config, []byte(auditConfig("file", auditLog)), 0o600); err != nil {
			return nil, err
		}
		return startVault(ctx, dir, "-config="+config)
	}
	v, err := startVault(ctx, dir)
	if err != nil {
		return nil, err
	}
	if _, err := v.root.write(ctx, "sys/audit/file", map[string]any{
		"type":    "file",
		"options": map[string]any{"file_path": auditLog},
	}); err != nil {
		v.Stop()
		return nil, fmt.Errorf("enabling the file audit device: %w", err)
	}
	return v, nil
}

// startVault starts a dev server (`server -dev`, with extra flags) on a
// free loopback port and waits until it answers. dir receives its log and
// anything else it writes. Vault and OpenBao take the same dev-mode flags.
func startVault(ctx context.Context, dir string, extra ...string) (*vaultServer, error) {
	return startVaultWithPlugins(ctx, dir, env.pluginDir, extra...)
}

// startVaultWithPlugins is startVault with another plugin directory, for
// tests of other builds of the plugin (a release, two versions).
func startVaultWithPlugins(ctx context.Context, dir, pluginDir string, extra ...string) (*vaultServer, error) {
	return startServer(ctx, dir, pluginDir, nil, extra...)
}

// startVaultWithEnv is startVault with environ added to the server's own
// environment, which its plugin processes inherit.
func startVaultWithEnv(ctx context.Context, dir string, environ []string, extra ...string) (*vaultServer, error) {
	return startServer(ctx, dir, env.pluginDir, environ, extra...)
}

func startServer(ctx context.Context, dir, pluginDir string, environ []string, extra ...string) (*vaultServer, error) {
	port, err := freePortPair()
	if err != nil {
		return nil, err
	}
	logFile, err := os.Create(filepath.Join(dir, env.server.name+".log"))
	if err != nil {
		return nil, err
	}
	defer logFile.Close()

	listen := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	args := append([]string{"server", "-dev",
		"-dev-root-token-id=" + rootToken,
		"-dev-listen-address=" + listen,
		"-dev-plugin-dir=" + pluginDir,
		// Never overwrite the user's ~/.vault-token.
		"-dev-no-store-token",
		// Trace logs, Vault's and the engine's (registered with its
		// per-read line, registerBinaryOn), give a leaked secret more
		// chances to show up.
		"-log-level=trace",
	}, extra...)
	cmd := serverCommand(dir, environ, args...)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("starting %s: %w", env.serverBin, err)
	}
	v := &vaultServer{
		Addr:    "http://" + listen,
		LogPath: logFile.Name(),
		Dir:     dir,
		cmd:     cmd,
		done:    make(chan struct{}),
	}
	go func() {
		v.err = cmd.Wait()
		close(v.done)
	}()
	v.root = v.client(rootToken)

	ctx, cancel := context.WithTimeout(ctx, 90*time.Second)
	defer cancel()
	for {
		resp, err := v.root.request(ctx, http.MethodGet, "sys/health", nil)
		if err == nil && resp.Status == http.StatusOK {
			return v, nil
		}
		select {
		case <-v.done:
			return nil, fmt.Errorf("%s exited while starting (%v); its log:\n%s", env.server.product, v.err, tail(v.LogPath, 40))
		case <-ctx.Done():
			v.Stop()
			return nil, fmt.Errorf("%s did not become healthy within 90s; its log:\n%s", env.server.product, tail(v.LogPath, 40))
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// Stop shuts the server down gracefully, so it stops its plugin processes.
func (v *vaultServer) Stop() {
	if v == nil || v.cmd.Process == nil {
		return
	}
	terminate(v.cmd.Process, v.done, 20*time.Second)
}

// registerPlugin registers the plugin under test by SHA-256 and version and
// mounts it at path, as scripts/register.sh does with the CLI.
func (v *vaultServer) registerPlugin(ctx context.Context, path string) error {
	return registerPluginOn(ctx, v.root, path)
}

// registerPluginOn is registerPlugin through c, for a server the suite
// reaches by its client only (a node of the HA cluster: the catalog and
// the mount table are replicated, so every node knows both).
func registerPluginOn(ctx context.Context, c *vaultClient, path string) error {
	if err := registerBinaryOn(ctx, c, filepath.Join(env.pluginDir, pluginName), env.pluginVersion); err != nil {
		return err
	}
	return mountOn(ctx, c, path)
}

// registerBinary adds bin, a file in the server's plugin directory, to the
// catalog as version of the plugin, by its SHA-256.
func (v *vaultServer) registerBinary(ctx context.Context, bin, version string) error {
	return registerBinaryOn(ctx, v.root, bin, version)
}

// registerBinaryOn is registerBinary through c.
func registerBinaryOn(ctx context.Context, c *vaultClient, bin, version string) error {
	// Every line the engine has, the per-read one included (the Agent
	// tests' timelines read it; see backend.PluginLogger).
	return registerCatalogEntry(ctx, c, pluginName, bin, version, backend.LogLevelEnv+"=trace")
}

// registerCatalogEntry adds bin, a file in the server's plugin directory,
// to the catalog as version of the secrets plugin name, by its SHA-256,
// with environ as its environment.
func registerCatalogEntry(ctx context.Context, c *vaultClient, name, bin, version string, environ ...string) error {
	data, err := os.ReadFile(bin)
	if err != nil {
		return err
	}
	sum := sha256.Sum256(data)
	entry := map[string]any{
		"sha256":  hex.EncodeToString(sum[:]),
		"command": filepath.Base(bin),
		"version": version,
	}
	if len(environ) > 0 {
		entry["env"] = environ
	}
	if _, err := c.write(ctx, "sys/plugins/catalog/secret/"+name, entry); err != nil {
		return fmt.Errorf("registering the plugin %s %s: %w", name, version, err)
	}
	return nil
}

// mountPlugin mounts the registered plugin under test at path and lets it
// reach the simulator.
func (v *vaultServer) mountPlugin(ctx context.Context, path string) error {
	return mountOn(ctx, v.root, path)
}

// mountPluginVersion mounts the given registered version of the plugin at
// path and lets it reach the simulator.
func (v *vaultServer) mountPluginVersion(ctx context.Context, path, version string) error {
	return mountVersionOn(ctx, v.root, path, version)
}

// mountOn mounts the registered plugin under test at path through c.
func mountOn(ctx context.Context, c *vaultClient, path string) error {
	return mountVersionOn(ctx, c, path, env.pluginVersion)
}

// mountVersionOn mounts the given registered version of the plugin at path
// through c. The version goes in config: Vault 1.21 ignores a
// plugin_version beside type and mounts the newest registered version
// instead. The simulator listens on loopback, which a mount refuses as a
// token endpoint unless its settings allow it.
func mountVersionOn(ctx context.Context, c *vaultClient, path, version string) error {
	if _, err := c.write(ctx, "sys/mounts/"+path, map[string]any{
		"type":   pluginName,
		"config": map[string]any{"plugin_version": version},
	}); err != nil {
		return fmt.Errorf("mounting the plugin at %s/: %w", path, err)
	}
	if _, err := c.write(ctx, path+"/settings", map[string]any{"allowed_token_url_hosts": "127.0.0.1"}); err != nil {
		return fmt.Errorf("allowing the simulator's loopback address on %s/: %w", path, err)
	}
	return nil
}

// client returns an API client that authenticates with token.
func (v *vaultServer) client(token string) *vaultClient {
	return &vaultClient{addr: v.Addr, token: token, http: &http.Client{Timeout: 60 * time.Second}}
}

// vaultClient speaks the HTTP API of Vault and OpenBao. It is deliberately
// not the api package: that one reads VAULT_* from the environment of
// whoever runs the tests, and retries on its own.
type vaultClient struct {
	addr  string
	token string
	http  *http.Client
}

// vaultResponse is Vault's JSON answer, with the HTTP status.
type vaultResponse struct {
	Status        int            `json:"-"`
	RequestID     string         `json:"request_id"`
	LeaseID       string         `json:"lease_id"`
	Renewable     bool           `json:"renewable"`
	LeaseDuration int            `json:"lease_duration"`
	Data          map[string]any `json:"data"`
	Warnings      []string       `json:"warnings"`
	Errors        []string       `json:"errors"`
	Auth          *struct {
		ClientToken string `json:"client_token"`
	} `json:"auth"`
}

// apiError is an answer outside 2xx.
type apiError struct {
	Method, Path string
	Status       int
	Errors       []string
}

func (e *apiError) Error() string {
	return fmt.Sprintf("%s %s: HTTP %d: %s", e.Method, e.Path, e.Status, strings.Join(e.Errors, "; "))
}

// statusOf returns the HTTP status of an apiError, 0 for other errors.
func statusOf(err error) int {
	var apiErr *apiError
	if errors.As(err, &apiErr) {
		return apiErr.Status
	}
	return 0
}

// send sends one API request, body (when not nil) as JSON, and returns
// the status and the answer as it came. Only transport failures are errors.
func (c *vaultClient) send(ctx context.Context, method, path string, body any) (int, []byte, error) {
	reader, err := jsonBody(body)
	if err != nil {
		return 0, nil, err
	}
	req, err := http.NewRequestWithContext(ctx, method, c.addr+"/v1/"+path, reader)
	if err != nil {
		return 0, nil, err
	}
	if c.token != "" {
		req.Header.Set("X-Vault-Token", c.token)
	}
	httpResp, err := c.http.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer httpResp.Body.Close()
	data, err := io.ReadAll(httpResp.Body)
	return httpResp.StatusCode, data, err
}

// request sends one API request and decodes Vault's envelope. Only
// transport failures are errors: the status is in the response.
func (c *vaultClient) request(ctx context.Context, method, path string, body any) (*vaultResponse, error) {
	status, data, err := c.send(ctx, method, path, body)
	if err != nil {
		return nil, err
	}
	resp := &vaultResponse{}
	if len(bytes.TrimSpace(data)) > 0 {
		if err := json.Unmarshal(data, resp); err != nil {
			return nil, fmt.Errorf("%s %s: HTTP %d with a body that is not JSON: %.200s", method, path, status, data)
		}
	}
	resp.Status = status
	return resp, nil
}

// jsonBody is body encoded as JSON, or no body for nil.
func jsonBody(body any) (io.Reader, error) {
	if body == nil {
		return nil, nil
	}
	data, err := json.Marshal(body)
	if err != nil {
		return nil, err
	}
	return bytes.NewReader(data), nil
}

// call is request, with any answer outside 2xx turned into an *apiError.
func (c *vaultClient) call(ctx context.Context, method, path string, body any) (*vaultResponse, error) {
	resp, err := c.request(ctx, method, path, body)
	if err != nil {
		return nil, err
	}
	if resp.Status < 200 || resp.Status > 299 {
		return resp, &apiError{Method: method, Path: path, Status: resp.Status, Errors: resp.Errors}
	}
	return resp, nil
}

func (c *vaultClient) read(ctx context.Context, path string) (*vaultResponse, error) {
	return c.call(ctx, http.MethodGet, path, nil)
}

func (c *vaultClient) write(ctx context.Context, path string, body map[string]any) (*vaultResponse, error) {
	if body == nil {
		body = map[string]any{}
	}
	return c.call(ctx, http.MethodPost, path, body)
}

func (c *vaultClient) list(ctx context.Context, path string) (*vaultResponse, error) {
	return c.call(ctx, "LIST", path, nil)
}

func (c *vaultClient) delete(ctx context.Context, path string) (*vaultResponse, error) {
	return c.call(ctx, http.MethodDelete, path, nil)
}

// childToken creates a token with the given policies and Vault's default
// policy (which lets a token look itself up and renew or revoke its leases).
func (c *vaultClient) childToken(ctx context.Context, policies ...string) (*vaultClient, error) {
	resp, err := c.write(ctx, "auth/token/create", map[string]any{
		"policies": policies,
		"ttl":      "1h",
	})
	if err != nil {
		return nil, err
	}
	if resp.Auth == nil || resp.Auth.ClientToken == "" {
		return nil, errors.New("auth/token/create returned no token")
	}
	copied := *c
	copied.token = resp.Auth.ClientToken
	return &copied, nil
}

// freePortPair finds a free loopback port p whose neighbour p+1 is free
// too: a dev server also listens for cluster traffic one port above its API.
func freePortPair() (int, error) {
	for range 50 {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return 0, err
		}
		port := l.Addr().(*net.TCPAddr).Port
		next, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port+1)))
		l.Close()
		if err == nil {
			next.Close()
			return port, nil
		}
	}
	return 0, errors.New("no two adjacent free loopback ports found")
}

// tail returns the last n lines of a file, for failure messages.
func tail(path string, n int) string {
	data, err := os.ReadFile(path)
	if err != nil {
		return err.Error()
	}
	lines := strings.Split(strings.TrimRight(string(data), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// ctxFor returns a context that ends with the test.
func ctxFor(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	t.Cleanup(cancel)
	return ctx
}
