package e2e

import (
	"bufio"
	"bytes"
	"context"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/airlockhq/airlock/internal/edgeclient"
	"github.com/airlockhq/airlock/internal/systest/e2e/internal/benchnet"
	"github.com/airlockhq/airlock/internal/wire"
)

// The streams of BenchmarkFleetLoad come from a process of its own (this
// test binary again, with loaderEnv naming its config file), as the
// abuse flood's attacker does: its CPU is not the edges', and its
// goroutines do not queue in the benchmark's scheduler. It speaks to
// the benchmark on its stdin and stdout, one line each step:
//
//	loader → "fleet-load: dialed N"        N connections authenticated
//	bench  → "open"
//	loader → "fleet-load: held OK ERRS MS OK0 OK1 …"
//	bench  → "close"
//	loader → "fleet-load: closed OK ERRS"
//
// and "fleet-load: error EDGE MSG" for the first errors of each phase.
const loaderEnv = "AIRLOCK_FLEET_LOADER"

const loaderPrefix = "fleet-load: "

// loadConfig is the loader's config file, written by the benchmark
// (mode 0600: it holds the service token).
type loadConfig struct {
	Edges        []string // UDP addresses of the fleet's edges
	ServerName   string   // the edges' TLS name
	CAFile       string
	App, Token   string
	Target       string // the connector rule's origin, host:port
	Streams      int    // held at once, spread over every connection
	ConnsPerEdge int    // QUIC connections per edge
	InFlight     int    // stream opens in progress per connection
}

// loadPing and loadPong are what each stream echoes, after the origin's
// echo mode byte: once when it opens, once before it closes.
var loadPing, loadPong = []byte("ping"), []byte("pong")

// loadOpenTimeout bounds one stream's open and echo: a stream that takes
// longer counts as an error (a stream limit reached would wait forever).
const loadOpenTimeout = 30 * time.Second

// loadConn is one of the loader's connections and the streams it holds.
type loadConn struct {
	edge int
	conn *edgeclient.Conn
	held []*edgeclient.StreamConn
	mu   sync.Mutex
}

// loader is the child's state.
type loader struct {
	cfg    loadConfig
	roots  *x509.CertPool
	conns  []*loadConn
	out    io.Writer
	mu     sync.Mutex
	shown  int // error lines printed in this phase
	errors atomic.Int64
}

// runLoader is the child's side of BenchmarkFleetLoad: it returns false
// when this is not the loader process.
func runLoader(b *testing.B) bool {
	path := os.Getenv(loaderEnv)
	if path == "" {
		return false
	}
	b.ReportMetric(0, "ns/op")
	if err := loadMain(path, os.Stdin, os.Stdout); err != nil {
		fmt.Printf("%sfailed %v\n", loaderPrefix, err)
		b.Fatal(err)
	}
	return true
}

func loadMain(path string, in io.Reader, out io.Writer) error {
	raw, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	l := &loader{out: out}
	if err := json.Unmarshal(raw, &l.cfg); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	ca, err := os.ReadFile(l.cfg.CAFile)
	if err != nil {
		return err
	}
	l.roots = x509.NewCertPool()
	if !l.roots.AppendCertsFromPEM(ca) {
		return fmt.Errorf("%s: no certificate", l.cfg.CAFile)
	}
	ctx, stop := context.WithCancel(context.Background())
	defer stop()
	defer func() {
		for _, c := range l.conns {
			c.conn.Close(wire.CodeOK, "")
		}
	}()
	if err := l.dial(ctx); err != nil {
		return err
	}
	fmt.Fprintf(out, "%sdialed %d\n", loaderPrefix, len(l.conns))
	cmds := bufio.NewScanner(in)
	if err := expect(cmds, "open"); err != nil {
		return err
	}
	start := time.Now()
	l.open(ctx)
	took := time.Since(start)
	perEdge := make([]int, len(l.cfg.Edges))
	total := 0
	for _, c := range l.conns {
		perEdge[c.edge] += len(c.held)
		total += len(c.held)
	}
	fmt.Fprintf(out, "%sheld %d %d %d", loaderPrefix, total, l.errors.Load(), took.Milliseconds())
	for _, n := range perEdge {
		fmt.Fprintf(out, " %d", n)
	}
	fmt.Fprintln(out)
	if err := expect(cmds, "close"); err != nil {
		return err
	}
	l.errors.Store(0)
	l.shown = 0
	ok := l.close(ctx)
	fmt.Fprintf(out, "%sclosed %d %d\n", loaderPrefix, ok, l.errors.Load())
	return nil
}

func expect(sc *bufio.Scanner, cmd string) error {
	if !sc.Scan() {
		return fmt.Errorf("stdin ended before %q: %v", cmd, sc.Err())
	}
	if sc.Text() != cmd {
		return fmt.Errorf("stdin: %q, want %q", sc.Text(), cmd)
	}
	return nil
}

func (l *loader) fail(edge int, err error) {
	l.errors.Add(1)
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.shown < 5 {
		l.shown++
		fmt.Fprintf(l.out, "%serror %s %v\n", loaderPrefix, l.cfg.Edges[edge], err)
	}
}

