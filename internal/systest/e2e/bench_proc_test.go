package e2e

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/airlockhq/airlock/internal/testenv"
)

// benchProc is one helper process of the benchmark (an origin, a relay
// stage, sshd, ssh), its output kept for error messages.
type benchProc struct {
	name string
	cmd  *exec.Cmd
	out  *testenv.Buffer
	done chan struct{}
	err  error // exit status, valid once done is closed
}

// startBenchProc starts bin with args and stops it when the test ends:
// SIGTERM, then SIGKILL after 10 s. With checkExit set, an exit status other
// than 0 after SIGTERM fails the test. Its stdout, if stdout is not nil, goes
// there as well as into the kept output.
func startBenchProc(tb testing.TB, name string, stdout io.Writer, checkExit bool, bin string, args ...string) *benchProc {
	tb.Helper()
	p := &benchProc{name: name, cmd: exec.Command(bin, args...), out: &testenv.Buffer{}, done: make(chan struct{})}
	p.cmd.Stderr = p.out
	p.cmd.Stdout = p.out
	if stdout != nil {
		p.cmd.Stdout = io.MultiWriter(p.out, stdout)
	}
	p.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL} // killed if the benchmark dies first
	if err := p.cmd.Start(); err != nil {
		tb.Fatalf("start %s: %v", name, err)
	}
	go func() {
		p.err = p.cmd.Wait()
		close(p.done)
	}()
	tb.Cleanup(func() {
		if p.exited() {
			return
		}
		_ = p.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-p.done:
			if checkExit && p.err != nil {
				tb.Errorf("%s exited with %v after SIGTERM; output:\n%s", name, p.err, p.tail())
			}
		case <-time.After(10 * time.Second):
			_ = p.cmd.Process.Kill()
			<-p.done
			tb.Errorf("%s did not stop within 10s of SIGTERM; killed", name)
		}
	})
	return p
}

func (p *benchProc) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// tail returns the last few KiB of the process's output.
func (p *benchProc) tail() string {
	s := p.out.String()
	if len(s) > 4000 {
		s = "…" + s[len(s)-4000:]
	}
	return s
}

// startBenchproc starts a benchproc mode and returns the address from its
// "listening ADDR" line.
func startBenchproc(tb testing.TB, bin, mode string, args ...string) string {
	tb.Helper()
	pr, pw := io.Pipe()
	tb.Cleanup(func() { pw.Close() }) // runs after the process has stopped
	p := startBenchProc(tb, "benchproc "+mode, pw, true, bin, append([]string{mode}, args...)...)
	lines := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(pr)
		for sc.Scan() {
			select {
			case lines <- sc.Text():
			default:
			}
		}
	}()
	select {
	case line := <-lines:
		addr, ok := strings.CutPrefix(line, "listening ")
		if !ok {
			tb.Fatalf("benchproc %s printed %q, want \"listening ADDR\"", mode, line)
		}
		return addr
	case <-p.done:
		tb.Fatalf("benchproc %s exited (%v) before it was ready; output:\n%s", mode, p.err, p.tail())
	case <-time.After(20 * time.Second):
		tb.Fatalf("benchproc %s was not ready within 20s; output:\n%s", mode, p.tail())
	}
	return ""
}

// waitReady polls check until it returns nil, p exits, or the test's
// deadline is near.
func (p *benchProc) waitReady(tb testing.TB, what string, check func() error) error {
	err := testenv.Poll(testenv.Context(tb), testenv.Interval, func() error {
		err := check()
		if err != nil && p.exited() {
			return testenv.Stop(errExited)
		}
		return err
	})
	switch {
	case err == nil:
		return nil
	case errors.Is(err, errExited):
		return fmt.Errorf("%s: %s exited (%v); output:\n%s", what, p.name, p.err, p.tail())
	default:
		return fmt.Errorf("%s: %w; output:\n%s", what, err, p.tail())
	}
}

// errExited is waitReady's condition's answer once the process has exited.
var errExited = errors.New("exited")

// needPart reports a missing external part: a failure when CI=true, a skip
// of that part otherwise (the caller goes on without it).
func needPart(tb testing.TB, err error) {
	tb.Helper()
	if testenv.CI() {
		tb.Fatalf("CI=true and a part the benchmark needs is missing: %v", err)
	}
	tb.Logf("not measured: %v", err)
}
