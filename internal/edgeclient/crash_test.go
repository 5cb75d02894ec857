package edgeclient_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/quic-go/quic-go"

	"github.com/airlockhq/airlock/edge/edgetest"
	"github.com/airlockhq/airlock/internal/edgeclient"
	"github.com/airlockhq/airlock/internal/relay"
	"github.com/airlockhq/airlock/internal/wire"
)

// TestEdgeCrashRestart: after the edge is killed (no connection close on
// the wire) and restarted on its state, the first packet of an old
// connection gets a stateless reset, so a client's next stream re-dials at
// once instead of waiting out the idle timeout (30 s).
func TestEdgeCrashRestart(t *testing.T) {
	e := edgetest.Start(t, edgetest.Options{})
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	c := edgeclient.NewClient(clientConfig(e))
	t.Cleanup(func() { c.Close() })
	if err := c.Connect(ctx); err != nil {
		t.Fatal(err)
	}
	old := e.DialClient(t)
	connector := e.EchoConnector(t, e.CreateTunnel(t, "demo", "k8s.demo.test"))

	e.Kill(t)
	if old.Context().Err() != nil {
		t.Fatalf("the kill closed the connection on the wire: %v", context.Cause(old.Context()))
	}
	e.Restart(t)
	start := time.Now()

	// The old connection's next packet is answered with a stateless reset.
	_, err := old.OpenStream(ctx, &wire.Open{App: "nothing.test", Token: "x"})
	var reset *quic.StatelessResetError
	if !errors.As(err, &reset) {
		t.Fatalf("a stream on the old connection: %v, want a stateless reset", err)
	}
	// The shared client re-dials under the caller: the new edge answers
	// (here: no such app) well within the idle timeout.
	_, err = c.Open(ctx, &wire.Open{App: "nothing.test", Token: "x"})
	if got := relay.CodeOf(err); got != wire.CodeUnknownApp {
		t.Fatalf("Open after the restart = %v, want the new edge's unknown app", err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Fatalf("the client took %s to reach the restarted edge, want under 2s", d)
	}
	// A connector opens no streams: its Pings (padded, unlike QUIC's
	// keep-alives) draw the reset within a ping interval or so.
	select {
	case <-connector.Context().Done():
		if err := context.Cause(connector.Context()); !errors.As(err, &reset) {
			t.Fatalf("the connector's connection ended with %v, want a stateless reset", err)
		}
	case <-time.After(edgeclient.DefaultConnectorPingInterval + 2*time.Second):
		t.Fatal("the connector's old connection is still open")
	}
	t.Logf("connector reset %s after the restart", time.Since(start).Round(time.Millisecond))
}
