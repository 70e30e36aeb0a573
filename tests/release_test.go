package e2e

import (
	"archive/zip"
	"bufio"
	"context"
	"debug/elf"
	"debug/macho"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"
)

// releasePlatforms are the platforms `make release` builds, with the
// machine type each binary must be for.
var releasePlatforms = []struct {
	os, arch string
	elf      elf.Machine
	macho    macho.Cpu
}{
	{os: "linux", arch: "amd64", elf: elf.EM_X86_64},
	{os: "linux", arch: "arm64", elf: elf.EM_AARCH64},
	{os: "darwin", arch: "amd64", macho: macho.CpuAmd64},
	{os: "darwin", arch: "arm64", macho: macho.CpuArm64},
}

// TestRelease does what a maintainer and then a user do: `make release` on
// a clean clone whose HEAD carries a release tag, `sha256sum -c SHA256SUMS`,
// then the linux/amd64 zip unpacked into a real Vault's plugin directory,
// registered with the published sha256 and the tag as its version, mounted,
// and serving a token from the simulated partner.
func TestRelease(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the release for four platforms")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 25*time.Minute)
	defer cancel()
	const version = "v9.8.7"
	work := filepath.Join(env.workDir, "release")
	clone := filepath.Join(work, "clone")
	if err := os.MkdirAll(work, 0o700); err != nil {
		t.Fatal(err)
	}
	// The clone and the unpacked binaries take some 250 MB; a passing run's
	// logs are all that is worth keeping.
	t.Cleanup(func() {
		if t.Failed() {
			return
		}
		os.RemoveAll(clone)
		for _, p := range releasePlatforms {
			os.RemoveAll(filepath.Join(work, p.os+"_"+p.arch))
		}
	})

	// A clone has only what is committed; without the repository's own tags,
	// so the one set here is the only one on HEAD.
	runCommand(t, ctx, "..", "git", "clone", "--quiet", "--no-tags", ".", clone)
	runCommand(t, ctx, clone, "git", "tag", version)
	runCommand(t, ctx, clone, "make", "--no-print-directory", "release")

	// make build on the tag: a static binary, and the register command it
	// prints names the tag as version and the binary's sha256.
	if got := strings.TrimSpace(runCommand(t, ctx, clone, "make", "-s", "version")); got != version {
		t.Errorf("make -s version on the tag prints %q, want %s", got, version)
	}
	// docs/installing.md's build from source, which runs make build.
	fromSource := filepath.Join(work, "from-source")
	if err := os.MkdirAll(fromSource, 0o700); err != nil {
		t.Fatal(err)
	}
	built := docShell{dir: clone}.run(t, ctx, "installing-source", docBlock(t, "docs/installing.md", "run", "installing-source", map[string]string{
		"/etc/vault/plugins/": fromSource + "/",
	}))
	if sha256Of(t, filepath.Join(fromSource, pluginName)) != sha256Of(t, filepath.Join(clone, "bin", pluginName)) {
		t.Errorf("installing-source did not copy the binary make build built")
	}
	bin := filepath.Join(clone, "bin", pluginName)
	for _, p := range releasePlatforms {
		if p.os == runtime.GOOS && p.arch == runtime.GOARCH {
			checkBinaryPlatform(t, bin, p.elf, p.macho)
		}
	}
	if want := fmt.Sprintf("vault plugin register -sha256=%s -version=%s secret %s", sha256Of(t, bin), version, pluginName); !strings.Contains(built, want) {
		t.Errorf("make build prints no %q:\n%s", want, built)
	}

	dist := filepath.Join(clone, "dist")
	runCommand(t, ctx, dist, "sha256sum", "--check", "--strict", "SHA256SUMS")
	runCommand(t, ctx, dist, "sha256sum", "--check", "--strict", "BINARY_SHA256SUMS")
	sums := readSums(t, filepath.Join(dist, "SHA256SUMS"))
	binarySums := readSums(t, filepath.Join(dist, "BINARY_SHA256SUMS"))

	for _, p := range releasePlatforms {
		base := fmt.Sprintf("%s_%s_%s_%s", pluginName, version, p.os, p.arch)
		for _, file := range []string{base + ".zip", base + ".sbom.cdx.json"} {
			if sums[file] == "" {
				t.Errorf("SHA256SUMS lists no %s: %v", file, sums)
			}
		}
		binary := p.os + "_" + p.arch + "/" + pluginName
		if binarySums[binary] == "" {
			t.Errorf("BINARY_SHA256SUMS lists no %s: %v", binary, binarySums)
		}
		checkSBOM(t, filepath.Join(dist, base+".sbom.cdx.json"), version)
		unpacked := filepath.Join(work, p.os+"_"+p.arch)
		unzip(t, filepath.Join(dist, base+".zip"), unpacked)
		checkBinaryPlatform(t, filepath.Join(unpacked, pluginName), p.elf, p.macho)
		if _, err := os.Stat(filepath.Join(unpacked, "LICENSE")); err != nil {
			t.Errorf("%s.zip has no LICENSE: %v", base, err)
		}
	}
	if t.Failed() {
		t.FailNow()
	}

	// The linux/amd64 zip installed by docs/installing.md's commands into a real
	// Vault's plugin directory.
	pluginDir, vaultDir := filepath.Join(work, "plugins"), filepath.Join(work, "vault")
	for _, dir := range []string{pluginDir, vaultDir} {
		if err := os.MkdirAll(dir, 0o700); err != nil {
			t.Fatal(err)
		}
	}
	vault, err := startVaultWithPlugins(ctx, vaultDir, pluginDir)
	if err != nil {
		t.Fatal(err)
	}
	defer vault.Stop()
	runDocBlock(t, ctx, vault, "docs/installing.md", "installing-release", dist, map[string]string{
		"/etc/vault/plugins/": pluginDir + "/",
		"VERSION=v0.1.0":      "VERSION=" + version,
	})
	sum := binarySums["linux_amd64/"+pluginName]
	checkRunningPlugin(t, ctx, vault.root, "partner", version, sum)

	// A mount of it made as every test mounts the plugin, serving a token.
	const path = "released"
	if err := vault.mountPluginVersion(ctx, path, version); err != nil {
		t.Fatal(err)
	}
	checkRunningPlugin(t, ctx, vault.root, path, version, sum)
	if err := configure(ctx, vault.root, path, "dupr", "dupr", shared.sim, nil); err != nil {
		t.Fatal(err)
	}
	token, err := readToken(ctx, vault.root, path, "dupr")
	if err != nil {
		t.Fatalf("reading a token through the released plugin: %v\nVault's log:\n%s", err, tail(vault.LogPath, 30))
	}
	checkLease(t, shared.sim, "dupr", path, "dupr", token)
}

