package socks

import (
	"context"
	"io"
	"net"
	"testing"

	"github.com/airlockhq/airlock/daemon/socks/sockstest"
	"github.com/airlockhq/airlock/daemon/tokens"
	"github.com/airlockhq/airlock/internal/wire"
)

// BenchmarkThroughput measures the proxy's own cost: client → SOCKS5 →
// a TCP "edge" that discards, 64 MiB per connection. Compare with the
// direct TCP figure on the same machine.
func BenchmarkThroughput(b *testing.B) {
	sink, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	defer sink.Close()
	go func() {
		for {
			c, err := sink.Accept()
			if err != nil {
				return
			}
			go func() { io.Copy(io.Discard, c); c.Close() }()
		}
	}()
	user, pass, _ := NewCredentials(nil)
	srv := New(Config{App: "a.example.com", Username: user, Password: pass, Tokens: tokens.Static("t"),
		Edge: OpenerFunc(func(ctx context.Context, _ *wire.Open) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "tcp", sink.Addr().String())
		})})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go srv.Serve(ctx, ln)
	const size = 64 << 20
	buf := make([]byte, 64<<10)
	b.SetBytes(size)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		c, err := sockstest.Dial(ctx, ln.Addr().String(), user, pass, "x.example:1")
		if err != nil {
			b.Fatal(err)
		}
		for n := 0; n < size; n += len(buf) {
			if _, err := c.Write(buf); err != nil {
				b.Fatal(err)
			}
		}
		c.Close()
	}
}
