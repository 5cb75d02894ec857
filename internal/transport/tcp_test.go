package transport_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"sync"
	"testing"
	"time"

	"github.com/airlockhq/airlock/internal/relay"
	"github.com/airlockhq/airlock/internal/testenv"
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

// TestTCPHeldBound: yamux has no connection-wide window, so the stream
// limit is sized so that every stream a peer may have open, each with its
// initial window, and what the windows may grow by together stay within
// ConnectionWindow (QUIC's connection window).
func TestTCPHeldBound(t *testing.T) {
	for _, tc := range []struct {
		name string
		opts transport.TCPOptions
	}{
		{"defaults", transport.TCPOptions{}},
		{"the edge's authenticated", transport.TCPOptions{MaxIncomingStreams: 4096, StreamWindow: 16 << 20, ConnectionWindow: 64 << 20}},
		{"few streams, large windows", transport.TCPOptions{MaxIncomingStreams: 3, StreamWindow: 16 << 20, ConnectionWindow: 64 << 20}},
		{"a small connection window", transport.TCPOptions{MaxIncomingStreams: 4096, ConnectionWindow: 8 << 20}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cw := tc.opts.ConnectionWindow
			if cw == 0 {
				cw = transport.DefaultConnectionWindow
			}
			streams, window := transport.Limits(tc.opts)
			if b := transport.HeldBound(tc.opts); b > cw || streams < 1 || window < 256<<10 {
				t.Fatalf("%d streams × %d-byte windows hold up to %d bytes, over the %d of the connection", streams, window, b, cw)
			}
			t.Logf("%d streams, %d KiB windows", streams, window>>10)
		})
	}
}

// TestTCPPeerThatNeverReads: a peer opens every stream it may and writes
// into each until its writes block, and this side accepts them and reads
// none, or a little of each (so that every stream asks to grow its
// window): this side's socket has then given it no more than HeldBound
// beside what it read, within the connection window.
func TestTCPPeerThatNeverReads(t *testing.T) {
	for _, tc := range []struct {
		name     string
		readEach int64
	}{
		{"never reads", 0},
		{"reads 1 MiB of each", 1 << 20},
	} {
		t.Run(tc.name, func(t *testing.T) {
			opts := transport.TCPOptions{MaxIncomingStreams: 4096, StreamWindow: 16 << 20, ConnectionWindow: 16 << 20}
			c, s := pair(t, transport.NameTCP, opts)
			ctx := testenv.Context(t)
			go func() {
				for {
					st, err := s.AcceptStream(ctx)
					if err != nil {
						return
					}
					go io.CopyN(io.Discard, st, tc.readEach)
				}
			}()
			streams, _ := transport.Limits(opts)
			buf := make([]byte, 64<<10)
			var wg sync.WaitGroup
			for range streams {
				st, err := c.OpenStream(ctx)
				if err != nil {
					t.Fatal(err)
				}
				wg.Go(func() {
					for {
						// A write that cannot finish in a second is blocked
						// by the window: this stream has sent all it can.
						st.SetWriteDeadline(time.Now().Add(time.Second))
						if _, err := st.Write(buf); err != nil {
							return
						}
					}
				})
			}
			wg.Wait()
			short, cancel := context.WithTimeout(ctx, 100*time.Millisecond)
			defer cancel()
			if _, err := c.OpenStream(short); !errors.Is(err, context.DeadlineExceeded) {
				t.Fatalf("an open beyond the %d streams: %v, want it to wait", streams, err)
			}
			read := int64(streams) * tc.readEach
			got, bound := transport.ReceivedBytes(s)-read, transport.HeldBound(opts)
			if got > bound || bound > opts.ConnectionWindow {
				t.Fatalf("the peer made this side hold %d bytes; the bound is %d, the connection window %d", got, bound, opts.ConnectionWindow)
			}
			if got < int64(streams)*(128<<10) {
				t.Fatalf("only %d bytes are held from %d streams: the test did not fill them", got, streams)
			}
			t.Logf("%d streams made this side hold %d bytes beside the %d it read (bound %d)", streams, got, read, bound)
		})
	}
}

// BenchmarkTCPWindow compares bulk throughput over one stream on loopback
// with the windows before the connection-wide bound (16 MiB per stream,
// no bound on their sum) and with it (the edge's: 4096 streams asked for,
// 64 MiB in all, so 111 streams of 256 KiB that may grow by 32 MiB
// together).
func BenchmarkTCPWindow(b *testing.B) {
	for _, bc := range []struct {
		name string
		opts transport.TCPOptions
	}{
		{"16MiB per stream (before)", transport.TCPOptions{MaxIncomingStreams: 4096, StreamWindow: 16 << 20, ConnectionWindow: 1 << 40}},
		{"64MiB per connection", transport.TCPOptions{MaxIncomingStreams: 4096, StreamWindow: 16 << 20, ConnectionWindow: 64 << 20}},
	} {
		b.Run(bc.name, func(b *testing.B) {
			c, s := pair(b, transport.NameTCP, bc.opts)
			const size = 64 << 20
			b.SetBytes(size)
			buf := make([]byte, 64<<10)
			for b.Loop() {
				a, r := streams(b, c, s)
				go func() {
					for sent := 0; sent < size; sent += len(buf) {
						if _, err := a.Write(buf); err != nil {
							return
						}
					}
					a.Close()
				}()
				if n, err := io.Copy(io.Discard, r); err != nil || n != size {
					b.Fatalf("read %d of %d: %v", n, size, err)
				}
				r.Close()
			}
		})
	}
}

// TestTCPCloseCodeReachesOpenStreams: a stream the peer opened that this
// side never took (an edge refusing the connection over a limit) is reset
// with the connection's close code, so the peer reads overloaded whether
// the reset or the CLOSE frame reaches it first.
func TestTCPCloseCodeReachesOpenStreams(t *testing.T) {
	c, s := pair(t, transport.NameTCP, transport.TCPOptions{})
	st, err := c.OpenStream(testenv.Context(t))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := st.Write([]byte("hello")); err != nil {
		t.Fatal(err)
	}
	testenv.Eventually(t, "the server to hold the stream", func() bool { return s.Stats().Streams == 1 })
	s.CloseWithError(wire.CodeOverloaded, "over a limit")
	_, err = io.ReadAll(st)
	if code := relay.CodeOf(err); code != wire.CodeOverloaded {
		t.Fatalf("read: %v (code %v), want overloaded", err, code)
	}
}
