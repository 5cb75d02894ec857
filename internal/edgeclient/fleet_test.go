package edgeclient_test

import (
	"context"
	"crypto/x509"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/airlockhq/airlock/edge/edgetest"
	"github.com/airlockhq/airlock/internal/edgeclient"
	"github.com/airlockhq/airlock/internal/relay"
	"github.com/airlockhq/airlock/internal/wire"
)

const fleetApp = "k8s.fleet.test"

// fleetOf starts n real edges that accept each other's tokens (the first
// one's), each with an echo connector for fleetApp unless noConnector says
// otherwise, and returns them and the Fleet config that dials them in
// order.
func fleetOf(t *testing.T, n int, noConnector ...int) ([]*edgetest.Edge, edgeclient.FleetConfig) {
	t.Helper()
	pool := x509.NewCertPool()
	var edges []*edgetest.Edge
	var cfg edgeclient.FleetConfig
	for i := range n {
		e := edgetest.Start(t, edgetest.Options{})
		if i > 0 {
			e.ShareTokens(t, edges[0])
		}
		tun := e.CreateTunnel(t, "fleet", fleetApp)
		skip := false
		for _, j := range noConnector {
			skip = skip || j == i
		}
		if !skip {
			e.EchoConnector(t, tun)
		}
		pool.AppendCertsFromPEM(e.CAPEM)
		edges = append(edges, e)
		cfg.Addrs = append(cfg.Addrs, e.Addr)
	}
	cfg.ServerName, cfg.RootCAs = edges[0].ServerName, pool
	return edges, cfg
}

// echo opens a stream at f and checks that it echoes.
func echo(t *testing.T, f *edgeclient.Fleet, tok string) error {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	s, err := f.Open(ctx, &wire.Open{App: fleetApp, Token: tok, Target: "echo:1"})
	if err != nil {
		return err
	}
	defer s.Close()
	if _, err := io.WriteString(s, "ping"); err != nil {
		t.Fatal(err)
	}
	s.CloseWrite()
	b, err := io.ReadAll(s)
	if err != nil || string(b) != "ping" {
		t.Fatalf("echo %q, %v", b, err)
	}
	return nil
}

