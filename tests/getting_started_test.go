package e2e

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"testing"
	"time"
)

const gettingStarted = "docs/getting-started.md"

// TestGettingStarted follows docs/getting-started.md, block by block and in
// its order, on a production-shaped server: not a dev server, but one
// started with the page's own config (integrated storage, a TLS listener,
// plugin_directory), initialised and unsealed as an operator does, with a
// release zip of the build under test to install. A directory of the test
// stands in for the root of the file system, the test's own CA for the
// operator's, the loopback address for vault.example.com, and the
// simulator for the partner; everything else runs as written, ending with
// a Vault Agent and a Vault Proxy that serve the token to an app.
func TestGettingStarted(t *testing.T) {
	ctx := ctxFor(t)
	work := filepath.Join(env.workDir, "getting-started")
	fsRoot := filepath.Join(work, "root") // stands in for /
	download, admin := filepath.Join(work, "download"), filepath.Join(work, "admin")
	for _, dir := range []string{fsRoot, download, admin, filepath.Join(fsRoot, "var", "lib", "vault", "raft")} {
		if err := os.MkdirAll(dir, 0o700); err != nil {
			t.Fatal(err)
		}
	}
	port, err := freePortPair()
	if err != nil {
		t.Fatal(err)
	}
	api := fmt.Sprintf("127.0.0.1:%d", port)
	etcVault := filepath.Join(fsRoot, "etc", "vault") + "/"
	// The page's commands run as root. Where the suite does not, the test's
	// own user and group stand in for root's in the ownership it sets.
	owner := map[string]string{}
	if os.Getuid() != 0 {
		owner["-o root -g root"] = fmt.Sprintf("-o %d -g %d", os.Getuid(), os.Getgid())
		owner["chown root:root"] = fmt.Sprintf("chown %d:%d", os.Getuid(), os.Getgid())
	}
	sim, err := startSimulator("getting-started", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer sim.Close()

	// 1. The plugin directory and the server's config.
	sh := docShell{dir: admin}
	sh.run(t, ctx, "gs-plugin-dir", docBlock(t, gettingStarted, "run", "gs-plugin-dir", merge(owner, map[string]string{"/etc/vault/": etcVault})))
	if info, err := os.Stat(filepath.Join(etcVault, "plugins")); err != nil || info.Mode().Perm() != 0o755 {
		t.Fatalf("the plugin directory after gs-plugin-dir: %v %v, want mode 0755", info, err)
	}
	config := docBlock(t, gettingStarted, "run", "gs-server-config", map[string]string{
		"/etc/vault/":                    etcVault,
		"/var/lib/vault/":                filepath.Join(fsRoot, "var", "lib", "vault") + "/",
		"https://vault.example.com:8200": "https://" + api,
		"https://vault.example.com:8201": fmt.Sprintf("https://127.0.0.1:%d", port+1),
		"0.0.0.0:8200":                   api,
	})
	caCert := writeTestCA(t, filepath.Join(etcVault, "tls"))
	configFile := filepath.Join(etcVault, "vault.hcl")
	if err := os.WriteFile(configFile, []byte(config), 0o600); err != nil {
		t.Fatal(err)
	}
	v, rootTok := startConfiguredServer(ctx, t, work, configFile, "https://"+api, caCert)
	sh = docShell{addr: "https://" + api, token: rootTok, caCert: caCert, dir: admin}
	if out := sh.run(t, ctx, "gs-cli", docBlock(t, gettingStarted, "run", "gs-cli", map[string]string{
		"/etc/vault/":                    etcVault,
		"https://vault.example.com:8200": "https://" + api,
	})); !strings.Contains(out, "Sealed") {
		t.Errorf("vault status printed no seal status:\n%s", out)
	}

	// 2. A release zip of the build under test, installed as the page says.
	platform := runtime.GOOS + "_" + runtime.GOARCH
	built := filepath.Join(env.pluginDir, pluginName)
	releaseZip(t, built, filepath.Join(download, fmt.Sprintf("%s_%s_%s.zip", pluginName, env.pluginVersion, platform)))
	sh.dir = download
	sh.run(t, ctx, "gs-install", docBlock(t, gettingStarted, "run", "gs-install", merge(owner, map[string]string{
		"VERSION=v0.1.0 PLATFORM=linux_amd64": "VERSION=" + env.pluginVersion + " PLATFORM=" + platform,
		"/etc/vault/":                         etcVault,
	})))
	installed := filepath.Join(etcVault, "plugins", pluginName)
	if sha256Of(t, installed) != sha256Of(t, built) {
		t.Fatalf("%s is not the binary in the release zip", installed)
	}

	// 3. Registered and enabled.
	sh.dir = admin
	out := sh.run(t, ctx, "gs-register", docBlock(t, gettingStarted, "run", "gs-register", map[string]string{
		"VERSION=v0.1.0": "VERSION=" + env.pluginVersion,
		"/etc/vault/":    etcVault,
	}))
	if !strings.HasSuffix(strings.TrimSpace(out), env.pluginVersion) {
		t.Errorf("gs-register printed no running_plugin_version %s last:\n%s", env.pluginVersion, out)
	}
	checkRunningPlugin(t, ctx, v.root, "partner", env.pluginVersion, sha256Of(t, built))

	// 4 and 5. The allowlist, then a config with the secret from stdin,
	// verified by a mint.
	sh.run(t, ctx, "gs-settings", docBlock(t, gettingStarted, "run", "gs-settings", map[string]string{
		"allowed_token_url_hosts=auth.partner.example": "allowed_token_url_hosts=127.0.0.1",
	}))
	client := sim.client("oauth2")
	configSh := sh
	configSh.stdin = client.Secret + "\n"
	out = configSh.run(t, ctx, "gs-config", docBlock(t, gettingStarted, "run", "gs-config", map[string]string{
		"https://auth.partner.example/oauth2/token": sim.tokenURL("oauth2"),
		"client_id=billing-client":                  "client_id=" + client.ID,
	}))
	if !strings.Contains(out, "verified") || !regexp.MustCompile(`client_secret_set\s+true`).MatchString(out) || strings.Contains(out, client.Secret) {
		t.Errorf("gs-config: want a verified write and client_secret_set true, never the secret:\n%s", out)
	}
	if n := sim.mints(t, "oauth2"); n != 1 {
		t.Errorf("verify=true minted %d tokens, want 1", n)
	}

	// 6. The team's policy and the app's AppRole, whose files go to the
	// Agent's and the Proxy's hosts with Vault's CA certificate.
	sh.run(t, ctx, "gs-policy", docBlock(t, gettingStarted, "run", "gs-policy", nil))
	sh.run(t, ctx, "gs-approle", docBlock(t, gettingStarted, "run", "gs-approle", nil))
	agentDir, proxyDir := filepath.Join(fsRoot, "etc", "vault-agent"), filepath.Join(fsRoot, "etc", "vault-proxy")
	for _, dir := range []string{agentDir, proxyDir} {
		copyFiles(t, dir, map[string]string{
			"role-id":      filepath.Join(admin, "role-id"),
			"secret-id":    filepath.Join(admin, "secret-id"),
			"vault-ca.crt": caCert,
		})
	}

	// 7. Vault Agent renders the token into the app's file.
	runDir := filepath.Join(fsRoot, "run", "billing-app")
	if err := os.MkdirAll(runDir, 0o700); err != nil {
		t.Fatal(err)
	}
	agentConfig := filepath.Join(agentDir, "agent.hcl")
	writeFile(t, agentConfig, docBlock(t, gettingStarted, "run", "gs-agent-config", map[string]string{
		"https://vault.example.com:8200": "https://" + api,
		"/etc/vault-agent/":              agentDir + "/",
		"/run/billing-app/":              runDir + "/",
	}))
	agent := runClientProcess(t, "Agent", agentDir, agentConfig)
	defer agent.stop(t, sim)
	rendered := filepath.Join(runDir, "partner-token")
	if err := poll(ctx, 60*time.Second, func() error {
		if err := agent.ifExited(); err != nil {
			return err
		}
		data, err := os.ReadFile(rendered)
		if err != nil || len(data) == 0 {
			return fmt.Errorf("nothing rendered into %s yet (%v)", rendered, err)
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if info, err := os.Stat(rendered); err != nil || info.Mode().Perm() != 0o600 {
		t.Errorf("the rendered file: %v %v, want mode 0600", info, err)
	}
	if data, _ := os.ReadFile(rendered); !sim.active(t, "oauth2", strings.TrimSpace(string(data))) {
		t.Errorf("the Agent's file holds a token the partner does not accept: %.20q", data)
	}

	// 8. Vault Proxy serves it to an app without a Vault token, from its
	// cache: the second read is the same lease.
	proxyPort, err := freePortPair()
	if err != nil {
		t.Fatal(err)
	}
	proxyAddr := fmt.Sprintf("127.0.0.1:%d", proxyPort)
	proxyConfig := filepath.Join(proxyDir, "proxy.hcl")
	writeFile(t, proxyConfig, docBlock(t, gettingStarted, "run", "gs-proxy-config", map[string]string{
		"https://vault.example.com:8200": "https://" + api,
		"/etc/vault-proxy/":              proxyDir + "/",
		"127.0.0.1:8100":                 proxyAddr,
	}))
	proxy := runClientProcess(t, "Proxy", proxyDir, proxyConfig)
	defer proxy.stop(t, sim)
	read := docBlock(t, gettingStarted, "run", "gs-proxy-read", map[string]string{"127.0.0.1:8100": proxyAddr})
	proxy.checkCachedReads(ctx, t, docShell{dir: admin}, "gs-proxy-read", read, sim, "oauth2")
	if leaks := findSecrets([]string{v.LogPath}, sim.secrets()); len(leaks) > 0 {
		t.Errorf("client secrets in the server's log:\n  %s", strings.Join(leaks, "\n  "))
	}
}

// startConfiguredServer starts a server of the kind under test with the
// config file given, initialises it with one unseal key share, unseals it
// and waits until it is active. It returns a server whose root client
// speaks TLS to addr trusting caCert, and the root token.
func startConfiguredServer(ctx context.Context, t *testing.T, dir, config, addr, caCert string) (*vaultServer, string) {
	t.Helper()
	pool := x509.NewCertPool()
	pem, err := os.ReadFile(caCert)
	if err != nil || !pool.AppendCertsFromPEM(pem) {
		t.Fatalf("reading the CA certificate %s: %v", caCert, err)
	}
	logFile, err := os.Create(filepath.Join(dir, env.server.name+".log"))
	if err != nil {
		t.Fatal(err)
	}
	defer logFile.Close()
	cmd := serverCommand(dir, nil, "server", "-config="+config, "-log-level=debug")
	cmd.Stdout, cmd.Stderr = logFile, logFile
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	v := &vaultServer{Addr: addr, LogPath: logFile.Name(), Dir: dir, cmd: cmd, done: make(chan struct{})}
	go func() {
		v.err = cmd.Wait()
		close(v.done)
	}()
	t.Cleanup(v.Stop)
	httpClient := &http.Client{Timeout: 60 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	anonymous := &vaultClient{addr: addr, http: httpClient}
	health := func() int {
		resp, err := anonymous.request(ctx, http.MethodGet, "sys/health", nil)
		if err != nil {
			return 0
		}
		return resp.Status
	}
	waitFor := func(what string, ok func(status int) bool) {
		t.Helper()
		if err := poll(ctx, 90*time.Second, func() error {
			select {
			case <-v.done:
				return stopPolling(fmt.Errorf("%s exited (%v); its log:\n%s", env.server.product, v.err, tail(v.LogPath, 40)))
			default:
			}
			if s := health(); !ok(s) {
				return fmt.Errorf("sys/health answers %d; the log:\n%s", s, tail(v.LogPath, 20))
			}
			return nil
		}); err != nil {
			t.Fatalf("waiting until %s %s: %v", env.server.product, what, err)
		}
	}
	waitFor("answers", func(s int) bool { return s != 0 })
	var init struct {
		KeysB64   []string `json:"keys_base64"`
		RootToken string   `json:"root_token"`
	}
	if err := rawCall(ctx, anonymous, http.MethodPut, "sys/init", map[string]any{"secret_shares": 1, "secret_threshold": 1}, &init); err != nil || len(init.KeysB64) != 1 {
		t.Fatalf("initialising: %v (%d keys)", err, len(init.KeysB64))
	}
	if err := rawCall(ctx, anonymous, http.MethodPut, "sys/unseal", map[string]any{"key": init.KeysB64[0]}, nil); err != nil {
		t.Fatalf("unsealing: %v", err)
	}
	waitFor("is active", func(s int) bool { return s == http.StatusOK })
	v.root = &vaultClient{addr: addr, token: init.RootToken, http: httpClient}
	return v, init.RootToken
}

// writeTestCA writes a self-signed certificate for 127.0.0.1, which is its
// own CA, into dir as vault.crt (with vault.key) and ca.crt, and returns the
// path of ca.crt.
func writeTestCA(t *testing.T, dir string) string {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "partnertoken e2e"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(24 * time.Hour),
		IPAddresses:           []net.IP{net.IPv4(127, 0, 0, 1)},
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	cert := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	writeFile(t, filepath.Join(dir, "vault.crt"), string(cert))
	writeFile(t, filepath.Join(dir, "ca.crt"), string(cert))
	writeFile(t, filepath.Join(dir, "vault.key"), string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER})))
	return filepath.Join(dir, "ca.crt")
}

// copyFiles copies each source file into dir under its new name.
func copyFiles(t *testing.T, dir string, files map[string]string) {
	t.Helper()
	for name, src := range files {
		data, err := os.ReadFile(src)
		if err != nil {
			t.Fatal(err)
		}
		writeFile(t, filepath.Join(dir, name), string(data))
	}
}

// merge is the union of maps; a later one wins.
func merge(maps ...map[string]string) map[string]string {
	out := map[string]string{}
	for _, m := range maps {
		for k, v := range m {
			out[k] = v
		}
	}
	return out
}
