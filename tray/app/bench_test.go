package app_test

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/airlockhq/airlock/daemon/client"
	"github.com/airlockhq/airlock/internal/testenv"
	"github.com/airlockhq/airlock/tray/traytest"
)

// BenchmarkTrayStart measures the budget "tray start to icon registered ≤
// 300 ms": from starting the tray process to its RegisterStatusNotifierItem
// call on the test's watcher (ms/start). A budget, not a timed test: it
// reports and never fails on time.
func BenchmarkTrayStart(b *testing.B) {
	bus := traytest.StartBus(b)
	watcher := bus.OwnWatcher(b)
	d := startRefusingDaemonB(b)
	env, _ := sandbox(b)
	env = bus.Env(env)
	var total time.Duration
	for i := 0; i < b.N; i++ {
		p := &proc{cmd: exec.Command(os.Args[0], "tray", "--socket", d.Socket, "--no-start"), out: &testenv.Buffer{}, exited: make(chan struct{})}
		p.cmd.Env = append(env, "GORACE=exitcode=0")
		p.cmd.Stdout, p.cmd.Stderr = p.out, p.out
		start := time.Now()
		if err := p.cmd.Start(); err != nil {
			b.Fatal(err)
		}
		reg := watcher.Next(b, 20*time.Second)
		total += reg.At.Sub(start)
		p.cmd.Process.Signal(syscall.SIGTERM)
		p.cmd.Wait()
	}
	b.ReportMetric(float64(total.Milliseconds())/float64(b.N), "ms/start")
	b.ReportMetric(0, "ns/op")
}

// BenchmarkDaemonIdle measures the daemon's idle budgets: RSS (≤ 30 MB)
// and wake-ups, as context switches over an idle interval, of a real
// `airlock daemon` process serving a few clusters. It reports and never
// fails on the numbers.
func BenchmarkDaemonIdle(b *testing.B) {
	env, dir := sandbox(b)
	cfg := filepath.Join(dir, "config.yaml")
	var sb strings.Builder
	sb.WriteString("edges:\n  - name: main\n    address: 127.0.0.1:9\nclusters:\n")
	for i := 0; i < 4; i++ {
		fmt.Fprintf(&sb, "  - name: c%d\n    app: k8s.c%d.example.com\n    token: t\n    listen: 127.0.0.1:0\n", i, i)
	}
	os.WriteFile(cfg, []byte(sb.String()), 0o600)
	sock := filepath.Join(dir, "run", "d.sock")
	p := startAirlock(b, env, "daemon", "--config", cfg, "--socket", sock)
	c := &client.Client{Socket: sock}
	testenv.Eventually(b, "the daemon to bring its clusters up and try its edge", func() bool {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		st, err := c.Status(ctx)
		// Idle means after the first dial of the (unreachable) edge has given
		// up: a QUIC handshake in progress retransmits on its own timers.
		return err == nil && len(st.Clusters) == 4 && st.Clusters[3].ProxyURL != "" &&
			len(st.Edges) == 1 && st.Edges[0].Error != ""
	})
	pid := p.cmd.Process.Pid
	time.Sleep(2 * time.Second) // settle: this is the measurement, not synchronisation
	b.ResetTimer()
	var rss, switches float64
	const idle = 5 * time.Second
	for i := 0; i < b.N; i++ {
		before := procStatus(b, pid)
		time.Sleep(idle)
		after := procStatus(b, pid)
		rss = after["VmRSS"] / 1024
		switches += (after["voluntary_ctxt_switches"] + after["nonvoluntary_ctxt_switches"]) -
			(before["voluntary_ctxt_switches"] + before["nonvoluntary_ctxt_switches"])
	}
	b.ReportMetric(rss, "MB-rss")
	b.ReportMetric(switches/float64(b.N)/idle.Seconds(), "wakeups/s")
	b.ReportMetric(0, "ns/op")
	if rss > 30 {
		b.Logf("over budget: idle RSS %.1f MB > 30 MB (a race-instrumented build is ~2-3x larger; run without -race)", rss)
	}
}

// procStatus reads the numeric fields of /proc/PID/status (kB for VmRSS)
// summed over the process's threads for the context switches.
func procStatus(tb testing.TB, pid int) map[string]float64 {
	tb.Helper()
	out := map[string]float64{}
	read := func(path string, only func(string) bool) {
		b, err := os.ReadFile(path)
		if err != nil {
			tb.Fatalf("read %s: %v", path, err)
		}
		for _, line := range strings.Split(string(b), "\n") {
			k, v, ok := strings.Cut(line, ":")
			if !ok || !only(k) {
				continue
			}
			f := strings.Fields(v)
			if len(f) == 0 {
				continue
			}
			if n, err := strconv.ParseFloat(f[0], 64); err == nil {
				out[k] += n
			}
		}
	}
	read(fmt.Sprintf("/proc/%d/status", pid), func(k string) bool { return k == "VmRSS" })
	tasks, _ := filepath.Glob(fmt.Sprintf("/proc/%d/task/*/status", pid))
	for _, t := range tasks {
		read(t, func(k string) bool { return strings.HasSuffix(k, "ctxt_switches") })
	}
	return out
}