// runCommand runs a command in dir and fails the test, with its output, if it
// fails. Make's own variables of the `make test` that runs this test stay
// out: the command must behave as it does for a user.
func runCommand(t *testing.T, ctx context.Context, dir string, name string, args ...string) string {
	t.Helper()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Dir = dir
	cmd.Env = withoutMakeVars(os.Environ())
	start := time.Now()
	out, err := cmd.CombinedOutput()
	t.Logf("%s %s (%s)", name, strings.Join(args, " "), time.Since(start).Round(time.Second))
	if err != nil {
		t.Fatalf("%s %s in %s: %v\n%s", name, strings.Join(args, " "), dir, err, out)
	}
	return string(out)
}

// withoutMakeVars is environ without the variables of the `make test` that
// runs the suite, which a user's shell does not have: make's own, and the
// ones the Makefile reads.
func withoutMakeVars(environ []string) []string {
	var out []string
	for _, kv := range environ {
		switch strings.SplitN(kv, "=", 2)[0] {
		case "MAKEFLAGS", "MFLAGS", "MAKELEVEL", "MAKEOVERRIDES", "VERSION", "PLATFORMS":
			continue
		}
		out = append(out, kv)
	}
	return out
}

// readSums reads a sha256sum file: file name to hex digest.
func readSums(t *testing.T, path string) map[string]string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sums := map[string]string{}
	scanner := bufio.NewScanner(f)
	for scanner.Scan() {
		sum, file, ok := strings.Cut(scanner.Text(), "  ")
		if !ok || len(sum) != 64 {
			t.Fatalf("%s: %q is not a sha256sum line", path, scanner.Text())
		}
		sums[file] = sum
	}
	if err := scanner.Err(); err != nil {
		t.Fatal(err)
	}
	return sums
}

