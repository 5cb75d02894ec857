package stack

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"sync"
	"syscall"
	"time"

	"github.com/airlockhq/airlock/internal/testenv"
)

// Process is one real program of the stack, its output kept in memory (and
// copied to the stack's log) so tests can look for the lines they expect.
type Process struct {
	Name string
	cmd  *exec.Cmd
	out  *testenv.Buffer
	done chan struct{}
	err  error // the exit status, valid once done is closed
}

func startProcess(name string, log io.Writer, env []string, bin string, args ...string) (*Process, error) {
	out := &testenv.Buffer{}
	cmd := exec.Command(bin, args...)
	cmd.Env = append(os.Environ(), env...)
	var w io.Writer = out
	if log != nil {
		w = io.MultiWriter(out, &prefixWriter{prefix: "[" + name + "] ", w: log})
	}
	cmd.Stdout, cmd.Stderr = w, w
	// A process group of its own: a Ctrl-C in the terminal reaches the
	// program that runs the stack (the demo), which stops each in order.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL, Setpgid: true}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	p := &Process{Name: name, cmd: cmd, out: out, done: make(chan struct{})}
	go func() {
		p.err = cmd.Wait()
		close(p.done)
	}()
	return p, nil
}

// PID returns the process id.
func (p *Process) PID() int { return p.cmd.Process.Pid }

// Output returns everything the process printed so far.
func (p *Process) Output() string { return p.out.String() }

// Exited reports whether the process has ended.
func (p *Process) Exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// WaitOutput waits until the output contains s, the process ends, or ctx
// ends.
func (p *Process) WaitOutput(ctx context.Context, s string) error {
	err := testenv.Poll(ctx, testenv.Interval, p.unlessExited(func() error {
		if !bytes.Contains(p.out.Bytes(), []byte(s)) {
			return errors.New("not printed yet")
		}
		return nil
	}))
	switch {
	case errors.Is(err, errExited):
		return fmt.Errorf("%s exited (%v) before printing %q; output:\n%s", p.Name, p.err, s, tail(p.Output()))
	case err != nil:
		return fmt.Errorf("%s did not print %q: %w; output:\n%s", p.Name, s, context.Cause(ctx), tail(p.Output()))
	}
	return nil
}

// pollEvery is how often the stack polls a program's readiness.
const pollEvery = 20 * time.Millisecond

// errExited is what a condition made by unlessExited gives once the
// process has exited.
var errExited = errors.New("exited")

// unlessExited makes cond a condition for testenv.Poll that stops with
// errExited when cond fails and the process has exited (cond has had its
// last chance: the output is complete).
func (p *Process) unlessExited(cond func() error) func() error {
	return func() error {
		err := cond()
		if err != nil && p.Exited() {
			return testenv.Stop(errExited)
		}
		return err
	}
}

// Stop sends SIGTERM and waits up to grace for the process to exit; then it
// kills it. It returns an error unless the process exited with status 0
// after SIGTERM.
func (p *Process) Stop(grace time.Duration) error {
	if p.Exited() {
		return p.exitErr("had already exited")
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
		return p.exitErr("after SIGTERM")
	case <-time.After(grace):
		_ = p.cmd.Process.Kill()
		<-p.done
		return fmt.Errorf("%s did not exit within %v of SIGTERM; killed; output:\n%s", p.Name, grace, tail(p.Output()))
	}
}

// Kill ends the process with SIGKILL and waits for it.
func (p *Process) Kill() {
	_ = p.cmd.Process.Kill()
	<-p.done
}

func (p *Process) exitErr(when string) error {
	if p.err == nil {
		return nil
	}
	return fmt.Errorf("%s exited %s: %w; output:\n%s", p.Name, when, p.err, tail(p.Output()))
}

func tail(s string) string {
	const max = 4000
	if len(s) > max {
		return "…" + s[len(s)-max:]
	}
	return s
}

// prefixWriter prefixes each line with the program's name.
type prefixWriter struct {
	mu     sync.Mutex
	prefix string
	w      io.Writer
	buf    []byte
}

func (p *prefixWriter) Write(b []byte) (int, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.buf = append(p.buf, b...)
	for {
		i := bytes.IndexByte(p.buf, '\n')
		if i < 0 {
			break
		}
		line := append([]byte(p.prefix), p.buf[:i+1]...)
		p.buf = p.buf[i+1:]
		if _, err := p.w.Write(line); err != nil {
			return len(b), nil
		}
	}
	return len(b), nil
}

// Done is closed when the process has exited.
func (p *Process) Done() <-chan struct{} { return p.done }