func (l *loader) dialOne(ctx context.Context, edge int) (*edgeclient.Conn, error) {
	dctx, cancel := context.WithTimeout(ctx, loadOpenTimeout)
	defer cancel()
	return edgeclient.Dial(dctx, edgeclient.Config{
		Addr: l.cfg.Edges[edge], ServerName: l.cfg.ServerName, RootCAs: l.roots,
		Hello: wire.Hello{Role: wire.RoleClient, Software: "airlock-bench fleet-load"},
	})
}

// dial authenticates this process's source at every edge (one stream on
// a first connection, which then gets the low stream limit of an
// untrusted source and is asked to drain; it is closed), then dials the
// connections that carry the load, which the now trusted source gets
// with the full stream limit. They are ordered edge by edge in turn, so
// that streams given to them in turn are spread over the edges.
func (l *loader) dial(ctx context.Context) error {
	for e := range l.cfg.Edges {
		c, err := l.dialOne(ctx, e)
		if err != nil {
			return fmt.Errorf("edge %s: the first connection: %w", l.cfg.Edges[e], err)
		}
		s, err := l.echoNew(ctx, c)
		c.Close(wire.CodeOK, "")
		if err != nil {
			return fmt.Errorf("edge %s: the authenticating stream: %w", l.cfg.Edges[e], err)
		}
		s.Close()
	}
	for range l.cfg.ConnsPerEdge {
		for e := range l.cfg.Edges {
			c, err := l.dialOne(ctx, e)
			if err != nil {
				return fmt.Errorf("edge %s: %w", l.cfg.Edges[e], err)
			}
			l.conns = append(l.conns, &loadConn{edge: e, conn: c})
		}
	}
	return nil
}

// echoNew opens a stream on c and echoes loadPing through the origin.
func (l *loader) echoNew(ctx context.Context, c *edgeclient.Conn) (*edgeclient.StreamConn, error) {
	ctx, cancel := context.WithTimeout(ctx, loadOpenTimeout)
	defer cancel()
	s, err := c.OpenStream(ctx, &wire.Open{App: l.cfg.App, Token: l.cfg.Token, Target: l.cfg.Target})
	if err != nil {
		return nil, fmt.Errorf("open: %w", err)
	}
	if err := echoOnce(ctx, s, append([]byte{benchnet.ModeEcho}, loadPing...), loadPing); err != nil {
		s.Abort(wire.CodeInternal)
		return nil, err
	}
	return s, nil
}

// echoOnce writes msg on s and reads want back, within ctx.
func echoOnce(ctx context.Context, s *edgeclient.StreamConn, msg, want []byte) error {
	if d, ok := ctx.Deadline(); ok {
		s.SetDeadline(d)
		defer s.SetDeadline(time.Time{})
	}
	if _, err := s.Write(msg); err != nil {
		return fmt.Errorf("write: %w", err)
	}
	got := make([]byte, len(want))
	if _, err := io.ReadFull(s, got); err != nil {
		return fmt.Errorf("read the echo: %w", err)
	}
	if !bytes.Equal(got, want) {
		return fmt.Errorf("echoed %q, want %q", got, want)
	}
	return nil
}

// open opens cfg.Streams streams, given to the connections in turn, each
// connection with InFlight opens at a time, and holds the ones that
// echoed.
func (l *loader) open(ctx context.Context) {
	var g errgroup.Group
	for i, c := range l.conns {
		n := l.cfg.Streams / len(l.conns)
		if i < l.cfg.Streams%len(l.conns) {
			n++
		}
		var next atomic.Int64
		for range min(l.cfg.InFlight, n) {
			g.Go(func() error {
				for next.Add(1) <= int64(n) {
					s, err := l.echoNew(ctx, c.conn)
					if err != nil {
						l.fail(c.edge, err)
						continue
					}
					c.mu.Lock()
					c.held = append(c.held, s)
					c.mu.Unlock()
				}
				return nil
			})
		}
	}
	g.Wait()
}

// close echoes loadPong on every held stream (it must have lived through
// the hold) and closes it; it returns how many echoed.
func (l *loader) close(ctx context.Context) int64 {
	var g errgroup.Group
	var ok atomic.Int64
	for _, c := range l.conns {
		var next atomic.Int64
		for range min(l.cfg.InFlight, len(c.held)) {
			g.Go(func() error {
				for {
					i := next.Add(1) - 1
					if i >= int64(len(c.held)) {
						return nil
					}
					s := c.held[i]
					ectx, cancel := context.WithTimeout(ctx, loadOpenTimeout)
					err := echoOnce(ectx, s, loadPong, loadPong)
					cancel()
					if err != nil {
						l.fail(c.edge, fmt.Errorf("after the hold: %w", err))
						s.Abort(wire.CodeInternal)
						continue
					}
					if err := s.Close(); err != nil && !errors.Is(err, io.EOF) {
						l.fail(c.edge, fmt.Errorf("close: %w", err))
						continue
					}
					ok.Add(1)
				}
			})
		}
	}
	g.Wait()
	return ok.Load()
}
