package edgeclient

import (
	"errors"
	"testing"
	"time"

	"github.com/quic-go/quic-go"

	"github.com/airlockhq/airlock/internal/transport"

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

// TestOpenQuietAfter: a second on a fast path; on a slow one, long enough
// for the Open's packet to be lost once and its answer still to come.
func TestOpenQuietAfter(t *testing.T) {
	for _, tc := range []struct {
		name        string
		srtt, dev   time.Duration
		atLeast     time.Duration
		exactlyBase bool
	}{
		{"loopback", 100 * time.Microsecond, 50 * time.Microsecond, OpenQuietAfter, true},
		{"no sample yet", 0, 0, OpenQuietAfter, true},
		{"50 ms path", 50 * time.Millisecond, 10 * time.Millisecond, OpenQuietAfter, true},
		{"500 ms satellite path", 500 * time.Millisecond, 50 * time.Millisecond, 2*(500+200+25)*time.Millisecond + 500*time.Millisecond, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := openQuietAfter(transport.Stats{SmoothedRTT: tc.srtt, MeanDeviation: tc.dev})
			if got < tc.atLeast || (tc.exactlyBase && got != OpenQuietAfter) {
				t.Fatalf("openQuietAfter(srtt %v, dev %v) = %v, want %v%s", tc.srtt, tc.dev, got, tc.atLeast, map[bool]string{true: " exactly", false: " or more"}[tc.exactlyBase])
			}
		})
	}
}
