package e2e

import (
	"fmt"
	"io"
	"os"
	"runtime"
	"slices"
	"strings"
	"time"

	"github.com/airlockhq/airlock/internal/systest/e2e/internal/benchnet"
)

// Targets for the Airlock path: issue 2's (against the bare relay) and
// issue 14's (against `ssh -N -D` with its default cipher, and direct).
const (
	targetVsRelay   = 0.8
	targetVsSSH     = 0.5 // issue 14's floor; its goal is 1.0
	goalVsSSH       = 1.0
	targetP50       = time.Millisecond
	targetP99       = 2 * time.Millisecond // issue 14's; issue 2 said 3 ms
	targetHTTPSOver = time.Millisecond     // TLS handshake + GET, over direct's p50
)

// printReport writes the run's settings, the process layout of each path,
// the table of figures and ratios, and the Airlock targets.
func printReport(w io.Writer, cfg benchConfig, load string, paths []*benchPath, notes []string) {
	procs := "unset (= CPUs)"
	if v := os.Getenv("GOMAXPROCS"); v != "" {
		procs = v
	}
	perRound := (cfg.conns + cfg.rounds - 1) / cfg.rounds
	fmt.Fprintf(w, "\nmake bench — loopback only; %d CPUs; %s; GOMAXPROCS %s in every Go process\n",
		runtime.NumCPU(), runtime.Version(), procs)
	fmt.Fprintf(w, "load average (1, 5, 15 min) at the start and the end: %s → %s; figures from a busy machine drift, compare ratios\n",
		load, loadAverage())
	fmt.Fprintf(w, "bulk: %s (%.1f MB) downloaded per round, MB = 10⁶ bytes, median of %d interleaved rounds\n",
		sizeString(cfg.bytes), float64(cfg.bytes)/1e6, cfg.rounds)
	fmt.Fprintf(w, "new connection, %d sequential per path (%d a round), from the start of the TCP connect (+ SOCKS5 handshake where there is one):\n",
		perRound*cfg.rounds, perRound)
	fmt.Fprintln(w, "  echo:  to the first echoed byte (the figure the targets are for)")
	fmt.Fprintln(w, "  https: through a TLS 1.3 handshake with the origin and one HTTP/1.1 GET, with net/http's client and,")
	fmt.Fprintln(w, "         for SOCKS5 paths, its own SOCKS5 client, as kubectl with proxy-url: socks5://… does")
	fmt.Fprintf(w, "\nprocess layout (each hop its own process; the client is the benchmark process):\n")
	for _, p := range paths {
		fmt.Fprintf(w, "  %-38s %s\n", p.name, p.layout)
	}
	if find(paths, "ssh") != nil {
		fmt.Fprintln(w, "  ssh form: `ssh -N -D` as people run it (no tty, so sshd leaves Nagle on); ciphers as negotiated (@openssh.com)")
	}

	relay, direct := find(paths, "relay"), find(paths, "direct")
	const row = "%-38s %7s %11s %6s %7s │ %6s %6s │ %6s %6s\n"
	fmt.Fprintf(w, "\n%-38s %7s %11s %6s %7s │ %13s │ %13s\n", "", "bulk", "", "", "", "echo, ms", "https, ms")
	fmt.Fprintf(w, row, "path", "MB/s", "min–max", "×relay", "×direct", "p50", "p99", "p50", "p99")
	for _, p := range paths {
		lo, hi := slices.Min(p.mbps), slices.Max(p.mbps)
		lat := []string{"—", "—", "—", "—"}
		if p.latency {
			lat = []string{pct(p.lat, 50), pct(p.lat, 99), pct(p.https, 50), pct(p.https, 99)}
		}
		fmt.Fprintf(w, row, p.name, mbps(p.throughput()), mbps(lo)+"–"+mbps(hi),
			ratio(p, relay), ratio(p, direct), lat[0], lat[1], lat[2], lat[3])
	}
	for _, n := range notes {
		fmt.Fprintf(w, "not measured: %s\n", n)
	}

	fmt.Fprintln(w)
	a := find(paths, "airlock")
	if a == nil || relay == nil {
		fmt.Fprintf(w, "airlock targets (throughput ≥ %.1f× the bare relay, p50 ≤ %v, p99 ≤ %v): not checked, airlock was not measured\n\n",
			targetVsRelay, targetP50, targetP99)
		return
	}
	vs := a.throughput() / relay.throughput()
	p50, p99 := benchnet.Percentile(a.lat, 50), benchnet.Percentile(a.lat, 99)
	fmt.Fprintf(w, "airlock / bare relay throughput: %.2f (target ≥ %.1f: %s)\n", vs, targetVsRelay, verdict(vs >= targetVsRelay))
	fmt.Fprintf(w, "airlock new connection (echo) p50: %.2f ms (target ≤ %v: %s)\n", ms(p50), targetP50, verdict(p50 <= targetP50))
	fmt.Fprintf(w, "airlock new connection (echo) p99: %.2f ms (target ≤ %v: %s)\n", ms(p99), targetP99, verdict(p99 <= targetP99))
	if ssh := find(paths, "ssh"); ssh != nil {
		vs := a.throughput() / ssh.throughput()
		fmt.Fprintf(w, "airlock / ssh -N -D (default cipher) throughput: %.2f (floor ≥ %.1f: %s; goal ≥ %.1f: %s)\n",
			vs, targetVsSSH, verdict(vs >= targetVsSSH), goalVsSSH, verdict(vs >= goalVsSSH))
	}
	if direct != nil && direct.latency && a.latency {
		over := benchnet.Percentile(a.https, 50) - benchnet.Percentile(direct.https, 50)
		fmt.Fprintf(w, "airlock TLS handshake + GET p50 over direct: %+.2f ms (target ≤ %v: %s)\n",
			ms(over), targetHTTPSOver, verdict(over <= targetHTTPSOver))
	}
	fmt.Fprintln(w, "airlock when issue 14 was filed (same bench, one run): bulk 120 MB/s (ssh 408: 0.29×), echo p50 / p99 1.95 / 3.46 ms,")
	fmt.Fprintln(w, "  https p50 / p99 4.47 / 7.06 ms (direct 1.37 / 2.77)")
	fmt.Fprintln(w)
}

// loadAverage returns the first three fields of /proc/loadavg, or "?".
func loadAverage() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "?"
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "?"
	}
	return strings.Join(f[:3], " ")
}

func pct(ds []time.Duration, p float64) string {
	return fmt.Sprintf("%.2f", ms(benchnet.Percentile(ds, p)))
}

func ratio(p, base *benchPath) string {
	if base == nil {
		return "—"
	}
	return fmt.Sprintf("%.2f", p.throughput()/base.throughput())
}

func mbps(x float64) string {
	if x >= 100 {
		return fmt.Sprintf("%.0f", x)
	}
	return fmt.Sprintf("%.1f", x)
}

func verdict(ok bool) string {
	if ok {
		return "met"
	}
	return "MISSED"
}

func sizeString(n int64) string {
	for _, u := range []struct {
		name string
		size int64
	}{{"GiB", 1 << 30}, {"MiB", 1 << 20}, {"KiB", 1 << 10}} {
		if n >= u.size && n%u.size == 0 {
			return fmt.Sprintf("%d %s", n/u.size, u.name)
		}
	}
	return strings.TrimSpace(fmt.Sprintf("%d B", n))
}
