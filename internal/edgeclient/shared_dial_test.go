package edgeclient

import (
	"context"
	"crypto/x509"
	"errors"
	"github.com/airlockhq/airlock/internal/wire"
	"net"
	"sync"
	"testing"
	"time"
)

// TestCallersShareAFailedDial opens five streams at once towards an edge that
// never answers: they must share one dial (one source address reaches the
// edge) and all get its error, rather than dialling one after another, each
// waiting out its own handshake timeout.
func TestCallersShareAFailedDial(t *testing.T) {
	pc, err := net.ListenPacket("udp", "127.0.0.1:0") // reads and never answers: a dead edge
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pc.Close() })
	var (
		mu      sync.Mutex
		sources = map[string]bool{}
	)
	go func() {
		buf := make([]byte, 2048)
		for {
			_, addr, err := pc.ReadFrom(buf)
			if err != nil {
				return
			}
			mu.Lock()
			sources[addr.String()] = true
			mu.Unlock()
		}
	}()
	q := DefaultQUICConfig()
	q.HandshakeIdleTimeout = 300 * time.Millisecond
	c := NewClient(Config{Addr: pc.LocalAddr().String(), ServerName: "edge.test", RootCAs: x509.NewCertPool(), QUIC: q})
	t.Cleanup(func() { c.Close() })

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	start := make(chan struct{})
	errs := make(chan error, 5)
	var wg sync.WaitGroup
	for range 5 {
		wg.Go(func() {
			<-start
			_, err := c.Open(ctx, &wire.Open{App: "k8s.example.com"})
			errs <- err
		})
	}
	close(start)
	wg.Wait()
	close(errs)
	for err := range errs {
		var de *DialError
		if err == nil || !errors.As(err, &de) {
			t.Fatalf("Open = %v, want the shared dial's *DialError", err)
		}
	}
	mu.Lock()
	defer mu.Unlock()
	if len(sources) != 1 {
		t.Fatalf("the edge saw handshakes from %d sources, want 1 shared dial: %v", len(sources), sources)
	}
}
