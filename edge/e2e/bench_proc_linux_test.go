package e2e_test

import (
	"os/exec"
	"syscall"
)

// setDeathSignal kills the helper if the benchmark process dies first.
func setDeathSignal(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
