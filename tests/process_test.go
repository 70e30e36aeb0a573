package e2e

import (
	"os"
	"syscall"
	"time"
)

// terminate stops a child process gracefully (SIGTERM), so that a Vault
// server stops its plugin processes on the way out, and kills it if it has
// not exited within grace. done is closed once the process has exited.
func terminate(p *os.Process, done <-chan struct{}, grace time.Duration) {
	_ = p.Signal(syscall.SIGTERM)
	select {
	case <-done:
	case <-time.After(grace):
		_ = p.Kill()
		<-done
	}
}
