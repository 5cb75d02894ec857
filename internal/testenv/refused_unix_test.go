//go:build linux || darwin || freebsd || netbsd || openbsd || dragonfly

package testenv_test

import (
	"errors"
	"net"
	"syscall"
	"testing"

	"github.com/airlockhq/airlock/internal/testenv"
)

// TestRefusedAddr: a connection to it is refused, and the port cannot be
// bound by anyone else while the test runs.
func TestRefusedAddr(t *testing.T) {
	addr := testenv.RefusedAddr(t)
	if c, err := net.Dial("tcp", addr); !errors.Is(err, syscall.ECONNREFUSED) {
		if c != nil {
			c.Close()
		}
		t.Fatalf("dial %s: %v, want connection refused", addr, err)
	}
	if ln, err := net.Listen("tcp", addr); err == nil {
		ln.Close()
		t.Fatalf("another socket could listen on %s", addr)
	}
}
