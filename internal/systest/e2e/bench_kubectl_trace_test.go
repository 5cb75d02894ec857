package e2e

import (
	"context"
	"fmt"
	"io"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/airlockhq/airlock/internal/systest/e2e/internal/benchnet"
	"github.com/airlockhq/airlock/internal/systest/stack"
)

// traceRuns is how many traced kubectl runs each path gets.
const traceRuns = 5

// kubectlTrace is what one path's traced `kubectl get ns` runs did on the
// wire, seen by a benchnet.Tap in front of the apiserver (direct) or of
// the daemon's SOCKS5 listener (Airlock).
type kubectlTrace struct {
	p    *kubectlPath
	runs [][]benchnet.TapConn // one per run
	wall []time.Duration
	fork []time.Time // each run's start
}

// traceKubectl runs `kubectl get ns` traceRuns times per path (direct,
// Airlock with proxy-url, Airlock with HTTPS_PROXY), interleaved, each
// through a tap, and returns what each did: how many TCP connections it
// opened, how many carried a TLS ClientHello (a full handshake), their
// bytes and their lifetimes.
//
// This is where the extra time of `kubectl get` through Airlock comes
// from: kubectl makes two requests (GET /version for the discovery
// client's server version, then the list), and client-go shares one
// cached http.Transport between its clients only when the rest.Config has
// no Proxy function (k8s.io/client-go/transport/cache.go, tlsConfigKey:
// "cannot determine equality for functions"). A kubeconfig proxy-url sets
// one, so each client builds its own transport and dials its own
// connection: two SOCKS5 connections, two tunnel streams and two TLS
// handshakes where direct has one connection and one handshake. With the
// same proxy named by HTTPS_PROXY (http.ProxyFromEnvironment, no Proxy
// function in the config) kubectl is back to one connection.
func traceKubectl(ctx context.Context, bin, dir string, s *stack.Stack, paths []*kubectlPath) ([]*kubectlTrace, error) {
	var traces []*kubectlTrace
	var taps []*benchnet.Tap
	defer func() {
		for _, t := range taps {
			t.Close()
		}
	}()
	for _, p := range paths {
		tp := &kubectlPath{key: p.key, name: p.name, home: p.home, env: p.env,
			kubeconfig: filepath.Join(dir, "trace-"+p.key+".kubeconfig")}
		var err error
		var tap *benchnet.Tap
		switch p.key {
		case "direct":
			u, perr := url.Parse(s.KubeAPI.URL)
			if perr != nil {
				return nil, perr
			}
			if tap, err = benchnet.NewTap(ctx, u.Host); err != nil {
				return nil, err
			}
			err = copyReplacing(p.kubeconfig, tp.kubeconfig, u.Host, tap.Addr())
		case "airlock":
			if tap, err = benchnet.NewTap(ctx, s.SOCKSAddr); err != nil {
				return nil, err
			}
			err = copyReplacing(p.kubeconfig, tp.kubeconfig, s.SOCKSAddr, tap.Addr())
		case "airlock-env":
			if tap, err = benchnet.NewTap(ctx, s.SOCKSAddr); err != nil {
				return nil, err
			}
			tp.env = []string{"HTTPS_PROXY=" + strings.Replace(s.ProxyURL(), s.SOCKSAddr, tap.Addr(), 1)}
			err = copyReplacing(p.kubeconfig, tp.kubeconfig, "", "")
		default:
			continue // ssh: its own proxy, not traced
		}
		if err != nil {
			return nil, err
		}
		taps = append(taps, tap)
		traces = append(traces, &kubectlTrace{p: tp})
	}
	for r := range traceRuns {
		for i := range traces {
			t := traces[(i+r)%len(traces)]
			tap := taps[(i+r)%len(traces)]
			start := time.Now()
			d, err := t.p.getNS(ctx, bin)
			if err != nil {
				return nil, fmt.Errorf("%s: traced run %d: %w", t.p.name, r+1, err)
			}
			conns, err := tap.Take(ctx)
			if err != nil {
				return nil, err
			}
			t.runs, t.wall, t.fork = append(t.runs, conns), append(t.wall, d), append(t.fork, start)
		}
	}
	return traces, nil
}

// copyReplacing copies a kubeconfig, replacing the first old with new.
func copyReplacing(from, to, old, new string) error {
	b, err := os.ReadFile(from)
	if err != nil {
		return err
	}
	if old != "" {
		if !strings.Contains(string(b), old) {
			return fmt.Errorf("%s does not name %s", from, old)
		}
		b = []byte(strings.Replace(string(b), old, new, 1))
	}
	return os.WriteFile(to, b, 0o600)
}

// replaceInFile replaces the first old with new in a file.
func replaceInFile(path, old, new string) error { return copyReplacing(path, path, old, new) }

// printTraces writes one line per path: the connections and handshakes of
// a run (the same in every run, or the range), bytes, and when each
// connection opened and how long it lasted, as medians over the runs.
func printTraces(w io.Writer, traces []*kubectlTrace) {
	fmt.Fprintf(w, "trace: %d more `kubectl get ns` runs per path, each through a TCP tap in front of the apiserver (direct) or the daemon's SOCKS5 listener\n", traceRuns)
	const row = "%-36s %8s %6s %11s %13s   %s\n"
	fmt.Fprintf(w, row, "path", "wall ms", "conns", "TLS hellos", "bytes ↑/↓", "each connection: opened at → closed at, ms after the fork (median)")
	for _, t := range traces {
		conns, hellos := counts(t.runs, func(benchnet.TapConn) bool { return true }), counts(t.runs, func(c benchnet.TapConn) bool { return c.ClientHello })
		var up, down []float64
		for _, r := range t.runs {
			var u, d int64
			for _, c := range r {
				u, d = u+c.Up, d+c.Down
			}
			up, down = append(up, float64(u)), append(down, float64(d))
		}
		var spans []string
		for i := range maxLen(t.runs) {
			var open, closed []time.Duration
			for j, r := range t.runs {
				if i < len(r) {
					open, closed = append(open, r[i].Opened.Sub(t.fork[j])), append(closed, r[i].Closed.Sub(t.fork[j]))
				}
			}
			spans = append(spans, fmt.Sprintf("#%d %s → %s", i+1, pct(open, 50), pct(closed, 50)))
		}
		fmt.Fprintf(w, row, t.p.name, pct(t.wall, 50), conns, hellos,
			fmt.Sprintf("%.0f/%.0f", benchnet.Median(up), benchnet.Median(down)), strings.Join(spans, "; "))
	}
	fmt.Fprintln(w, "(client-go shares one transport between kubectl's clients only without a Proxy function: proxy-url makes each client dial its own)")
	fmt.Fprintln(w)
}

// counts is how many connections of a run match, as "n" or "lo–hi".
func counts(runs [][]benchnet.TapConn, match func(benchnet.TapConn) bool) string {
	lo, hi := -1, 0
	for _, r := range runs {
		n := 0
		for _, c := range r {
			if match(c) {
				n++
			}
		}
		if lo < 0 || n < lo {
			lo = n
		}
		hi = max(hi, n)
	}
	if lo == hi {
		return fmt.Sprint(lo)
	}
	return fmt.Sprintf("%d–%d", lo, hi)
}

func maxLen(runs [][]benchnet.TapConn) int {
	n := 0
	for _, r := range runs {
		n = max(n, len(r))
	}
	return n
}
