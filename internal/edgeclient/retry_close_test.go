package edgeclient_test

import (
	"context"
	"log/slog"
	"sync/atomic"
	"testing"
	"time"

	"github.com/airlockhq/airlock/edge/edgetest"
	"github.com/airlockhq/airlock/internal/edgeclient"
	"github.com/airlockhq/airlock/internal/testenv"
	"github.com/airlockhq/airlock/internal/transport"
)

// TestCloseWaitsForQUICRetry: a Client whose connection is on TCP runs
// its QUIC retry in a goroutine of its own; Close ends it and returns only
// once it has returned (the retry's timer, injected here, counts the
// goroutines waiting on it), so no goroutine outlives the Client.
func TestCloseWaitsForQUICRetry(t *testing.T) {
	e := edgetest.Start(t, edgetest.Options{})
	ctx := testenv.Context(t)
	cfg := clientConfig(e)
	cfg.Logger = slog.New(slog.NewTextHandler(t.Output(), nil))
	c := edgeclient.NewClient(cfg)
	var waiting atomic.Int32
	asleep := make(chan struct{}, 1)
	edgeclient.RememberTCP(c, func(ctx context.Context, d time.Duration) error {
		waiting.Add(1)
		defer waiting.Add(-1)
		select {
		case asleep <- struct{}{}:
		default:
		}
		<-ctx.Done() // the retry is never due: only its end wakes it
		return context.Cause(ctx)
	})
	for round := range 2 { // a Client closed is used again
		if err := c.Connect(ctx); err != nil {
			t.Fatalf("round %d: Connect: %v", round, err)
		}
		if name, _ := c.Transport(); name != transport.NameTCP {
			t.Fatalf("round %d: transport %q, want TCP", round, name)
		}
		select {
		case <-asleep:
		case <-ctx.Done():
			t.Fatalf("round %d: the QUIC retry never waited for its timer", round)
		}
		if err := c.Close(); err != nil {
			t.Fatalf("round %d: Close: %v", round, err)
		}
		if n := waiting.Load(); n != 0 {
			t.Fatalf("round %d: Close returned while %d QUIC retries still waited", round, n)
		}
	}
}
