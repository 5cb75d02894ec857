package relay

import (
	"bytes"
	"crypto/rand"
	"errors"
	"io"
	"net"
	"runtime"
	"sync"
	"syscall"
	"testing"

	"github.com/airlockhq/airlock/internal/wire"
	"github.com/quic-go/quic-go"
)

// tcpPair returns the two ends of a loopback TCP connection.
func tcpPair(tb testing.TB) (*net.TCPConn, *net.TCPConn) {
	tb.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	defer ln.Close()
	acc := make(chan net.Conn, 1)
	go func() {
		c, _ := ln.Accept()
		acc <- c
	}()
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		tb.Fatal(err)
	}
	s := <-acc
	if s == nil {
		tb.Fatal("accept failed")
	}
	tb.Cleanup(func() { c.Close(); s.Close() })
	return c.(*net.TCPConn), s.(*net.TCPConn)
}

// TestSpliceHalfClose splices two TCP connections and checks that bytes
// arrive intact both ways, that each side's EOF reaches the other as a
// half-close while the other direction goes on, and that the counts match.
func TestSpliceHalfClose(t *testing.T) {
	client, a := tcpPair(t)
	b, server := tcpPair(t)

	type counts struct{ ab, ba int64 }
	done := make(chan counts, 1)
	go func() {
		ab, ba, err := Splice(a, b)
		if err != nil {
			t.Errorf("splice: %v", err)
		}
		done <- counts{ab, ba}
	}()

	up := make([]byte, 1<<20)
	rand.Read(up)
	down := make([]byte, 300<<10)
	rand.Read(down)

	go func() {
		client.Write(up)
		client.CloseWrite()
	}()
	gotUp, err := io.ReadAll(server)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(gotUp, up) {
		t.Fatalf("upstream: got %d bytes, want %d identical", len(gotUp), len(up))
	}
	// The client has half-closed; the server can still answer.
	if _, err := server.Write(down); err != nil {
		t.Fatal(err)
	}
	server.CloseWrite()
	gotDown, err := io.ReadAll(client)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(gotDown, down) {
		t.Fatalf("downstream: got %d bytes, want %d identical", len(gotDown), len(down))
	}
	c := <-done
	if c.ab != int64(len(up)) || c.ba != int64(len(down)) {
		t.Fatalf("counts = %d/%d, want %d/%d", c.ab, c.ba, len(up), len(down))
	}
}

func TestSpliceRecyclesBuffers(t *testing.T) {
	msg := []byte("hello")
	splice := func() {
		if _, _, err := Splice(&halfPipe{bytes.NewReader(msg)}, &halfPipe{bytes.NewReader(msg)}); err != nil {
			t.Fatal(err)
		}
	}
	splice() // fill the pool
	// Under -race sync.Pool drops items at random, so allow some slack:
	// without the pool this is 2×64 KiB per splice.
	if n := testing.AllocsPerRun(50, splice); n > 20 {
		t.Errorf("%v allocations per splice", n)
	}
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	const runs = 50
	for range runs {
		splice()
	}
	runtime.ReadMemStats(&after)
	if per := (after.TotalAlloc - before.TotalAlloc) / runs; per >= SpliceBufferSize {
		t.Errorf("a splice allocates %d bytes; the %d-byte buffers should be recycled", per, SpliceBufferSize)
	}
}

// halfPipe is one end of an in-memory stream for BenchmarkSpliceAllocs: it
// reads a fixed message then EOF, and discards what is written to it.
type halfPipe struct{ r *bytes.Reader }

func (h *halfPipe) Read(p []byte) (int, error)  { return h.r.Read(p) }
func (h *halfPipe) Write(p []byte) (int, error) { return len(p), nil }

// BenchmarkSpliceAllocs measures what one short spliced stream allocates:
// the copy buffers are recycled, not 2×64 KiB per stream.
func BenchmarkSpliceAllocs(b *testing.B) {
	msg := []byte("GET / HTTP/1.1\r\n\r\n")
	b.ReportAllocs()
	for b.Loop() {
		if _, _, err := Splice(&halfPipe{bytes.NewReader(msg)}, &halfPipe{bytes.NewReader(msg)}); err != nil {
			b.Fatal(err)
		}
	}
}

