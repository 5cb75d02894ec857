//go:build unix && !linux

package kubeconfig

import (
	"errors"
	"syscall"
)

func procStart(int) string { return "" }

func processAlive(pid int, _ string) bool {
	return !errors.Is(syscall.Kill(pid, 0), syscall.ESRCH)
}

// fileInUse cannot be answered portably; the age rule alone applies.
func fileInUse(string) bool { return false }
