// Package safesocket places, opens and checks the daemon's per-user control
// socket: $XDG_RUNTIME_DIR/airlock/airlock.sock (or /tmp/airlock-UID when
// XDG_RUNTIME_DIR is unset) in a 0700 folder the user owns, the socket
// itself 0600, one daemon at a time (a lock file, then a probe of the socket
// before a stale one is removed), and the peer's uid for every connection.
package safesocket

import (
	"context"
	"fmt"
	"net"
	"path/filepath"
	"strconv"
	"time"
)

// SocketName is the socket's file name inside Dir.
const SocketName = "airlock.sock"

// Dir returns the folder of the control socket for the current user.
// getenv is os.Getenv in production.
func Dir(getenv func(string) string) string {
	if d := getenv("XDG_RUNTIME_DIR"); d != "" && filepath.IsAbs(d) {
		return filepath.Join(d, "airlock")
	}
	return filepath.Join("/tmp", "airlock-"+strconv.Itoa(uid()))
}

// Path returns the control socket's path for the current user.
func Path(getenv func(string) string) string { return filepath.Join(Dir(getenv), SocketName) }

// AlreadyRunningError says another daemon holds the socket.
type AlreadyRunningError struct {
	Path string
	PID  int // 0 when unknown
}

func (e *AlreadyRunningError) Error() string {
	who := "another airlock daemon"
	if e.PID > 0 {
		who += fmt.Sprintf(" (pid %d)", e.PID)
	}
	return who + " is already running on " + e.Path + "; use `airlock status`, or stop it first"
}

// Dial connects to the control socket at path.
func Dial(ctx context.Context, path string) (net.Conn, error) {
	var d net.Dialer
	return d.DialContext(ctx, "unix", path)
}

// probe reports whether something answers on the socket at path.
func probe(path string) bool {
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	c, err := Dial(ctx, path)
	if err != nil {
		return false
	}
	c.Close()
	return true
}
