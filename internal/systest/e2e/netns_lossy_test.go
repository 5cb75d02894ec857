package e2e

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/airlockhq/airlock/internal/systest/e2e/internal/benchnet"
	"github.com/airlockhq/airlock/internal/systest/netns"
	"github.com/airlockhq/airlock/internal/systest/stack"
	"github.com/airlockhq/airlock/internal/testenv"
)

// lossyPath is the Airlock path with the daemon behind a netns.Link: the
// daemon (and whoever uses its SOCKS listener) in the link's Client
// namespace; the edge, the connector and origin on this machine's
// loopback, reached through a relay (netns.Forward, UDP and TCP) at the
// link's ServerIP. Everything the daemon sends the edge, and back, crosses
// the link's delay and loss.
type lossyPath struct {
	link   *netns.Link
	stack  *stack.Stack
	origin string // on this machine's loopback
	target string // what to ask the daemon's SOCKS listener for
}

// startLossyPath makes the link with c and starts an origin and the stack
// across it; daemonEdgeYAML adds to the daemon's edge entry.
func startLossyPath(tb testing.TB, c netns.Conditions, daemonEdgeYAML string) *lossyPath {
	tb.Helper()
	if testing.Short() {
		tb.Skip("network namespace test: not in -short mode")
	}
	link := netns.NewLink(tb, "al-loss", c, 1)
	origin := serveOrigin(tb)
	s := startStack(tb, stack.Options{Origin: origin, NoDaemon: true, DaemonEdgeYAML: daemonEdgeYAML})
	_, port, err := net.SplitHostPort(s.EdgeAddr)
	if err != nil {
		tb.Fatal(err)
	}
	relay := net.JoinHostPort(link.ServerIP, port)
	link.Server.Forward(tb, relay, s.EdgeAddr)
	s.DaemonEdgeAddr = relay
	s.DaemonPrefix = []string{"ip", "netns", "exec", link.Client.Name}
	ctx, cancel := context.WithTimeout(testenv.Context(tb), 3*time.Minute)
	defer cancel()
	if err := s.StartDaemon(ctx); err != nil {
		tb.Fatalf("start the daemon behind the link (%v): %v", c, err)
	}
	// What kubectl would ask for; the connector dials its rule's origin.
	return &lossyPath{link: link, stack: s, origin: origin, target: strings.TrimPrefix(stack.KubeServer, "https://")}
}

// download fetches n bytes from the origin through the daemon on a new
// connection, every byte checked, and says how long it took.
func (p *lossyPath) download(ctx context.Context, n int64) (time.Duration, error) {
	c, err := p.dial(ctx)
	if err != nil {
		return 0, fmt.Errorf("open a stream through the daemon: %w", err)
	}
	defer c.Close()
	start := time.Now()
	if err := benchnet.BulkIntact(ctx, c, n, make([]byte, 64<<10)); err != nil {
		return 0, err
	}
	return time.Since(start), nil
}

// dial opens a connection to the origin through the daemon, from the
// link's Client namespace.
func (p *lossyPath) dial(ctx context.Context) (c net.Conn, err error) {
	err = p.link.Client.Do(func() (err error) {
		c, err = benchnet.DialSOCKS5(ctx, p.stack.SOCKSAddr, p.stack.User, p.stack.Pass, p.target)
		return err
	})
	return c, err
}

// serveOrigin serves benchnet's origin (bulk and echo) on this machine's
// loopback until the test ends.
func serveOrigin(tb testing.TB) string {
	tb.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Go(func() {
		if err := benchnet.ServeOrigin(ctx, ln, nil, slog.New(slog.NewTextHandler(io.Discard, nil))); err != nil {
			tb.Errorf("origin: %v", err)
		}
	})
	tb.Cleanup(func() { cancel(); wg.Wait() })
	return ln.Addr().String()
}

// TestNetnsLossyTransfer: downloads through the real daemon, edge and
// connector while the daemon's link to the edge delays every packet (25 ms
// each way: a 50 ms round trip) and drops 5 %, then 20 %, of them each way
// (a TUN relay in a router namespace, netns.Link: these kernels have no
// sch_netem). Every byte arrives intact and in order, and the link really
// lost packets both ways meanwhile (downloading again while a way lost none).
func TestNetnsLossyTransfer(t *testing.T) {
	p := startLossyPath(t, netns.Conditions{Delay: 25 * time.Millisecond}, "")
	for _, tc := range []struct {
		name  string
		cond  netns.Conditions
		bytes int64
	}{
		{"50 ms round trip", netns.Conditions{Delay: 25 * time.Millisecond}, 8 << 20},
		{"5 % loss, 50 ms", netns.Conditions{Delay: 25 * time.Millisecond, Loss: 0.05}, 2 << 20},
		{"20 % loss, 50 ms", netns.Conditions{Delay: 25 * time.Millisecond, Loss: 0.20}, 256 << 10},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p.link.Set(tc.cond)
			srv0, cli0 := p.link.Stats()
			ctx := testenv.Context(t)
			// A download sends few packets toward the edge (acknowledgements
			// only), so at 5 % one may lose none of them: download again,
			// every byte checked each time, until both ways lost a packet
			// (at most nine downloads: hundreds of packets each way).
			var took time.Duration
			var lostUp, lostDown uint64
			for round := 1; ; round++ {
				d, err := p.download(ctx, tc.bytes)
				if err != nil {
					t.Fatalf("download %d of %d bytes: %v", round, tc.bytes, err)
				}
				if round == 1 {
					took = d
				}
				srv, cli := p.link.Stats()
				lostUp, lostDown = srv.Lost-srv0.Lost, cli.Lost-cli0.Lost
				if tc.cond.Loss == 0 || lostUp > 0 && lostDown > 0 {
					t.Logf("%s: %d bytes intact in %v (%.2f MB/s); over %d downloads the link lost %d of %d packets toward the edge, %d of %d toward the daemon",
						tc.cond, tc.bytes, took.Round(time.Millisecond), float64(tc.bytes)/1e6/took.Seconds(), round,
						lostUp, lostUp+srv.Passed-srv0.Passed, lostDown, lostDown+cli.Passed-cli0.Passed)
					break
				}
				if round == 9 {
					t.Fatalf("over %d downloads the link lost %d of %d packets toward the edge and %d of %d toward the daemon: the loss was not applied",
						round, lostUp, lostUp+srv.Passed-srv0.Passed, lostDown, lostDown+cli.Passed-cli0.Passed)
				}
			}
		})
	}
}
