//go:build linux || darwin || freebsd || netbsd || openbsd || dragonfly

package testenv

import (
	"context"
	"errors"
	"fmt"
	"os"
	"syscall"
	"time"
)

// LockFile takes an exclusive flock on path, calling onWait once if
// another process holds it, and polls until it is free or ctx ends. The
// kernel drops the lock if the holder dies, so a killed build never wedges
// the next one. unlock releases it.
func LockFile(ctx context.Context, path string, onWait func()) (unlock func(), err error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, err
	}
	unlock = func() { _ = f.Close() } // closing releases the flock
	waited := false
	err = Poll(ctx, 500*time.Millisecond, func() error {
		err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
		switch {
		case errors.Is(err, syscall.EWOULDBLOCK):
			if !waited {
				waited = true
				onWait()
			}
			return fmt.Errorf("%s is held by another process", path)
		case err != nil:
			return Stop(fmt.Errorf("flock %s: %w", path, err))
		}
		return nil
	})
	if err != nil {
		unlock()
		return nil, err
	}
	return unlock, nil
}
