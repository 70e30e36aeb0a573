package e2e

import (
	"os/exec"
	"syscall"
)

// setDeathSignal stops a child when the test binary dies without cleaning
// up (a panic, `go test -timeout`), so no Vault is left running.
func setDeathSignal(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGTERM}
}
