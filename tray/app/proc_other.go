//go:build !unix

package app

import (
	"os"
	"syscall"
)

func childAttr() *syscall.SysProcAttr { return nil }

// terminate stops p; Windows has no SIGTERM to send a console-less child.
func terminate(p *os.Process) error { return p.Kill() }
