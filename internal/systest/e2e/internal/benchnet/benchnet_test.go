package benchnet

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"testing"
	"time"

	"github.com/airlockhq/airlock/internal/edgeclient"
	"github.com/quic-go/quic-go"
	"golang.org/x/sync/errgroup"
)

// runGroup runs the functions until the test ends, then cancels them and
// fails the test if any returned an error.
func runGroup(tb testing.TB, fns ...func(context.Context) error) {
	tb.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	g, ctx := errgroup.WithContext(ctx)
	for _, fn := range fns {
		g.Go(func() error { return fn(ctx) })
	}
	tb.Cleanup(func() {
		cancel()
		if err := g.Wait(); err != nil {
			tb.Errorf("server: %v", err)
		}
	})
}

func listen(tb testing.TB) net.Listener {
	tb.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	return ln
}

// startOrigin serves the origin on a loopback port and returns its address.
func startOrigin(tb testing.TB) string {
	tb.Helper()
	ln := listen(tb)
	runGroup(tb, func(ctx context.Context) error { return ServeOrigin(ctx, ln, nil, slog.New(slog.DiscardHandler)) })
	return ln.Addr().String()
}

// startHTTPSOrigin serves the origin with HTTPS on and returns its address
// and the CA file to trust.
func startHTTPSOrigin(tb testing.TB) (addr, caFile string) {
	tb.Helper()
	cert, key, err := WriteCert(tb.TempDir())
	if err != nil {
		tb.Fatal(err)
	}
	tlsConf, err := ServerTLS(cert, key)
	if err != nil {
		tb.Fatal(err)
	}
	ln := listen(tb)
	runGroup(tb, func(ctx context.Context) error { return ServeOrigin(ctx, ln, tlsConf, slog.New(slog.DiscardHandler)) })
	return ln.Addr().String(), cert
}

