package e2e

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/textproto"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/airlockhq/airlock/internal/systest/stack"
	"github.com/airlockhq/airlock/internal/testenv"
)

// TestEdgeKilledMidDownload kills the edge (SIGKILL) while a download with
// no Content-Length runs through the SOCKS proxy: with no length to check,
// only a reset tells the client the body is cut, so the client's read must
// end in ECONNRESET, not the EOF of a finished download, and the origin's
// side of its connection must see a reset too (the connector aborts it).
// The edge either comes back on its address (its stateless reset ends the
// old connections at their next packet) or stays down (they end at the
// idle timeout). It is killed either while bytes flow, or while the stream
// is idle, every byte the origin wrote delivered: only then is the
// connector's socket to the origin empty, so that a plain Close would send
// FIN (with unread bytes the kernel sends RST by itself).
func TestEdgeKilledMidDownload(t *testing.T) {
	for _, tc := range []struct {
		name    string
		restart bool // the edge comes back on its address
		idle    bool // every byte written was delivered before the kill
	}{
		{name: "bytes flowing, edge restarted", restart: true},
		{name: "idle, edge restarted", restart: true, idle: true},
		{name: "idle, edge stays down", idle: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			origin := streamingOrigin(t)
			s := startStack(t, stack.Options{Origin: origin.addr})
			ctx := testenv.Context(t)

			resp := download(t, ctx, s, "http://kubernetes.default.svc/download")
			defer resp.Body.Close()
			if resp.ContentLength != -1 {
				t.Fatalf("the origin sent Content-Length %d; the test needs a body without one", resp.ContentLength)
			}
			// Mid-transfer: the first MiB has arrived, more is on its way.
			const first = 1 << 20
			if n, err := io.CopyN(io.Discard, resp.Body, first); err != nil {
				t.Fatalf("the first %d bytes of the download: %v after %d", first, err, n)
			}
			var oc *originConn
			select {
			case oc = <-origin.conns:
			case <-ctx.Done():
				t.Fatal("the origin saw no connection")
			}

			if tc.idle {
				oc.stopWriting()
				if rest := oc.written.Load() - first; rest > 0 {
					if n, err := io.CopyN(io.Discard, resp.Body, rest); err != nil {
						t.Fatalf("the rest of what the origin wrote: %v after %d of %d", err, n, rest)
					}
				}
			}
			s.Edge.Kill()
			// From here the connector cannot hear of the loss before the
			// edge is back (its stateless reset) or the idle timeout: stop
			// the origin's writes now, so that only its read is there to
			// see how the connection ends.
			oc.stopWriting()
			if tc.restart {
				if err := s.StartEdge(ctx); err != nil {
					t.Fatal(err)
				}
			}

			n, err := io.Copy(io.Discard, resp.Body)
			if !errors.Is(err, syscall.ECONNRESET) {
				t.Errorf("the client's download ended with %v after %d more bytes, want ECONNRESET (a cut body must not look complete)", err, n)
			}
			select {
			case err := <-oc.readErr:
				if !errors.Is(err, syscall.ECONNRESET) {
					t.Errorf("the origin's read ended with %v, want ECONNRESET (the connector aborts the origin's connection)", err)
				}
			case <-ctx.Done():
				t.Fatal("the origin's connection did not end")
			}
		})
	}
}

// download sends GET url through the stack's SOCKS proxy and returns the
// response with its body unread.
func download(tb testing.TB, ctx context.Context, s *stack.Stack, url string) *http.Response {
	tb.Helper()
	tr := proxyTransport(s)
	tb.Cleanup(tr.CloseIdleConnections)
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		tb.Fatal(err)
	}
	resp, err := (&http.Client{Transport: tr}).Do(req)
	if err != nil {
		tb.Fatalf("GET %s through the proxy: %v", url, err)
	}
	if resp.StatusCode != http.StatusOK {
		resp.Body.Close()
		tb.Fatalf("GET %s: %s", url, resp.Status)
	}
	return resp
}

// streamOrigin is an origin that answers every request with an endless body and
// no Content-Length (the end of the connection ends it), and hands each
// connection to the test once its answer has begun.
type streamOrigin struct {
	addr  string
	conns chan *originConn

	mu   sync.Mutex
	open []net.Conn // closed when the test ends
}

// originConn is one connection of a streaming origin.
type originConn struct {
	c net.Conn
	// stopped is closed once the origin no longer writes.
	stopped chan struct{}
	// written counts the body bytes written (final once stopped).
	written atomic.Int64
	once    sync.Once
	// readErr receives how the origin's read of the connection ended,
	// after the request: io.EOF for a clean end, ECONNRESET for a reset.
	readErr chan error
}

// stopWriting stops the origin's writes and waits until they have
// stopped. A write pending on a full buffer returns at its deadline
// without another system call, so it cannot take the reset (the kernel
// reports it once) from the read.
func (oc *originConn) stopWriting() {
	oc.once.Do(func() { oc.c.SetWriteDeadline(time.Now()) }) //nolint:errcheck
	<-oc.stopped
}

func streamingOrigin(tb testing.TB) *streamOrigin {
	tb.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	o := &streamOrigin{addr: ln.Addr().String(), conns: make(chan *originConn, 16)}
	tb.Cleanup(func() {
		ln.Close()
		o.mu.Lock()
		for _, c := range o.open {
			c.Close()
		}
		o.mu.Unlock()
	})
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			o.mu.Lock()
			o.open = append(o.open, c)
			o.mu.Unlock()
			go o.serve(c)
		}
	}()
	return o
}

func (o *streamOrigin) serve(c net.Conn) {
	r := textproto.NewReader(bufio.NewReader(c))
	if _, err := r.ReadLine(); err != nil {
		return
	}
	if _, err := r.ReadMIMEHeader(); err != nil {
		return
	}
	oc := &originConn{c: c, stopped: make(chan struct{}), readErr: make(chan error, 1)}
	go func() {
		defer close(oc.stopped)
		if _, err := io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\nConnection: close\r\n\r\n"); err != nil {
			return
		}
		chunk := make([]byte, 64<<10)
		for i := range chunk {
			chunk[i] = byte(i)
		}
		for {
			n, err := c.Write(chunk)
			oc.written.Add(int64(n))
			if err != nil {
				return
			}
		}
	}()
	select {
	case o.conns <- oc:
	default:
	}
	var b [1]byte
	for {
		if _, err := r.R.Read(b[:]); err != nil {
			oc.readErr <- err
			return
		}
	}
}
