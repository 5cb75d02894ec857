package edgeclient_test

import (
	"io"
	"testing"
	"time"

	"github.com/airlockhq/airlock/edge/edgetest"
	"github.com/airlockhq/airlock/internal/edgeclient"
	"github.com/airlockhq/airlock/internal/testenv"
	"github.com/airlockhq/airlock/internal/wire"
)

// TestReconnectForFullStreamLimit: the edge gives a connection from an
// address that has not authenticated lately only a few streams, and asks
// it to drain once a stream has authenticated. The client stays connected
// throughout and opens its next stream on a new connection, which the edge
// gives the full stream limit.
func TestReconnectForFullStreamLimit(t *testing.T) {
	const app = "k8s.demo.test"
	e := edgetest.Start(t, edgetest.Options{})
	ctx := testenv.Context(t)
	drained := make(chan struct{}, 1)
	cfg := clientConfig(e)
	cfg.OnControl = func(f wire.Frame) {
		if _, ok := f.(*wire.Drain); ok {
			drained <- struct{}{}
		}
	}
	c := edgeclient.NewClient(cfg)
	t.Cleanup(func() { c.Close() })
	// Dialled before anything from 127.0.0.1 authenticated: the low limit.
	if err := c.Connect(ctx); err != nil {
		t.Fatal(err)
	}
	e.EchoConnector(t, e.CreateTunnel(t, "demo", app))
	tok := e.MintToken(t, app, "alice@"+edgetest.DefaultEmailDomain, time.Hour)
	echo := func() {
		t.Helper()
		s, err := c.Open(ctx, &wire.Open{App: app, Token: tok, Target: "echo:1"})
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		io.WriteString(s, "hi")
		s.CloseWrite()
		if b, err := io.ReadAll(s); err != nil || string(b) != "hi" {
			t.Fatalf("echo %q, %v", b, err)
		}
	}
	echo()
	select {
	case <-drained:
	case <-ctx.Done():
		t.Fatal("no Drain after the first authenticated stream")
	}
	if up, _, err := c.State(); !up || err != nil {
		t.Fatalf("State after the edge's Drain = %v, %v; want connected", up, err)
	}
	echo()
	if n := clientConns(t, e); n != 2 {
		t.Fatalf("the edge sees %v client connections, want 2 (the drained one and the new one)", n)
	}
}
