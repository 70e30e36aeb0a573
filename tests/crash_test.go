package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"syscall"
	"testing"
	"time"
)

// TestPluginCrashUnderLoad kills the plugin process (SIGKILL) while
// readers keep reading a cached token: Vault starts the plugin again on the
// next request, the new process finds the token in storage, and the readers
// lose a handful of reads at most, all within a few seconds of the kill; the
// partner mints nothing. A server of its own: the plugin is multiplexed,
// one process for every mount of the server, and the kill would hit every
// other test's mount of the shared one.
func TestPluginCrashUnderLoad(t *testing.T) {
	ctx := ctxFor(t)
	const name, p = "crash", "oauth2"
	const readerCount = 4
	sim, err := startSimulator("crash", nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(sim.Close)
	// Its log is kept with the run's, for whoever investigates a failure.
	dir := filepath.Join(env.workDir, "crash")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	v, err := startVault(ctx, dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(v.Stop)
	if err := v.registerPlugin(ctx, mount); err != nil {
		t.Fatal(err)
	}
	if err := configure(ctx, v.root, mount, name, p, sim, nil); err != nil {
		t.Fatal(err)
	}
	before, err := readToken(ctx, v.root, mount, name)
	if err != nil {
		t.Fatal(err)
	}
	minted := sim.mints(t, p)
	plugins := pluginPids(v)
	if len(plugins) == 0 {
		t.Skip("cannot find the plugin process (it is found through /proc, on Linux)")
	}
	if len(plugins) != 1 {
		t.Fatalf("the server runs %d plugin processes %v, want 1: the plugin is multiplexed", len(plugins), plugins)
	}

	r := startAppReaders(ctx, v.root, mount, name, readerCount, 50*time.Millisecond)
	time.Sleep(2 * time.Second)
	killedAt := time.Now()
	if err := syscall.Kill(plugins[0], syscall.SIGKILL); err != nil {
		r.stop()
		t.Fatalf("killing the plugin process %d: %v", plugins[0], err)
	}
	// Served again, then a while longer to see that it lasts.
	if err := poll(ctx, 30*time.Second, func() error {
		if _, ok := r.firstServedAfter(killedAt); !ok {
			return fmt.Errorf("no read served since the kill")
		}
		return nil
	}); err != nil {
		r.stop()
		t.Fatalf("%v; the server's log:\n%s", err, tail(v.LogPath, 30))
	}
	served, _ := r.firstServedAfter(killedAt)
	time.Sleep(3 * time.Second)
	samples := r.stop()

	var failed []readSample
	for _, s := range samples {
		switch {
		case s.status != 200:
			failed = append(failed, s)
		case s.token != before.AccessToken:
			t.Errorf("a read at %s got another token than the one cached before the kill", s.end.Format(time.TimeOnly))
		}
	}
	t.Logf("%d reads, %d failed; served again %s after the kill; first failure: %v", len(samples), len(failed),
		served.end.Sub(killedAt).Round(10*time.Millisecond), firstErr(failed))
	if len(failed) > 3*readerCount {
		t.Errorf("%d reads failed, want a handful at most (%d readers): the first %v", len(failed), readerCount, firstErr(failed))
	}
	for _, s := range failed {
		if s.start.After(killedAt.Add(10 * time.Second)) {
			t.Errorf("a read that started %s after the kill failed: %v", s.start.Sub(killedAt).Round(time.Millisecond), s.err)
		}
	}
	if n := sim.mints(t, p) - minted; n != 0 {
		t.Errorf("the partner minted %d tokens across the crash, want none: the token is in storage", n)
	}
	if after := pluginPids(v); len(after) != 1 || slices.Contains(after, plugins[0]) {
		t.Errorf("plugin processes after the crash: %v, want one new one (the killed one was %d)", after, plugins[0])
	}
}

// pluginPids lists the plugin processes of the build under test that
// server v runs.
func pluginPids(v *vaultServer) []int {
	return slices.DeleteFunc(childPids(v.cmd.Process.Pid), func(pid int) bool { return !isPlugin(pid) })
}

// firstErr is the error of the first sample, or nil.
func firstErr(samples []readSample) error {
	if len(samples) == 0 {
		return nil
	}
	return samples[0].err
}
