package e2e

import (
	"context"
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/airlockhq/airlock/internal/systest/e2e/internal/benchnet"
	"github.com/airlockhq/airlock/internal/testenv"
)

// BenchmarkPaths is `make bench`: in one run, on loopback, it measures bulk
// throughput and new-connection latency for direct TCP to an origin, a bare
// two-hop quic-go relay (the transport's own limit), `ssh -N -D` through
// Debian's OpenSSH, and the Airlock path, interleaving the paths round by
// round so that drift hits them all alike. It prints a table with ratios
// against the bare relay and direct TCP and reports the figures as metrics
// of one sub-benchmark per path. Run it with -benchtime 1x; the size of a
// run comes from AIRLOCK_BENCH_BYTES, AIRLOCK_BENCH_CONNS and
// AIRLOCK_BENCH_ROUNDS.
func BenchmarkPaths(b *testing.B) {
	cfg := loadBenchConfig(b)
	load := loadAverage()
	dir := b.TempDir()
	bin := testenv.BuildBinary(b, "./internal/benchproc")
	cert, key, err := benchnet.WriteCert(dir)
	if err != nil {
		b.Fatal(err)
	}
	origin := startBenchproc(b, bin, "origin", "-listen", "127.0.0.1:0", "-cert", cert, "-key", key)

	paths := []*benchPath{directPath(origin), relayPath(b, bin, cert, key, origin)}
	var notes []string
	sshs, err := sshPaths(b, dir, origin)
	if err != nil {
		needPart(b, err)
		notes = append(notes, err.Error())
	}
	paths = append(paths, sshs...)
	airlock, airlockLog, err := airlockPath(b, origin)
	if err != nil {
		needPart(b, err)
		notes = append(notes, err.Error())
	} else {
		paths = append(paths, airlock)
	}

	for _, p := range paths {
		if !p.latency {
			continue
		}
		if p.socks != nil {
			p.probe, err = benchnet.NewSOCKS5HTTPSProbe(p.socks.addr, p.socks.user, p.socks.pass, p.socks.target, cert)
		} else {
			p.probe, err = benchnet.NewHTTPSProbe(p.dial, cert)
		}
		if err != nil {
			b.Fatal(err)
		}
	}
	if err := runRounds(b.Context(), cfg, paths); err != nil {
		if airlockLog != nil {
			b.Logf("airlock output (tail):\n%s", tailOf(airlockLog.String()))
		}
		b.Fatal(err)
	}
	printReport(os.Stdout, cfg, load, paths, notes)
	printCosts(os.Stdout, paths)
	for _, p := range paths {
		b.Run(p.key, func(b *testing.B) { p.reportMetrics(b, paths) })
	}
}

// benchConfig is the size of a run.
type benchConfig struct {
	bytes  int64 // per bulk transfer
	conns  int   // new connections per path, over all rounds
	rounds int
}

func loadBenchConfig(tb testing.TB) benchConfig {
	tb.Helper()
	cfg := benchConfig{bytes: 512 << 20, conns: 500, rounds: 5}
	if v := os.Getenv("AIRLOCK_BENCH_BYTES"); v != "" {
		n, err := benchnet.ParseSize(v)
		if err != nil {
			tb.Fatalf("AIRLOCK_BENCH_BYTES: %v", err)
		}
		cfg.bytes = n
	}
	atoi := func(name string, lo, hi int, into *int) {
		v := os.Getenv(name)
		if v == "" {
			return
		}
		n, err := strconv.Atoi(v)
		if err != nil || n < lo || n > hi {
			tb.Fatalf("%s=%q: want a whole number from %d to %d", name, v, lo, hi)
		}
		*into = n
	}
	atoi("AIRLOCK_BENCH_CONNS", 1, 100000, &cfg.conns)
	atoi("AIRLOCK_BENCH_ROUNDS", 1, 100, &cfg.rounds)
	return cfg
}

// socksProxy is a SOCKS5 proxy in front of a path, and what to ask it for.
type socksProxy struct{ addr, user, pass, target string }

func (s *socksProxy) dial(ctx context.Context) (net.Conn, error) {
	return benchnet.DialSOCKS5(ctx, s.addr, s.user, s.pass, s.target)
}

// benchPath is one way from the client (this process) to the origin.
type benchPath struct {
	key     string // sub-benchmark name
	name    string // table row
	layout  string // processes, in order
	latency bool   // whether new-connection latency is measured
	dial    func(ctx context.Context) (net.Conn, error)
	socks   *socksProxy // the SOCKS5 proxy dial goes through, if any

	probe *benchnet.HTTPSProbe // when latency is measured

	procs []benchPID  // processes whose cost per MB the bulk rounds sample
	cost  []*procCost // what each spent over the measured bulk rounds
	bytes int64       // bulk bytes over the measured rounds

	mbps  []float64       // one per round
	lat   []time.Duration // one per new connection: first echoed byte
	https []time.Duration // one per new connection: TLS handshake and a GET
}