// checkSBOM checks that path is a CycloneDX SBOM of the plugin at version
// that lists the modules it is built from.
func checkSBOM(t *testing.T, path, version string) {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var bom struct {
		BOMFormat string `json:"bomFormat"`
		Metadata  struct {
			Component struct {
				Name    string `json:"name"`
				Version string `json:"version"`
			} `json:"component"`
		} `json:"metadata"`
		Components []struct {
			Name string `json:"name"`
		} `json:"components"`
	}
	if err := json.Unmarshal(data, &bom); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	component := bom.Metadata.Component
	if bom.BOMFormat != "CycloneDX" || component.Name != "github.com/partnertoken/vault-plugin-secrets-partnertoken" || component.Version != version {
		t.Errorf("%s: format %q, component %s %s; want a CycloneDX SBOM of the plugin %s", filepath.Base(path), bom.BOMFormat, component.Name, component.Version, version)
	}
	found := false
	for _, c := range bom.Components {
		found = found || c.Name == "github.com/hashicorp/vault/sdk"
	}
	if !found {
		t.Errorf("%s lists %d components, none github.com/hashicorp/vault/sdk", filepath.Base(path), len(bom.Components))
	}
}

// unzip unpacks a zip into dir.
func unzip(t *testing.T, archive, dir string) {
	t.Helper()
	r, err := zip.OpenReader(archive)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, f := range r.File {
		if f.Name != filepath.Base(f.Name) {
			t.Fatalf("%s: %s is not a plain file name", archive, f.Name)
		}
		in, err := f.Open()
		if err != nil {
			t.Fatal(err)
		}
		out, err := os.OpenFile(filepath.Join(dir, f.Name), os.O_CREATE|os.O_WRONLY|os.O_TRUNC, f.Mode().Perm())
		if err != nil {
			t.Fatal(err)
		}
		_, err = io.Copy(out, in)
		in.Close()
		if cerr := out.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			t.Fatal(err)
		}
	}
}

// checkBinaryPlatform checks a binary's format and machine, and that a
// Linux binary is static (no program interpreter, so no libc): it must
// start in musl-based Vault images too.
func checkBinaryPlatform(t *testing.T, path string, elfMachine elf.Machine, machoCPU macho.Cpu) {
	t.Helper()
	if info, err := os.Stat(path); err != nil || info.Mode()&0o111 == 0 {
		t.Errorf("%s is not an executable file (%v)", path, err)
	}
	if machoCPU != 0 {
		f, err := macho.Open(path)
		if err != nil {
			t.Errorf("%s: not a Mach-O binary: %v", path, err)
			return
		}
		defer f.Close()
		if f.Cpu != machoCPU {
			t.Errorf("%s: built for %v, want %v", path, f.Cpu, machoCPU)
		}
		return
	}
	f, err := elf.Open(path)
	if err != nil {
		t.Errorf("%s: not an ELF binary: %v", path, err)
		return
	}
	defer f.Close()
	if f.Machine != elfMachine {
		t.Errorf("%s: built for %v, want %v", path, f.Machine, elfMachine)
	}
	for _, prog := range f.Progs {
		if prog.Type == elf.PT_INTERP {
			t.Errorf("%s is dynamically linked (it has a program interpreter), want a static binary", path)
		}
	}
}

// checkRunningPlugin checks which plugin binary the mount at path runs.
func checkRunningPlugin(t *testing.T, ctx context.Context, c *vaultClient, path, version, sha256 string) {
	t.Helper()
	resp, err := c.read(ctx, "sys/mounts/"+path)
	if err != nil {
		t.Fatal(err)
	}
	if got := resp.Data["running_plugin_version"]; got != version {
		t.Errorf("%s/ runs plugin version %v, want %s", path, got, version)
	}
	if got := resp.Data["running_sha256"]; got != sha256 {
		t.Errorf("%s/ runs a binary with sha256 %v, want %s", path, got, sha256)
	}
}
