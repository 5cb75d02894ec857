package transport_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"testing"
	"time"

	"github.com/airlockhq/airlock/internal/relay"
	"github.com/airlockhq/airlock/internal/transport"
	"github.com/airlockhq/airlock/internal/wire"
)

// TestTCPCutIsNotAnEnd: a connection that dies under a stream (the peer's
// socket closed, no CLOSE frame) reaches the other end's reads as an
// error, never as io.EOF.
func TestTCPCutIsNotAnEnd(t *testing.T) {
	c, s := pair(t, transport.NameTCP, transport.TCPOptions{})
	a, b := streams(t, c, s)
	a.Write([]byte("some of the body"))
	got := make([]byte, 4)
	io.ReadFull(b, got)
	transport.KillTCP(c)
	rest, err := io.ReadAll(b)
	if err == nil {
		t.Fatalf("a cut stream read as a clean end after %d more bytes", len(rest))
	}
	if relay.CodeOf(err) == wire.CodeOK {
		t.Fatalf("err %v carries code ok", err)
	}
}

// TestTCPStreamLimit: opens beyond the peer's stream limit wait for a
// stream to finish, as QUIC's do.
func TestTCPStreamLimit(t *testing.T) {
	c, s := pair(t, transport.NameTCP, transport.TCPOptions{MaxIncomingStreams: 2})
	ctx := context.Background()
	// The limit arrives with the server's first bytes: the control stream
	// (one is always allowed) waits for nothing.
	a1, b1 := streams(t, c, s)
	_, _ = streams(t, c, s)
	short, cancel := context.WithTimeout(ctx, 100*time.Millisecond)
	defer cancel()
	if _, err := c.OpenStream(short); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("a third open: %v, want it to wait", err)
	}
	a1.Close()
	io.ReadAll(b1)
	b1.Close()
	io.ReadAll(a1)
	wait, cancel2 := context.WithTimeout(ctx, 10*time.Second)
	defer cancel2()
	if _, err := c.OpenStream(wait); err != nil {
		t.Fatalf("open after a stream finished: %v", err)
	}
}

// TestTCPReadBudget: a peer that sends more than its budget before it
// is unlimited is cut off; once unlimited, it may send any amount.
func TestTCPReadBudget(t *testing.T) {
	const budget = 64 << 10
	for _, tc := range []struct {
		name    string
		unlimit bool
	}{{"over the budget", false}, {"unlimited", true}} {
		t.Run(tc.name, func(t *testing.T) {
			c, s := pair(t, transport.NameTCP, transport.TCPOptions{ReadBudget: budget})
			a, b := streams(t, c, s)
			if tc.unlimit {
				transport.Unlimit(s)
			}
			go a.Write(make([]byte, 1<<20))
			n, err := readFor(b, 10*time.Second)
			if tc.unlimit {
				if n != 1<<20 {
					t.Fatalf("read %d of %d bytes: %v", n, 1<<20, err)
				}
				return
			}
			if n > budget || err == nil {
				t.Fatalf("read %d bytes (budget %d), err %v", n, budget, err)
			}
			<-s.Context().Done()
			if cause := context.Cause(s.Context()); !errors.Is(cause, transport.ErrBudget) {
				t.Fatalf("closed by %v, want the budget", cause)
			}
		})
	}
}

// readFor reads from s until the deadline or 1 MiB and returns the bytes.
func readFor(s transport.Stream, d time.Duration) (int, error) {
	s.SetReadDeadline(time.Now().Add(d))
	defer s.SetReadDeadline(time.Time{})
	var buf bytes.Buffer
	_, err := io.Copy(&buf, io.LimitReader(s, 1<<20))
	return buf.Len(), err
}