func directPath(origin string) *benchPath {
	var d net.Dialer
	return &benchPath{
		key: "direct", name: "direct TCP", latency: true,
		layout: "client → origin",
		dial:   func(ctx context.Context) (net.Conn, error) { return d.DialContext(ctx, "tcp", origin) },
	}
}

// relayPath starts the bare two-hop relay, one process per stage.
func relayPath(tb testing.TB, bin, cert, key, origin string) *benchPath {
	tb.Helper()
	exit := startBenchproc(tb, bin, "exit", "-cert", cert, "-key", key, "-origin", origin)
	relay := startBenchproc(tb, bin, "relay", "-cert", cert, "-key", key, "-ca", cert, "-next", exit)
	entry := startBenchproc(tb, bin, "entry", "-ca", cert, "-next", relay)
	var d net.Dialer
	return &benchPath{
		key: "relay", name: "bare quic-go relay, 2 hops", latency: true,
		layout: "client → entry (TCP→QUIC) → relay (QUIC→QUIC) → exit (QUIC→TCP) → origin",
		dial:   func(ctx context.Context) (net.Conn, error) { return d.DialContext(ctx, "tcp", entry) },
	}
}

// sshPaths starts sshd and two `ssh -N -D` clients: the default cipher
// (bulk and latency) and aes128-gcm (bulk only: the cipher does not change
// the Nagle delay that dominates a new connection).
func sshPaths(tb testing.TB, dir, origin string) ([]*benchPath, error) {
	tb.Helper()
	t, err := startSSHD(tb, dir)
	if err != nil {
		return nil, err
	}
	def, err := startSSHSOCKS(tb, t, origin, "")
	if err != nil {
		return nil, err
	}
	gcm, err := startSSHSOCKS(tb, t, origin, sshGCM)
	if err != nil {
		return nil, err
	}
	const layout = "client → ssh -N -D (SOCKS5) → sshd (its per-connection child) → origin"
	defProxy := &socksProxy{addr: def.addr, target: origin}
	gcmProxy := &socksProxy{addr: gcm.addr, target: origin}
	return []*benchPath{
		{key: "ssh", name: "ssh -N -D (" + short(def.cipher) + ", default)", latency: true, layout: layout, dial: defProxy.dial, socks: defProxy},
		{key: "ssh-aes128gcm", name: "ssh -N -D -c " + short(gcm.cipher), layout: layout, dial: gcmProxy.dial, socks: gcmProxy},
	}, nil
}

// short drops OpenSSH's vendor suffix from a cipher name.
func short(cipher string) string { return strings.TrimSuffix(cipher, "@openssh.com") }

// airlockPath starts the real daemon, edge and connector through the
// adapter startAirlock.
func airlockPath(tb testing.TB, origin string) (*benchPath, *testenv.Buffer, error) {
	tb.Helper()
	log := &testenv.Buffer{}
	ctx, cancel := context.WithTimeout(tb.Context(), 10*time.Minute)
	defer cancel()
	s, err := startAirlock(ctx, tb, origin, log)
	if err != nil {
		return nil, log, err
	}
	proxy := &socksProxy{addr: s.SOCKSAddr, user: s.User, pass: s.Pass, target: s.Target}
	return &benchPath{
		key: "airlock", name: "airlock", latency: true,
		layout: "client → airlock daemon (SOCKS5) → airlock-edge → airlock-connector → origin",
		dial:   proxy.dial, socks: proxy, procs: s.Procs,
	}, log, nil
}

// runRounds warms every path up, then runs cfg.rounds rounds; in each, every
// path (in an order rotated by one per round) does one bulk transfer and its
// share of sequential new connections.
func runRounds(ctx context.Context, cfg benchConfig, paths []*benchPath) error {
	buf := make([]byte, 256<<10)
	for _, p := range paths {
		if _, err := p.bulk(ctx, min(cfg.bytes, 8<<20), buf); err != nil {
			return fmt.Errorf("%s: warm-up: %w", p.name, err)
		}
		if !p.latency {
			continue
		}
		if _, err := p.connect(ctx, 10, p.echo); err != nil {
			return fmt.Errorf("%s: warm-up: %w", p.name, err)
		}
		if _, err := p.connect(ctx, 10, p.get); err != nil {
			return fmt.Errorf("%s: warm-up: %w", p.name, err)
		}
	}
	perRound := (cfg.conns + cfg.rounds - 1) / cfg.rounds
	for r := range cfg.rounds {
		fmt.Fprintf(os.Stderr, "bench: round %d of %d\n", r+1, cfg.rounds)
		for i := range paths {
			p := paths[(i+r)%len(paths)]
			before := sampleProcs(p.procs)
			mbps, err := p.bulk(ctx, cfg.bytes, buf)
			if err != nil {
				return fmt.Errorf("%s: round %d: %w", p.name, r+1, err)
			}
			p.addCost(before, sampleProcs(p.procs), cfg.bytes)
			p.mbps = append(p.mbps, mbps)
			if !p.latency {
				continue
			}
			ds, err := p.connect(ctx, perRound, p.echo)
			if err != nil {
				return fmt.Errorf("%s: round %d: echo: %w", p.name, r+1, err)
			}
			p.lat = append(p.lat, ds...)
			if ds, err = p.connect(ctx, perRound, p.get); err != nil {
				return fmt.Errorf("%s: round %d: https: %w", p.name, r+1, err)
			}
			p.https = append(p.https, ds...)
		}
	}
	return nil
}

