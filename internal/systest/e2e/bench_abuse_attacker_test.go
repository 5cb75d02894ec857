package e2e

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/sync/errgroup"
)

// The flood of BenchmarkAbuseFlood runs in a process of its own (this test
// binary again, with attackerEnv set), as an attacker and kubectl would:
// in one process the user's probe goroutines waited in the Go scheduler's
// run queue behind a thousand attacker goroutines building ClientHellos,
// a delay of the harness that no change to the edge could remove. The
// attacker keeps every core it had; the kernel schedules it against the
// edge, the daemon and the probe as it would any other process.
const attackerEnv = "AIRLOCK_ABUSE_ATTACKER"

// attackerPrefix starts the lines the attacker process reports on.
const attackerPrefix = "abuse-attacker: "

// attackerProcess is the flood, started in a child process.
type attackerProcess struct {
	cmd    *exec.Cmd
	ramped chan struct{} // closed once every attacker has dialled once
	done   chan struct{} // closed once the process has exited
	err    error         // its exit, once done
	tally  [4]int64      // dials, refused, accepted, opened, once done
	cpu    time.Duration // its user+system CPU, once done
	tail   []string
}

// startAttacker starts the flood of f against the edge for length.
func startAttacker(ctx context.Context, tb testing.TB, f *flood, conns int, length time.Duration) *attackerProcess {
	tb.Helper()
	cmd := exec.CommandContext(ctx, os.Args[0], "-test.run=^$", "-test.bench=^BenchmarkAbuseFlood$", "-test.benchtime=1x")
	cmd.Env = append(os.Environ(), fmt.Sprintf("%s=%s %d %d %d", attackerEnv, f.edge, conns, f.perConn, length.Milliseconds()))
	out, err := cmd.StdoutPipe()
	if err != nil {
		tb.Fatal(err)
	}
	cmd.Stderr = cmd.Stdout
	if err := cmd.Start(); err != nil {
		tb.Fatalf("start the attacker process: %v", err)
	}
	p := &attackerProcess{cmd: cmd, ramped: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(p.done)
		sc := bufio.NewScanner(out)
		ramped := false
		for sc.Scan() {
			line := sc.Text()
			p.tail = append(p.tail[max(0, len(p.tail)-19):], line)
			rest, ok := strings.CutPrefix(line, attackerPrefix)
			switch {
			case ok && rest == "ramped" && !ramped:
				ramped = true
				close(p.ramped)
			case ok && strings.HasPrefix(rest, "tally "):
				for i, v := range strings.Fields(strings.TrimPrefix(rest, "tally "))[:4] {
					p.tally[i], _ = strconv.ParseInt(v, 10, 64)
				}
			}
		}
		p.err = cmd.Wait()
		if cmd.ProcessState != nil {
			p.cpu = cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime()
		}
	}()
	return p
}

// runAttacker is the child's side: it parses attackerEnv, floods the edge
// and reports. It returns false when this is not the attacker process.
func runAttacker(b *testing.B) bool {
	v := os.Getenv(attackerEnv)
	if v == "" {
		return false
	}
	var edge string
	var conns, perConn int
	var lengthMS int64
	if _, err := fmt.Sscanf(v, "%s %d %d %d", &edge, &conns, &perConn, &lengthMS); err != nil {
		b.Fatalf("%s=%q: %v", attackerEnv, v, err)
	}
	ctx, stop := context.WithTimeout(context.Background(), time.Duration(lengthMS)*time.Millisecond)
	defer stop()
	f := &flood{edge: edge, perConn: perConn}
	var g errgroup.Group
	for i := range conns {
		src := fmt.Sprintf("127.3.%d.%d", i/250, 1+i%250)
		g.Go(func() error { f.attacker(ctx, src); return nil })
	}
	g.Go(func() error {
		t := time.NewTicker(10 * time.Millisecond)
		defer t.Stop()
		for f.dials.Load() < int64(conns) {
			select {
			case <-ctx.Done():
				return nil
			case <-t.C:
			}
		}
		fmt.Println(attackerPrefix + "ramped")
		return nil
	})
	g.Wait()
	fmt.Printf("%stally %d %d %d %d\n", attackerPrefix, f.dials.Load(), f.refused.Load(), f.accepted.Load(), f.opened.Load())
	b.ReportMetric(0, "ns/op")
	return true
}

// procCPU returns a process's user+system CPU so far (/proc/PID/stat).
func procCPU(pid int) (time.Duration, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	// Fields after the command, which is in parentheses and may hold spaces.
	i := strings.LastIndexByte(string(b), ')')
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 13 {
		return 0, fmt.Errorf("/proc/%d/stat: %d fields", pid, len(f))
	}
	ut, err1 := strconv.ParseInt(f[11], 10, 64) // utime, field 14
	st, err2 := strconv.ParseInt(f[12], 10, 64) // stime, field 15
	if err1 != nil || err2 != nil {
		return 0, fmt.Errorf("/proc/%d/stat: utime %q, stime %q", pid, f[11], f[12])
	}
	const hz = 100 // USER_HZ on Linux
	return time.Duration(ut+st) * time.Second / hz, nil
}
