//go:build linux || darwin || freebsd || netbsd || openbsd || dragonfly

package kapitest

import (
	"context"
	"errors"
	"fmt"
	"os"
	"syscall"
	"time"
)

// lockFile takes an exclusive flock on path, calling onWait once if another
// process holds it, and polls until it is free or ctx ends. The kernel drops
// the lock if the holder dies, so a killed build never wedges the next one.
func lockFile(ctx context.Context, path string, onWait func()) (unlock func(), err error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, err
	}
	unlock = func() { _ = f.Close() } // closing releases the flock
	try := func() (bool, error) {
		err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return false, nil
		}
		return err == nil, err
	}
	ok, err := try()
	if ok {
		return unlock, nil
	}
	if err != nil {
		unlock()
		return nil, fmt.Errorf("flock %s: %w", path, err)
	}
	onWait()
	tick := time.NewTicker(500 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			unlock()
			return nil, context.Cause(ctx)
		case <-tick.C:
			ok, err := try()
			if ok {
				return unlock, nil
			}
			if err != nil {
				unlock()
				return nil, fmt.Errorf("flock %s: %w", path, err)
			}
		}
	}
}
