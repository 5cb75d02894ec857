package kapitest

import "syscall"

// sysProcAttr kills the server when the process that started it dies, so a
// test binary killed by a timeout leaves no kube-apiserver behind.
func sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
