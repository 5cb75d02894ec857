//go:build unix

package app

import (
	"os"
	"syscall"
)

// childAttr puts the daemon in its own process group, so a Ctrl-C in the
// tray's terminal reaches the tray only, and the tray stops the daemon in
// order.
func childAttr() *syscall.SysProcAttr { return &syscall.SysProcAttr{Setpgid: true} }

// terminate asks p to stop cleanly.
func terminate(p *os.Process) error { return p.Signal(syscall.SIGTERM) }
