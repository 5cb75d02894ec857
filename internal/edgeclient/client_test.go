package edgeclient_test

import (
	"context"
	"crypto/x509"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/airlockhq/airlock/edge/edgetest"
	"github.com/airlockhq/airlock/internal/edgeclient"
	"github.com/airlockhq/airlock/internal/testenv"
)

func clientConfig(e *edgetest.Edge) edgeclient.Config {
	return edgeclient.Config{Addr: e.Addr, ServerName: e.ServerName, RootCAs: e.RootCAs}
}

// clientConns is the edge's count of live daemon connections.
func clientConns(tb testing.TB, e *edgetest.Edge) float64 {
	tb.Helper()
	mfs, err := e.Server().Registry().Gather()
	if err != nil {
		tb.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == "airlock_edge_client_connections" {
			return mf.GetMetric()[0].GetGauge().GetValue()
		}
	}
	tb.Fatal("no airlock_edge_client_connections metric")
	return 0
}

func TestConnect(t *testing.T) {
	e := edgetest.Start(t, edgetest.Options{})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()

	t.Run("dials once, shared", func(t *testing.T) {
		c := edgeclient.NewClient(clientConfig(e))
		t.Cleanup(func() { c.Close() })
		if up, _, _ := c.State(); up {
			t.Fatal("connected before Connect")
		}
		var wg sync.WaitGroup
		errs := make(chan error, 5)
		for range 5 {
			wg.Go(func() { errs <- c.Connect(ctx) })
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			if err != nil {
				t.Fatalf("Connect: %v", err)
			}
		}
		up, since, err := c.State()
		if !up || err != nil {
			t.Fatalf("State after Connect = %v, %v", up, err)
		}
		testenv.Eventually(t, "the edge to register the connection", func() bool { return clientConns(t, e) == 1 })
		// A live connection is kept: no second dial.
		if err := c.Connect(ctx); err != nil {
			t.Fatal(err)
		}
		if _, again, _ := c.State(); !again.Equal(since) {
			t.Errorf("Connect re-dialled a live connection (since %v, then %v)", since, again)
		}
		if n := clientConns(t, e); n != 1 {
			t.Errorf("the edge sees %v client connections, want 1", n)
		}
	})

	t.Run("after Close", func(t *testing.T) {
		c := edgeclient.NewClient(clientConfig(e))
		if err := c.Connect(ctx); err != nil {
			t.Fatal(err)
		}
		c.Close()
		if up, _, _ := c.State(); up {
			t.Fatal("connected after Close")
		}
		if err := c.Connect(ctx); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		if up, _, _ := c.State(); !up {
			t.Fatal("Connect after Close did not dial")
		}
	})

	t.Run("untrusted edge", func(t *testing.T) {
		cfg := clientConfig(e)
		cfg.RootCAs = x509.NewCertPool() // trusts nothing
		c := edgeclient.NewClient(cfg)
		t.Cleanup(func() { c.Close() })
		err := c.Connect(ctx)
		var de *edgeclient.DialError
		if !errors.As(err, &de) {
			t.Fatalf("Connect = %v, want a *DialError", err)
		}
		if up, _, last := c.State(); up || !errors.Is(last, err) {
			t.Fatalf("State = %v, %v; want down with the dial error", up, last)
		}
	})

	t.Run("context ends", func(t *testing.T) {
		cfg := clientConfig(e)
		cfg.Addr = "127.0.0.1:9" // discard: no QUIC answers there
		c := edgeclient.NewClient(cfg)
		t.Cleanup(func() { c.Close() })
		short, cancel := context.WithTimeout(ctx, 200*time.Millisecond)
		defer cancel()
		start := time.Now()
		if err := c.Connect(short); err == nil {
			t.Fatal("Connect to nothing succeeded")
		}
		if d := time.Since(start); d > 5*time.Second {
			t.Errorf("Connect took %s after its context ended", d)
		}
	})
}