func newFleet(t *testing.T, cfg edgeclient.FleetConfig) *edgeclient.Fleet {
	if testing.Verbose() {
		cfg.Logger = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	f := edgeclient.NewFleet(cfg)
	t.Cleanup(func() { f.Close() })
	return f
}

func TestFleetFailover(t *testing.T) {
	for _, tc := range []struct {
		name string
		down func(*edgetest.Edge, testing.TB)
	}{
		{"killed", (*edgetest.Edge).Kill},
		{"stopped", (*edgetest.Edge).Stop},
	} {
		t.Run(tc.name, func(t *testing.T) {
			edges, cfg := fleetOf(t, 2)
			a, b := edges[0], edges[1]
			tok := a.MintToken(t, fleetApp, "alice@example.com", time.Hour)
			f := newFleet(t, cfg)
			if err := echo(t, f, tok); err != nil {
				t.Fatal(err)
			}
			if a.WaitStreams(t, fleetApp, "ok", 1) != 1 || f.Carrier(fleetApp) != a.Addr || f.Current() != a.Addr {
				t.Fatalf("first stream: %d at A, carrier %q, current %q; want A %s", a.Streams(t, fleetApp, "ok"), f.Carrier(fleetApp), f.Current(), a.Addr)
			}
			tc.down(a, t)
			// The next stream goes to B: for a killed edge once A's
			// connection is quiet, for a stopped one at its going away.
			start := time.Now()
			if err := echo(t, f, tok); err != nil {
				t.Fatalf("the stream after A went down: %v", err)
			}
			t.Logf("the first stream after A went down was served by B in %s", time.Since(start).Round(time.Millisecond))
			if err := echo(t, f, tok); err != nil {
				t.Fatal(err)
			}
			if got := b.WaitStreams(t, fleetApp, "ok", 2); got != 2 || f.Carrier(fleetApp) != b.Addr || f.Current() != b.Addr {
				t.Fatalf("after A went down: %d streams at B, carrier %q, current %q; want 2 and B %s", got, f.Carrier(fleetApp), f.Current(), b.Addr)
			}
			if up, _, err := f.State(); !up {
				t.Fatalf("fleet not connected: %v", err)
			}
		})
	}
}

func TestFleetRefusals(t *testing.T) {
	t.Run("no connector goes to the next edge", func(t *testing.T) {
		edges, cfg := fleetOf(t, 2, 0) // A has the app's tunnel, no connector
		a, b := edges[0], edges[1]
		tok := a.MintToken(t, fleetApp, "alice@example.com", time.Hour)
		f := newFleet(t, cfg)
		for range 2 {
			if err := echo(t, f, tok); err != nil {
				t.Fatal(err)
			}
		}
		// The second stream went to B first: A is remembered as having no
		// connector for the app.
		if a.WaitStreams(t, fleetApp, "no_connector", 1) != 1 || b.WaitStreams(t, fleetApp, "ok", 2) != 2 || f.Carrier(fleetApp) != b.Addr {
			t.Fatalf("no connector at A %d, ok at B %d, carrier %q", a.Streams(t, fleetApp, "no_connector"), b.Streams(t, fleetApp, "ok"), f.Carrier(fleetApp))
		}
	})
	t.Run("no connector anywhere is tried once more, not at every edge", func(t *testing.T) {
		edges, cfg := fleetOf(t, 3, 0, 1, 2)
		tok := edges[0].MintToken(t, fleetApp, "alice@example.com", time.Hour)
		f := newFleet(t, cfg)
		err := echo(t, f, tok)
		if relay.CodeOf(err) != wire.CodeNoConnector {
			t.Fatalf("err = %v, want no connector", err)
		}
		got := []int{edges[0].WaitStreams(t, fleetApp, "no_connector", 1), edges[1].WaitStreams(t, fleetApp, "no_connector", 1), edges[2].Streams(t, fleetApp, "no_connector")}
		if got[0] != 1 || got[1] != 1 || got[2] != 0 {
			t.Fatalf("no connector refusals per edge %v, want [1 1 0]", got)
		}
	})
	for _, tc := range []struct {
		name  string
		email string
		ttl   time.Duration
		code  wire.Code
	}{
		{"forbidden is not tried elsewhere", "mallory@elsewhere.test", time.Hour, wire.CodeForbidden},
		{"unauthenticated is not tried elsewhere", "alice@example.com", -time.Hour, wire.CodeUnauthenticated},
	} {
		t.Run(tc.name, func(t *testing.T) {
			edges, cfg := fleetOf(t, 2)
			a, b := edges[0], edges[1]
			f := newFleet(t, cfg)
			err := echo(t, f, a.MintToken(t, fleetApp, tc.email, tc.ttl))
			if relay.CodeOf(err) != tc.code {
				t.Fatalf("err = %v, want %s", err, tc.code)
			}
			if n := a.WaitStreams(t, fleetApp, tc.code.Slug(), 1); n != 1 || len(a.Audit(t)) != 1 {
				t.Fatalf("%d refusals at A, want 1", n)
			}
			if n := len(b.Audit(t)); n != 0 {
				t.Fatalf("the refused stream was tried at B (%d audit lines)", n)
			}
		})
	}
}

// TestFleetName: one name that resolves to two edges (two loopback
// addresses on one port) is two edges; the first answering one carries.
func TestFleetName(t *testing.T) {
	a := edgetest.Start(t, edgetest.Options{})
	_, port, _ := net.SplitHostPort(a.Addr)
	b := edgetest.Start(t, edgetest.Options{Listen: "127.0.0.2:" + port})
	b.ShareTokens(t, a)
	pool := x509.NewCertPool()
	for _, e := range []*edgetest.Edge{a, b} {
		e.EchoConnector(t, e.CreateTunnel(t, "fleet", fleetApp))
		pool.AppendCertsFromPEM(e.CAPEM)
	}
	lookups := 0
	f := newFleet(t, edgeclient.FleetConfig{
		Config: edgeclient.Config{ServerName: a.ServerName, RootCAs: pool},
		Addrs:  []string{"fleet.test:" + port},
		Resolve: func(_ context.Context, host string) ([]netip.Addr, error) {
			lookups++
			if host != "fleet.test" {
				t.Errorf("resolved %q", host)
			}
			return []netip.Addr{netip.MustParseAddr("::1"), netip.MustParseAddr("127.0.0.1"), netip.MustParseAddr("127.0.0.2")}, nil
		},
	})
	tok := a.MintToken(t, fleetApp, "alice@example.com", time.Hour)
	if err := echo(t, f, tok); err != nil {
		t.Fatal(err)
	}
	if err := echo(t, f, tok); err != nil {
		t.Fatal(err)
	}
	// IPv4 first; the live connection needs no second lookup.
	if a.WaitStreams(t, fleetApp, "ok", 2) != 2 || lookups != 1 {
		t.Fatalf("%d streams at 127.0.0.1, %d lookups; want 2 and 1", a.Streams(t, fleetApp, "ok"), lookups)
	}
	a.Stop(t)
	if err := echo(t, f, tok); err != nil {
		t.Fatal(err)
	}
	if want := net.JoinHostPort("127.0.0.2", port); b.WaitStreams(t, fleetApp, "ok", 1) != 1 || f.Carrier(fleetApp) != want {
		t.Fatalf("%d streams at 127.0.0.2, carrier %q, want %s", b.Streams(t, fleetApp, "ok"), f.Carrier(fleetApp), want)
	}
}

// stillClock is a clock that stands still unless moved: a bad address's
// period does not run out while a test's own steps take their time.
type stillClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *stillClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *stillClock) After(time.Duration) <-chan time.Time { return nil } // a Fleet never waits

