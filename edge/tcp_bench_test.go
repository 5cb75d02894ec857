package edge

import (
	"io"
	"testing"
	"time"

	"github.com/airlockhq/airlock/internal/edgeclient"
	"github.com/airlockhq/airlock/internal/testenv"
	"github.com/airlockhq/airlock/internal/wire"
)

// BenchmarkTransport compares the two transports through a real edge on
// loopback, daemon and connector both on the transport named: "bulk"
// echoes 64 MiB through one stream (MB/s counts the bytes one way), "new
// stream" opens a stream, echoes one byte and closes it (ns/op is the
// latency of a new connection through Airlock, the check and the
// connector's answer included).
func BenchmarkTransport(b *testing.B) {
	for _, tr := range []string{edgeclient.TransportQUIC, edgeclient.TransportTCP} {
		b.Run(tr, func(b *testing.B) {
			e := startEdge(b)
			e.echoConnector(b, tr, "c", e.creds)
			client, err := e.dialOver(b, tr, wire.Hello{Role: wire.RoleClient})
			if err != nil {
				b.Fatal(err)
			}
			defer client.Close(wire.CodeOK, "")
			open := &wire.Open{App: testApp, Token: e.mint(b, testApp, "alice@example.com", time.Hour), Target: "kube:443"}
			b.Run("bulk", func(b *testing.B) {
				const size = 64 << 20
				b.SetBytes(size)
				buf := make([]byte, 64<<10)
				for b.Loop() {
					s, err := client.OpenStream(testenv.Context(b), open)
					if err != nil {
						b.Fatal(err)
					}
					go func() {
						for sent := 0; sent < size; sent += len(buf) {
							if _, err := s.Write(buf); err != nil {
								return
							}
						}
						s.CloseWrite()
					}()
					n, err := io.Copy(io.Discard, s)
					if err != nil || n != size+2 { // "c:" first
						b.Fatalf("echoed %d of %d bytes: %v", n, size, err)
					}
					s.Close()
				}
			})
			b.Run("new stream", func(b *testing.B) {
				one := make([]byte, 3)
				for b.Loop() {
					s, err := client.OpenStream(testenv.Context(b), open)
					if err != nil {
						b.Fatal(err)
					}
					s.Write([]byte{1})
					if _, err := io.ReadFull(s, one); err != nil {
						b.Fatal(err)
					}
					s.Close()
				}
			})
		})
	}
}
