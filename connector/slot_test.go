package connector_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"syscall"
	"testing"

	"github.com/airlockhq/airlock/connector"
	"github.com/airlockhq/airlock/internal/wire"
	"github.com/quic-go/quic-go"
)

// TestEdgeSilent: which failures redial at the silent pace (nothing
// answered, or nothing listens) and which back off (the edge answered).
func TestEdgeSilent(t *testing.T) {
	refused := &net.OpError{Op: "dial", Net: "tcp", Err: os.NewSyscallError("connect", syscall.ECONNREFUSED)}
	for _, tc := range []struct {
		name   string
		err    error
		silent bool
	}{
		{"handshake timeout", &quic.HandshakeTimeoutError{}, true},
		{"idle timeout", fmt.Errorf("serve: %w", &quic.IdleTimeoutError{}), true},
		{"dial deadline", fmt.Errorf("dial: %w", context.DeadlineExceeded), true},
		{"TCP refused, after QUIC got no answer", errors.Join(&quic.HandshakeTimeoutError{}, fmt.Errorf("tcp: %w", refused)), true},
		{"TCP refused alone (a network on TCP)", fmt.Errorf("edge: dial over tcp: %w", refused), true},
		{"refused by the edge: unknown tunnel", wire.Errorf(wire.CodeUnauthenticated, "unknown tunnel"), false},
		{"tunnel full", wire.Errorf(wire.CodeTunnelFull, "8 connections"), false},
		{"overloaded", wire.Errorf(wire.CodeOverloaded, "too many connections"), false},
		{"TLS failure", errors.New("tls: bad certificate"), false},
		{"connection reset", fmt.Errorf("read: %w", syscall.ECONNRESET), false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := connector.EdgeSilent(tc.err); got != tc.silent {
				t.Fatalf("EdgeSilent(%v) = %v, want %v", tc.err, got, tc.silent)
			}
		})
	}
}
