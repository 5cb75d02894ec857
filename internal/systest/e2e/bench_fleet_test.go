package e2e

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/airlockhq/airlock/internal/systest/pgtest"
	"github.com/airlockhq/airlock/internal/systest/stack"
	"github.com/airlockhq/airlock/internal/testenv"
)

// BenchmarkFleetLoad is `make bench-fleet`, issue 12's load: a fleet of
// three real airlock-edge processes on one real PostgreSQL, two
// connectors (each with its HA connections to every edge) and an echo
// origin (benchproc). A load process of its own (this test binary again;
// bench_fleet_loader_test.go) dials the edges directly with edgeclient,
// as the daemon does but without its SOCKS5 listener in the way, and
// presents a service token the stack minted on every stream, so each
// stream is checked (token, policy) at the edge as a signed-in user's
// is. It authenticates its source at each edge first, then spreads
// AIRLOCK_FLEET_STREAMS (10000) streams over AIRLOCK_FLEET_CONNS (4)
// connections per edge, at most AIRLOCK_FLEET_INFLIGHT (32) opens at a
// time per connection; each stream echoes a few bytes through the origin
// and then stays open until all are open; at the end each echoes again
// (it lived through the hold) and closes. Any failed stream fails the
// benchmark.
//
// It reports, per edge, the streams it carried, its peak RSS (VmHWM,
// reset before the load) in all and above its idle VmRSS (issue 12's
// target: ≤ 300 MB per edge) and its CPU seconds while the streams
// opened; and in all the streams opened, the errors, new streams per
// second (wall clock, on this machine's cores shared by every process of
// the fleet) and new streams per second per edge core (streams divided
// by the edges' CPU seconds: what one core of edge serves, the check
// included). Run it with -benchtime 1x.
func BenchmarkFleetLoad(b *testing.B) {
	if runLoader(b) {
		return
	}
	cfg := loadConfig{
		Streams:      envInt(b, "AIRLOCK_FLEET_STREAMS", 10_000),
		ConnsPerEdge: envInt(b, "AIRLOCK_FLEET_CONNS", 4),
		InFlight:     envInt(b, "AIRLOCK_FLEET_INFLIGHT", 32),
	}
	load := loadAverage()
	ctx := testenv.Context(b)
	dir := b.TempDir()
	pg := pgtest.Start(ctx, b)
	urlFile := filepath.Join(dir, "store-url")
	if err := os.WriteFile(urlFile, []byte(pg.NewDatabase(ctx, b)+"\n"), 0o600); err != nil {
		b.Fatal(err)
	}
	origin := startBenchproc(b, testenv.BuildBinary(b, "./internal/benchproc"), "origin", "-listen", "127.0.0.1:0")
	f := startFleet(b, stack.Options{Dir: filepath.Join(dir, "stack"), Origin: origin}, stack.FleetOptions{StoreURLFile: urlFile, Edges: 3})
	second, _, err := f.StartConnectorInstance(ctx)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() {
		if err := second.Stop(15 * time.Second); err != nil {
			b.Errorf("second connector: %v", err)
		}
	})
	for _, e := range f.Edges {
		testenv.Eventually(b, "both connectors at edge "+e.ID, func() error {
			h, err := health(e.Admin)
			if err != nil {
				return err
			}
			if tun := h.Tunnels[stack.DefaultTunnel]; len(tun.Connectors) != 2 {
				return fmt.Errorf("edge %s: %d connectors, want 2", e.ID, len(tun.Connectors))
			}
			return nil
		})
	}
	cfg.ServerName, cfg.CAFile = stack.EdgeServerName, filepath.Join(f.EdgeDir, "ca.crt")
	cfg.App, cfg.Token, cfg.Target = f.App, f.Token, f.Origin
	for _, e := range f.Edges {
		cfg.Edges = append(cfg.Edges, e.Addr)
	}
	ld := startLoader(b, dir, cfg)
	if _, err := ld.await("dialed"); err != nil {
		b.Fatal(err)
	}

	edges := make([]*edgeLoad, len(f.Edges))
	for i, e := range f.Edges {
		edges[i] = &edgeLoad{id: e.ID, pid: e.Process.PID()}
		if err := edges[i].start(); err != nil {
			b.Fatal(err)
		}
	}
	conns := []int{f.Connector.PID(), second.PID()}
	connCPU0 := cpuOf(b, conns...)
	loaderCPU0 := cpuOf(b, ld.cmd.Process.Pid)
	samplerDone := make(chan struct{})
	var sampler sync.WaitGroup
	sampler.Go(func() {
		t := time.NewTicker(50 * time.Millisecond)
		defer t.Stop()
		for {
			for _, e := range edges {
				e.sample()
			}
			select {
			case <-samplerDone:
				return
			case <-t.C:
			}
		}
	})
	ld.send("open")
	held, err := ld.await("held")
	if err != nil {
		b.Fatal(err)
	}
	close(samplerDone)
	sampler.Wait() // before stop, which reads the samples
	for _, e := range edges {
		if err := e.stop(); err != nil {
			b.Fatal(err)
		}
	}
	connCPU := cpuOf(b, conns...) - connCPU0
	loaderCPU := cpuOf(b, ld.cmd.Process.Pid) - loaderCPU0
	ld.send("close")
	closed, err := ld.await("closed")
	if err != nil {
		b.Fatal(err)
	}
	if err := ld.wait(); err != nil {
		b.Fatalf("the load process: %v\n%s", err, strings.Join(ld.tail, "\n"))
	}
	for _, e := range f.Edges {
		if e.Process.Exited() {
			b.Fatalf("edge %s exited during the load:\n%s", e.ID, tailOf(e.Process.Output()))
		}
	}

	// held: OK ERRS MS OK-per-edge…; closed: OK ERRS.
	opened, openErrs, openMS := held[0], held[1], held[2]
	for i, e := range edges {
		e.streams = held[3+i]
	}
	echoedAfter, closeErrs := closed[0], closed[1]
	var edgeCPU time.Duration
	for _, e := range edges {
		edgeCPU += e.cpu
	}
	openTime := time.Duration(openMS) * time.Millisecond
	rate := float64(opened) / openTime.Seconds()
	perCore := float64(opened) / edgeCPU.Seconds()

	fmt.Fprintf(os.Stdout, "\nfleet load: %d streams held at once over %d edges (one PostgreSQL), 2 connectors, %d connections per edge from one load process, %d opens in flight per connection\n",
		cfg.Streams, len(edges), cfg.ConnsPerEdge, cfg.InFlight)
	for _, e := range edges {
		fmt.Fprintf(os.Stdout, "  edge %s: %d streams; RSS idle %.1f MB, peak %.1f MB, peak above idle %.1f MB (target ≤ 300 MB; largest sample %.1f MB); CPU %.2f s while they opened\n",
			e.id, e.streams, mb(e.idle), mb(e.peak), mb(e.peak-e.idle), mb(e.sampled), e.cpu.Seconds())
	}
	fmt.Fprintf(os.Stdout, "  streams: %d opened and echoed in %.2f s, %d errors; %d echoed again after the hold and closed, %d errors\n",
		opened, openTime.Seconds(), openErrs, echoedAfter, closeErrs)
	fmt.Fprintf(os.Stdout, "  new streams: %.0f/s on this machine (%d cores shared by every process); %.0f/s per edge core (%d streams / %.2f edge CPU s, the per-stream check included)\n",
		rate, runtime.NumCPU(), perCore, opened, edgeCPU.Seconds())
	fmt.Fprintf(os.Stdout, "  CPU while the streams opened: edges %.2f s, connectors %.2f s, load process %.2f s\n",
		edgeCPU.Seconds(), connCPU.Seconds(), loaderCPU.Seconds())
	fmt.Fprintf(os.Stdout, "  load average (1, 5, 15 min) at the start and the end: %s → %s\n\n", load, loadAverage())

	b.ReportMetric(0, "ns/op")
	for _, e := range edges {
		b.ReportMetric(mb(e.peak), "edge-"+e.id+"-peak-rss-MB")
		b.ReportMetric(mb(e.peak-e.idle), "edge-"+e.id+"-peak-rss-above-idle-MB")
		b.ReportMetric(e.cpu.Seconds(), "edge-"+e.id+"-cpu-s")
	}
	b.ReportMetric(float64(opened), "streams")
	b.ReportMetric(float64(openErrs+closeErrs), "errors")
	b.ReportMetric(rate, "streams/s")
	b.ReportMetric(perCore, "streams/s/edge-core")
	if openErrs+closeErrs > 0 || opened != int64(cfg.Streams) || echoedAfter != opened {
		for _, e := range f.Edges {
			b.Logf("edge %s output tail:\n%s", e.ID, tailOf(e.Process.Output()))
		}
		b.Logf("connector output tails:\n%s\n%s", tailOf(f.Connector.Output()), tailOf(second.Output()))
		b.Fatalf("%d of %d streams failed to open, %d failed after the hold; the first errors:\n%s\nthe load process's last lines:\n%s",
			openErrs, cfg.Streams, closeErrs, strings.Join(ld.errs, "\n"), strings.Join(ld.tail, "\n"))
	}
}

