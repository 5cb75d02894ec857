//go:build !unix

package safesocket

import (
	"errors"
	"fmt"
	"net"
	"os"
)

func uid() int { return 0 }

// EnsureDir makes dir (mode 0700 where the platform has modes). The
// folder's owner is not checked on this platform.
func EnsureDir(dir string) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("create runtime folder: %w", err)
	}
	return nil
}

// Listener is the control socket's listener.
type Listener struct{ net.Listener }

// Path returns the socket's path.
func (l *Listener) Path() string { return "" }

// Listen is not implemented on this platform yet (Windows will use a named
// pipe).
func Listen(string) (*Listener, error) {
	return nil, errors.New("the control socket is not supported on this platform yet")
}
