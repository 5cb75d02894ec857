package kapitest

import (
	"os"
	"syscall"
)

func terminate(p *os.Process) error { return p.Kill() }

func sysProcAttr() *syscall.SysProcAttr { return nil }