// bulk downloads n bytes from the origin on a new connection and returns
// MB/s (10⁶ bytes), timed from the request to the last byte.
func (p *benchPath) bulk(ctx context.Context, n int64, buf []byte) (float64, error) {
	return timedBulk(ctx, 10*time.Second+time.Duration(n/2e6)*time.Second, p.dial, benchnet.Bulk, n, buf)
}

// timedBulk runs get (benchnet.Bulk or BulkIntact) for n bytes on a new
// connection from dial, within limit, and returns MB/s (10⁶ bytes), timed
// from the request to the last byte.
func timedBulk(ctx context.Context, limit time.Duration, dial func(context.Context) (net.Conn, error),
	get func(context.Context, net.Conn, int64, []byte) error, n int64, buf []byte) (float64, error) {
	ctx, cancel := context.WithTimeout(ctx, limit)
	defer cancel()
	c, err := dial(ctx)
	if err != nil {
		return 0, err
	}
	defer c.Close()
	start := time.Now()
	if err := get(ctx, c, n, buf); err != nil {
		return 0, err
	}
	return float64(n) / 1e6 / time.Since(start).Seconds(), nil
}

// connect runs probe count times, one after another, each on a new
// connection, and returns how long each took.
func (p *benchPath) connect(ctx context.Context, count int, probe func(context.Context) error) ([]time.Duration, error) {
	ds := make([]time.Duration, 0, count)
	for range count {
		ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		start := time.Now()
		err := probe(ctx)
		d := time.Since(start)
		cancel()
		if err != nil {
			return nil, fmt.Errorf("new connection %d: %w", len(ds)+1, err)
		}
		ds = append(ds, d)
	}
	return ds, nil
}

// echo is the new-connection probe the targets are set for: from the start
// of the TCP connect (and SOCKS5 handshake, if any) to the first echoed
// byte.
func (p *benchPath) echo(ctx context.Context) error {
	c, err := p.dial(ctx)
	if err != nil {
		return err
	}
	defer c.Close()
	return benchnet.Echo(ctx, c)
}

// get is what an HTTPS client like kubectl waits for on a new connection:
// connect, TLS handshake with the origin, one GET and its answer.
func (p *benchPath) get(ctx context.Context) error { return p.probe.Get(ctx) }

func (p *benchPath) throughput() float64 { return benchnet.Median(p.mbps) }

func ms(d time.Duration) float64 { return float64(d) / 1e6 }

// reportMetrics reports the path's figures as benchmark metrics.
func (p *benchPath) reportMetrics(b *testing.B, paths []*benchPath) {
	b.ReportMetric(0, "ns/op") // the work happened in the parent, interleaved
	b.ReportMetric(p.throughput(), "MB/s")
	if base := find(paths, "relay"); base != nil {
		b.ReportMetric(p.throughput()/base.throughput(), "x-relay-MB/s")
	}
	if base := find(paths, "direct"); base != nil {
		b.ReportMetric(p.throughput()/base.throughput(), "x-direct-MB/s")
	}
	if p.latency {
		b.ReportMetric(ms(benchnet.Percentile(p.lat, 50)), "p50-ms")
		b.ReportMetric(ms(benchnet.Percentile(p.lat, 99)), "p99-ms")
		b.ReportMetric(ms(benchnet.Percentile(p.https, 50)), "https-p50-ms")
		b.ReportMetric(ms(benchnet.Percentile(p.https, 99)), "https-p99-ms")
	}
}

func find(paths []*benchPath, key string) *benchPath {
	for _, p := range paths {
		if p.key == key {
			return p
		}
	}
	return nil
}

func tailOf(s string) string {
	if len(s) > 8000 {
		return "…" + s[len(s)-8000:]
	}
	return s
}