func TestHTTPSOrigin(t *testing.T) {
	origin, ca := startHTTPSOrigin(t)
	var d net.Dialer
	probe, err := NewHTTPSProbe(func(ctx context.Context) (net.Conn, error) { return d.DialContext(ctx, "tcp", origin) }, ca)
	if err != nil {
		t.Fatal(err)
	}
	for range 3 {
		if err := probe.Get(testCtx(t)); err != nil {
			t.Fatal(err)
		}
	}
	t.Run("plain requests still work", func(t *testing.T) {
		if err := Echo(testCtx(t), dial(t, origin)); err != nil {
			t.Fatal(err)
		}
		if err := Bulk(testCtx(t), dial(t, origin), 1<<20, make([]byte, 64<<10)); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("untrusted certificate", func(t *testing.T) {
		other, _, err := WriteCert(t.TempDir())
		if err != nil {
			t.Fatal(err)
		}
		bad, err := NewHTTPSProbe(func(ctx context.Context) (net.Conn, error) { return d.DialContext(ctx, "tcp", origin) }, other)
		if err != nil {
			t.Fatal(err)
		}
		if err := bad.Get(testCtx(t)); err == nil {
			t.Fatal("Get trusted a certificate it was not given")
		}
	})
	t.Run("without TLS a handshake byte is a bad mode", func(t *testing.T) {
		c := dial(t, startOrigin(t))
		c.Write([]byte{tlsHandshake, 3, 1})
		c.SetReadDeadline(time.Now().Add(10 * time.Second))
		if n, err := c.Read(make([]byte, 1)); n != 0 || err == nil {
			t.Fatalf("read = %d, %v; want the connection closed", n, err)
		}
	})
}

func dial(tb testing.TB, addr string) net.Conn {
	tb.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { c.Close() })
	return c
}

func testCtx(tb testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	tb.Cleanup(cancel)
	return ctx
}

func TestOrigin(t *testing.T) {
	origin := startOrigin(t)
	for _, n := range []int64{0, 1, writeChunk - 1, writeChunk, 3*writeChunk + 17} {
		t.Run(fmt.Sprintf("bulk %d", n), func(t *testing.T) {
			if err := Bulk(testCtx(t), dial(t, origin), n, make([]byte, 64<<10)); err != nil {
				t.Fatalf("bulk %d: %v", n, err)
			}
		})
	}
	t.Run("echo", func(t *testing.T) {
		if err := Echo(testCtx(t), dial(t, origin)); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("bad mode closes the connection", func(t *testing.T) {
		c := dial(t, origin)
		c.Write([]byte{'z'})
		c.SetReadDeadline(time.Now().Add(10 * time.Second))
		if n, err := c.Read(make([]byte, 1)); n != 0 || err == nil {
			t.Fatalf("read after a bad mode = %d, %v; want the connection closed", n, err)
		}
	})
	t.Run("oversized bulk is refused", func(t *testing.T) {
		c := dial(t, origin)
		c.Write([]byte{ModeBulk, 0xff, 0, 0, 0, 0, 0, 0, 0})
		c.SetReadDeadline(time.Now().Add(10 * time.Second))
		if n, err := c.Read(make([]byte, 1)); n != 0 || err == nil {
			t.Fatalf("read after an oversized request = %d, %v; want the connection closed", n, err)
		}
	})
	t.Run("short bulk is an error", func(t *testing.T) {
		// An echo server answers a bulk request with its own 9 bytes.
		ln := listen(t)
		go func() {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			defer c.Close()
			buf := make([]byte, 9)
			n, _ := c.Read(buf)
			c.Write(buf[:n])
		}()
		err := Bulk(testCtx(t), dial(t, ln.Addr().String()), 1000, make([]byte, 64))
		if err == nil {
			t.Fatal("Bulk accepted a short answer")
		}
	})
}

// TestRelay runs the three stages of the bare relay in this process and
// sends bulk and echo requests through them.
func TestRelay(t *testing.T) {
	origin := startOrigin(t)
	cert, key, err := WriteCert(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	srvTLS, err := ServerTLS(cert, key)
	if err != nil {
		t.Fatal(err)
	}
	cliTLS, err := ClientTLS(cert)
	if err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.DiscardHandler)
	qlisten := func() *quic.Listener {
		ln, err := quic.ListenAddr("127.0.0.1:0", srvTLS, edgeclient.DefaultQUICConfig())
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { ln.Close() })
		return ln
	}
	qdial := func(addr net.Addr) *quic.Conn {
		qc, err := quic.DialAddr(testCtx(t), addr.String(), cliTLS, edgeclient.DefaultQUICConfig())
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { qc.CloseWithError(0, "") })
		return qc
	}
	exitLn := qlisten()
	relayLn := qlisten()
	entryLn := listen(t)
	runGroup(t, func(ctx context.Context) error { return RunExit(ctx, exitLn, origin, log) })
	toExit := qdial(exitLn.Addr())
	runGroup(t, func(ctx context.Context) error { return RunRelay(ctx, relayLn, toExit, log) })
	toRelay := qdial(relayLn.Addr())
	runGroup(t, func(ctx context.Context) error { return RunEntry(ctx, entryLn, toRelay, log) })

	entry := entryLn.Addr().String()
	t.Run("bulk", func(t *testing.T) {
		if err := Bulk(testCtx(t), dial(t, entry), 8<<20+3, make([]byte, 64<<10)); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("echo on new connections", func(t *testing.T) {
		for range 20 {
			c := dial(t, entry)
			if err := Echo(testCtx(t), c); err != nil {
				t.Fatal(err)
			}
			c.Close()
		}
	})
	t.Run("concurrent", func(t *testing.T) {
		var g errgroup.Group
		for range 8 {
			g.Go(func() error { return Bulk(testCtx(t), dial(t, entry), 1<<20, make([]byte, 32<<10)) })
		}
		if err := g.Wait(); err != nil {
			t.Fatal(err)
		}
	})
}

func TestBulkStopsWithContext(t *testing.T) {
	// A server that accepts and never answers.
	ln := listen(t)
	go func() {
		c, err := ln.Accept()
		if err == nil {
			t.Cleanup(func() { c.Close() })
		}
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	err := Bulk(ctx, dial(t, ln.Addr().String()), 10, make([]byte, 10))
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Bulk after the deadline = %v, want DeadlineExceeded", err)
	}
}
