//go:build unix

package cli

import (
	"os/exec"
	"syscall"
)

// detach puts the daemon in a session of its own: it outlives the
// terminal that ran `airlock join`.
func detach(cmd *exec.Cmd) { cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true} }