// quicSide stands in for the QUIC stream of a hop: it yields data, then
// ends with end (nil: blocks until aborted), and its writes fail with
// writeErr when that is set.
type quicSide struct {
	data     []byte
	end      error
	writeErr error

	once    sync.Once
	aborted chan struct{}
}

func newQUICSide(data []byte, end, writeErr error) *quicSide {
	return &quicSide{data: data, end: end, writeErr: writeErr, aborted: make(chan struct{})}
}

func (q *quicSide) Read(p []byte) (int, error) {
	if len(q.data) > 0 {
		n := copy(p, q.data)
		q.data = q.data[n:]
		return n, nil
	}
	if q.end != nil {
		return 0, q.end
	}
	<-q.aborted
	return 0, errors.New("quicSide: aborted")
}

func (q *quicSide) Write(p []byte) (int, error) {
	if q.writeErr != nil {
		return 0, q.writeErr
	}
	return len(p), nil
}

func (q *quicSide) CloseWrite() error { return nil }

func (q *quicSide) Abort(wire.Code) { q.once.Do(func() { close(q.aborted) }) }

// TestSpliceAbortsTCPWithReset splices a TCP connection to a QUIC side
// that fails (a stream reset, a lost connection) while bytes flow: the TCP
// peer's Read must end in ECONNRESET, never the io.EOF of a clean end,
// which would make a cut download look complete. A clean end of both
// directions still reaches the peer as EOF after every byte.
func TestSpliceAbortsTCPWithReset(t *testing.T) {
	reset := &quic.StreamError{StreamID: 4, ErrorCode: quic.StreamErrorCode(wire.CodeGoingAway), Remote: true}
	payload := make([]byte, 200<<10)
	rand.Read(payload)
	for _, tc := range []struct {
		name      string
		data      []byte
		end       error // the QUIC side's read end; nil blocks until aborted
		writeErr  error // the QUIC side's write error
		send      bool  // the TCP peer sends bytes (towards the failing write)
		wantReset bool
	}{
		{name: "stream reset while reading", data: payload, end: reset, wantReset: true},
		{name: "connection lost while reading", data: payload, end: &quic.IdleTimeoutError{}, wantReset: true},
		{name: "stateless reset while reading", data: payload, end: &quic.StatelessResetError{}, wantReset: true},
		{name: "stream reset while writing", writeErr: reset, send: true, wantReset: true},
		{name: "clean end", data: payload, end: io.EOF},
	} {
		t.Run(tc.name, func(t *testing.T) {
			peer, a := tcpPair(t)
			q := newQUICSide(tc.data, tc.end, tc.writeErr)
			spliced := make(chan error, 1)
			go func() {
				_, _, err := Splice(a, q)
				spliced <- err
			}()
			if tc.send {
				if _, err := peer.Write([]byte("GET / HTTP/1.1\r\n\r\n")); err != nil {
					t.Fatal(err)
				}
			}
			if !tc.wantReset {
				peer.CloseWrite()
			}
			got, rerr := io.ReadAll(peer)
			serr := <-spliced
			if tc.wantReset {
				if !errors.Is(rerr, syscall.ECONNRESET) {
					t.Fatalf("the TCP peer's read ended with %v after %d bytes, want ECONNRESET", rerr, len(got))
				}
				if serr == nil {
					t.Fatal("Splice returned nil, want the QUIC side's error")
				}
				return
			}
			if rerr != nil {
				t.Fatalf("the TCP peer's read: %v, want EOF", rerr)
			}
			if serr != nil {
				t.Fatalf("Splice: %v", serr)
			}
			if !bytes.Equal(got, tc.data) {
				t.Fatalf("got %d bytes, want %d identical", len(got), len(tc.data))
			}
		})
	}
}
