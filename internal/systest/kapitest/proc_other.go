//go:build !linux && !windows

package kapitest

import "syscall"

func sysProcAttr() *syscall.SysProcAttr { return nil }
