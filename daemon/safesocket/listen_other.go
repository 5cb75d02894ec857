//go:build !unix

package safesocket

import (
	"errors"
	"net"
)

func uid() int { return 0 }

// Listener is the control socket's listener.
type Listener struct{ net.Listener }

// Path returns the socket's path.
func (l *Listener) Path() string { return "" }

// Listen is not implemented on this platform yet (Windows will use a named
// pipe).
func Listen(string) (*Listener, error) {
	return nil, errors.New("the control socket is not supported on this platform yet")
}
