//go:build !linux

package pgtest

import (
	"errors"
	"os"
	"syscall"
)

type account struct{}

func lookupAccount() (*account, error) {
	return nil, errors.New("pgtest runs PostgreSQL on linux only")
}

func (a *account) own(string) error { return nil }

func (a *account) sysProcAttr() *syscall.SysProcAttr { return nil }

func interrupt(p *os.Process) error { return p.Kill() }
