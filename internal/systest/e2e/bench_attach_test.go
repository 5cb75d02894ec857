package e2e

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/airlockhq/airlock/internal/systest/kapitest"
	"github.com/airlockhq/airlock/internal/testenv"
)

// attachStall is the echo time that counts as a stall in the report: the
// 110 ms echoes issue 14 saw were an order of magnitude over direct.
const attachStall = 50 * time.Millisecond

// attachLatency runs one `kubectl attach -i` per path, each to a pod of
// its own on the kubelet stand-in whose container is `cat`, and then
// sends lines short as a keystroke, one at a time and path by path
// (the order rotated each round): each line's time is from the write to
// kubectl's stdin to the echo on its stdout. It fills each path's attach
// figures. The pods are created through the first path (direct).
func attachLatency(ctx context.Context, bin, dir string, paths []*kubectlPath, lines int) error {
	var manifest strings.Builder
	// The servers run no controller-manager, which would make the default
	// ServiceAccount that admission wants of every pod.
	manifest.WriteString("apiVersion: v1\nkind: ServiceAccount\nmetadata: {name: default}\n")
	for _, p := range paths {
		fmt.Fprintf(&manifest, `---
apiVersion: v1
kind: Pod
metadata: {name: echo-%s}
spec:
  nodeName: %s
  containers:
  - {name: main, image: standin, command: [cat], stdin: true}
`, p.key, kapitest.NodeName)
	}
	file := filepath.Join(dir, "attach.yaml")
	if err := os.WriteFile(file, []byte(manifest.String()), 0o600); err != nil {
		return err
	}
	admin := paths[0]
	for _, args := range [][]string{
		{"apply", "-f", file},
		{"wait", "--for=condition=Ready", "pod", "--all", "--timeout=2m"},
	} {
		if out, err := admin.command(ctx, bin, args...).CombinedOutput(); err != nil {
			return fmt.Errorf("kubectl %s: %w: %s", args[0], err, out)
		}
	}

	actx, stop := context.WithCancel(ctx)
	defer stop()
	type attached struct {
		p     *kubectlPath
		cmd   *exec.Cmd
		stdin io.WriteCloser
		lines <-chan stampedLine
		errs  *testenv.Buffer
	}
	var as []*attached
	defer func() {
		stop()
		for _, a := range as {
			_ = a.cmd.Wait()
		}
	}()
	for _, p := range paths {
		a := &attached{p: p, errs: &testenv.Buffer{}}
		a.cmd = p.command(actx, bin, "attach", "-i", "echo-"+p.key, "-c", "main")
		a.cmd.Stderr = a.errs
		var err error
		if a.stdin, err = a.cmd.StdinPipe(); err != nil {
			return err
		}
		out, err := a.cmd.StdoutPipe()
		if err != nil {
			return err
		}
		if err := a.cmd.Start(); err != nil {
			return err
		}
		as = append(as, a)
		a.lines = stampLines(out, 16)
	}
	echo := func(a *attached, text string) (time.Duration, error) {
		start := time.Now()
		if _, err := io.WriteString(a.stdin, text+"\n"); err != nil {
			return 0, fmt.Errorf("%s: write to kubectl attach: %w: %s", a.p.name, err, a.errs.String())
		}
		for {
			select {
			case l, ok := <-a.lines:
				if !ok {
					return 0, fmt.Errorf("%s: kubectl attach ended: %s", a.p.name, strings.TrimSpace(a.errs.String()))
				}
				if l.text == text {
					return l.at.Sub(start), nil
				}
			case <-ctx.Done():
				return 0, fmt.Errorf("%s: waiting for the echo of %q: %w", a.p.name, text, context.Cause(ctx))
			}
		}
	}
	// The attach is live once a line comes back; the stand-in attaches
	// after kubectl's upgrade, so the first lines may be sent before it
	// listens: send until one echoes.
	for _, a := range as {
		if err := warmAttach(ctx, a.stdin, a.lines); err != nil {
			return fmt.Errorf("%s: %w: %s", a.p.name, err, a.errs.String())
		}
	}
	for i := range lines {
		for j := range as {
			a := as[(i+j)%len(as)]
			d, err := echo(a, "k"+strconv.Itoa(i))
			if err != nil {
				return err
			}
			a.p.attach = append(a.p.attach, d)
		}
	}
	return nil
}

// stampedLine is a line of a process's output and when it was read.
type stampedLine struct {
	text string
	at   time.Time
}

// stampLines reads r line by line, each trimmed and stamped with when it
// was read, into the returned channel (buffered by n), which is closed when
// r ends. n must hold the lines the caller leaves unread, or the reader
// blocks on its last send after the process has gone.
func stampLines(r io.Reader, n int) <-chan stampedLine {
	lines := make(chan stampedLine, n)
	go func() {
		defer close(lines)
		sc := bufio.NewScanner(r)
		for sc.Scan() {
			lines <- stampedLine{strings.TrimSpace(sc.Text()), time.Now()}
		}
	}()
	return lines
}

// warmAttach writes a line every 100 ms until one comes back: the
// container's output reaches only clients attached when it is written.
func warmAttach(ctx context.Context, w io.Writer, lines <-chan stampedLine) error {
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for {
		if _, err := io.WriteString(w, "warm\n"); err != nil {
			return fmt.Errorf("write to kubectl attach: %w", err)
		}
		select {
		case l, ok := <-lines:
			if !ok {
				return fmt.Errorf("kubectl attach ended")
			}
			if l.text == "warm" {
				return nil // later echoes of "warm" are skipped by the reader
			}
		case <-tick.C:
		case <-ctx.Done():
			return context.Cause(ctx)
		}
	}
}

// stalls counts the durations at or over attachStall.
func stalls(ds []time.Duration) int {
	n := 0
	for _, d := range ds {
		if d >= attachStall {
			n++
		}
	}
	return n
}