// edgeLoad is one edge's figures.
type edgeLoad struct {
	id      string
	pid     int
	streams int64
	idle    int64 // VmRSS before the load, kB
	peak    int64 // VmHWM after it, kB
	sampled int64 // the largest VmRSS sampled, kB
	reset   bool  // VmHWM was reset before the load
	cpu0    time.Duration
	cpu     time.Duration // while the streams opened
}

// start notes the edge's idle RSS and CPU and resets its peak RSS.
func (e *edgeLoad) start() (err error) {
	if e.idle, err = procStatusKB(e.pid, "VmRSS"); err != nil {
		return err
	}
	e.reset = os.WriteFile(fmt.Sprintf("/proc/%d/clear_refs", e.pid), []byte("5"), 0) == nil
	e.cpu0, err = procCPU(e.pid)
	return err
}

// sample notes the edge's RSS now; it runs on the sampler's goroutine
// only, which has ended before stop.
func (e *edgeLoad) sample() {
	if kb, err := procStatusKB(e.pid, "VmRSS"); err == nil && kb > e.sampled {
		e.sampled = kb
	}
}

// stop notes the edge's CPU since start and its peak RSS, with every
// stream open.
func (e *edgeLoad) stop() error {
	cpu, err := procCPU(e.pid)
	if err != nil {
		return err
	}
	e.cpu = cpu - e.cpu0
	if e.peak, err = procStatusKB(e.pid, "VmHWM"); err != nil {
		return err
	}
	if !e.reset { // VmHWM includes start-up: the sampler's peak, and now
		e.peak = e.sampled
		if now, err := procStatusKB(e.pid, "VmRSS"); err == nil {
			e.peak = max(e.peak, now)
		}
	}
	return nil
}