func (c *stillClock) add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// TestFleetRemembersBadAddresses: an edge that refused the app with "no
// connector" goes last for that app for its period: when the carrier dies,
// the stream goes to the third edge, not back to the first; once the
// period is over, the first is tried in its order again.
func TestFleetRemembersBadAddresses(t *testing.T) {
	edges, cfg := fleetOf(t, 3, 0) // A: no connector
	a, b, c := edges[0], edges[1], edges[2]
	clock := &stillClock{now: time.Unix(1_000_000, 0)}
	cfg.Clock = clock
	// Killed B is dialled once in the last step: its handshake timeout
	// is the test's wait there.
	cfg.QUIC = edgeclient.DefaultQUICConfig()
	cfg.QUIC.HandshakeIdleTimeout = 2 * time.Second
	tok := a.MintToken(t, fleetApp, "alice@example.com", time.Hour)
	f := newFleet(t, cfg)
	if err := echo(t, f, tok); err != nil {
		t.Fatal(err)
	}
	if a.WaitStreams(t, fleetApp, "no_connector", 1) != 1 || b.WaitStreams(t, fleetApp, "ok", 1) != 1 {
		t.Fatalf("first stream: A refused %d, B served %d", a.Streams(t, fleetApp, "no_connector"), b.Streams(t, fleetApp, "ok"))
	}
	b.Kill(t)
	if err := echo(t, f, tok); err != nil {
		t.Fatal(err)
	}
	if c.WaitStreams(t, fleetApp, "ok", 1) != 1 || a.Streams(t, fleetApp, "no_connector") != 1 || f.Carrier(fleetApp) != c.Addr {
		t.Fatalf("after B died: C served %d, A refused %d (want still 1), carrier %q", c.Streams(t, fleetApp, "ok"), a.Streams(t, fleetApp, "no_connector"), f.Carrier(fleetApp))
	}
	// Past A's period (1 s) and with C gone, A is tried again before
	// B (failed): it still has no connector, and the stream is refused.
	clock.add(edgeclient.BadBase + time.Millisecond)
	c.Stop(t)
	err := echo(t, f, tok)
	if relay.CodeOf(err) != wire.CodeNoConnector || a.WaitStreams(t, fleetApp, "no_connector", 2) != 2 {
		t.Fatalf("with only A left: %v, A refused %d; want no connector and 2", err, a.Streams(t, fleetApp, "no_connector"))
	}
}

// TestFleetRestartedEdge: with the rest of the fleet down, an edge that
// restarted (its old connection answered with a stateless reset) is
// dialled again under the stream, as a single edge would be.
func TestFleetRestartedEdge(t *testing.T) {
	edges, cfg := fleetOf(t, 2)
	a, b := edges[0], edges[1]
	cfg.QUIC = edgeclient.DefaultQUICConfig()
	cfg.QUIC.HandshakeIdleTimeout = 2 * time.Second // dead B's dial is the test's wait
	tok := a.MintToken(t, fleetApp, "alice@example.com", time.Hour)
	f := newFleet(t, cfg)
	if err := echo(t, f, tok); err != nil {
		t.Fatal(err)
	}
	b.Stop(t)
	a.Kill(t)
	a.Restart(t)
	a.EchoConnector(t, a.CreateTunnel(t, "fleet2", "k8s.other.test")) // the old connector's connection died with A
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	_, err := f.Open(ctx, &wire.Open{App: "k8s.other.test", Token: a.MintToken(t, "k8s.other.test", "alice@example.com", time.Hour), Target: "echo:1"})
	if err != nil {
		t.Fatalf("a stream after A restarted and B stopped: %v", err)
	}
	if f.Carrier("k8s.other.test") != a.Addr {
		t.Fatalf("carrier %q, want A %s", f.Carrier("k8s.other.test"), a.Addr)
	}
}
