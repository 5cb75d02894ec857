package edgeclient

import (
	"context"
	"crypto/x509"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/airlockhq/airlock/internal/testenv"
	"github.com/airlockhq/airlock/internal/wire"
)

// TestCallersShareAFailedDial opens five streams at once towards an edge that
// never answers: they must share one dial (one source address reaches the
// edge) and all get its error, rather than dialling one after another, each
// waiting out its own handshake timeout.
func TestCallersShareAFailedDial(t *testing.T) {
	dead := testenv.NewSilentUDP(t) // a dead edge
	q := DefaultQUICConfig()
	q.HandshakeIdleTimeout = 300 * time.Millisecond
	c := NewClient(Config{Addr: dead.Addr, ServerName: "edge.test", RootCAs: x509.NewCertPool(), QUIC: q})
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
	if sources := dead.Sources(); len(sources) != 1 {
		t.Fatalf("the edge saw handshakes from %d sources, want 1 shared dial: %v", len(sources), sources)
	}
}