func mb(kb int64) float64 { return float64(kb) / 1024 }

// cpuOf is the user+system CPU of the processes so far.
func cpuOf(tb testing.TB, pids ...int) time.Duration {
	tb.Helper()
	var sum time.Duration
	for _, pid := range pids {
		d, err := procCPU(pid)
		if err != nil {
			tb.Fatal(err)
		}
		sum += d
	}
	return sum
}

// loaderProcess is the load process and the lines it reports.
type loaderProcess struct {
	cmd   *exec.Cmd
	stdin io.WriteCloser
	lines chan string // its report lines, prefix removed
	done  chan struct{}
	tail  []string // its last lines of output, once done
	errs  []string // its error lines, once done
}

// startLoader writes cfg where only this user can read it (it holds the
// service token) and starts the load process.
func startLoader(tb testing.TB, dir string, cfg loadConfig) *loaderProcess {
	tb.Helper()
	raw, err := json.Marshal(cfg)
	if err != nil {
		tb.Fatal(err)
	}
	path := filepath.Join(dir, "fleet-load.json")
	if err := os.WriteFile(path, raw, 0o600); err != nil {
		tb.Fatal(err)
	}
	cmd := exec.CommandContext(testenv.Context(tb), os.Args[0], "-test.run=^$", "-test.bench=^BenchmarkFleetLoad$", "-test.benchtime=1x")
	cmd.Env = append(os.Environ(), loaderEnv+"="+path)
	p := &loaderProcess{cmd: cmd, lines: make(chan string, 16), done: make(chan struct{})}
	if p.stdin, err = cmd.StdinPipe(); err != nil {
		tb.Fatal(err)
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		tb.Fatal(err)
	}
	cmd.Stderr = cmd.Stdout
	if err := cmd.Start(); err != nil {
		tb.Fatalf("start the load process: %v", err)
	}
	go func() {
		defer close(p.done)
		defer close(p.lines)
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			line := sc.Text()
			p.tail = append(p.tail[max(0, len(p.tail)-19):], line)
			rest, ok := strings.CutPrefix(line, loaderPrefix)
			switch {
			case ok && strings.HasPrefix(rest, "error "):
				p.errs = append(p.errs, rest)
			case ok:
				p.lines <- rest
			}
		}
	}()
	tb.Cleanup(func() {
		p.stdin.Close()
		<-p.done
		_ = cmd.Wait()
	})
	return p
}

func (p *loaderProcess) send(cmd string) { fmt.Fprintln(p.stdin, cmd) }

// await returns the numbers of the load process's next report line,
// which must be the step named.
func (p *loaderProcess) await(step string) ([]int64, error) {
	line, ok := <-p.lines
	if !ok {
		<-p.done
		return nil, fmt.Errorf("the load process ended before %q: %v\n%s", step, p.cmd.Wait(), strings.Join(p.tail, "\n"))
	}
	f := strings.Fields(line)
	if len(f) == 0 || f[0] != step {
		return nil, fmt.Errorf("the load process reported %q, want %q", line, step)
	}
	out := make([]int64, len(f)-1)
	for i, v := range f[1:] {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			return nil, fmt.Errorf("the load process reported %q: %w", line, err)
		}
		out[i] = n
	}
	return out, nil
}

// wait closes the load process's stdin and waits for its exit.
func (p *loaderProcess) wait() error {
	p.stdin.Close()
	<-p.done
	return p.cmd.Wait()
}
