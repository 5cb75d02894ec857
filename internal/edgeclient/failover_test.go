package edgeclient

import (
	"errors"
	"testing"

	"github.com/quic-go/quic-go"

	"github.com/airlockhq/airlock/internal/wire"
)

// TestFailoverKind: what a failed open means for its address. A refusal
// for who the client is stays, also when the edge said it by closing the
// whole connection; a lost, unreachable or leaving edge is left.
func TestFailoverKind(t *testing.T) {
	closed := func(code wire.Code) error {
		return &ConnError{Err: &quic.ApplicationError{ErrorCode: quic.ApplicationErrorCode(code), Remote: true}}
	}
	for _, tc := range []struct {
		name string
		err  error
		want failoverKind
	}{
		{"dial failed", &DialError{Addr: "192.0.2.1:7844", Err: errors.New("timeout")}, moveOn},
		{"connection lost", &ConnError{Err: errors.New("idle timeout")}, moveOn},
		{"connection closed going away", closed(wire.CodeGoingAway), moveOn},
		{"quiet", ErrQuiet, moveOn},
		{"stream refused going away", wire.Errorf(wire.CodeGoingAway, "shutting down"), moveOn},
		{"no connector", wire.Errorf(wire.CodeNoConnector, "none"), noConnector},
		{"stream refused unauthenticated", wire.Errorf(wire.CodeUnauthenticated, "bad token"), stay},
		{"stream refused forbidden", wire.Errorf(wire.CodeForbidden, "policy"), stay},
		{"connection closed unauthenticated", closed(wire.CodeUnauthenticated), stay},
		{"connection closed forbidden", closed(wire.CodeForbidden), stay},
		{"unknown app", wire.Errorf(wire.CodeUnknownApp, "no app"), stay},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := failover(tc.err); got != tc.want {
				t.Fatalf("failover(%v) = %d, want %d", tc.err, got, tc.want)
			}
		})
	}
}
