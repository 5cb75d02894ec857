package app

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"strings"
	"sync"
	"time"

	"github.com/airlockhq/airlock/internal/backoff"
)

// Supervisor starts `airlock daemon` as a child process when no daemon
// answers, and restarts it with capped exponential backoff when it dies.
// It never starts one while another answers on the socket.
type Supervisor struct {
	log *slog.Logger
	// cmd returns the child's command line; exe is os.Executable.
	exe  string
	args []string
	// answers reports whether a daemon answers on the control socket.
	answers func(ctx context.Context) bool
	stderr  io.Writer
	// stopTimeout bounds the child's clean stop after SIGTERM.
	stopTimeout time.Duration
	minBackoff  time.Duration
	maxBackoff  time.Duration

	wake  chan struct{} // capacity 1: "no daemon answers"
	ready chan struct{} // capacity 1: "a daemon answers now"

	mu       sync.Mutex
	childPID int // 0 while no child runs
	starts   int
}

// SupervisorOptions configures a Supervisor.
type SupervisorOptions struct {
	Logger *slog.Logger
	// Executable and Args are the child's command: typically
	// os.Executable() and ["daemon", "--socket", …].
	Executable string
	Args       []string
	// Answers reports whether a daemon answers on the socket.
	Answers func(ctx context.Context) bool
	// Stderr receives the child's output; nil discards it.
	Stderr io.Writer
	// StopTimeout bounds the child's stop after SIGTERM before it is
	// killed; 0 means 10 s.
	StopTimeout time.Duration
	// MinBackoff and MaxBackoff bound the wait before restarting a child
	// that died; 0 means 500 ms and 30 s.
	MinBackoff, MaxBackoff time.Duration
}

// NewSupervisor returns a Supervisor; nothing starts until Run and Need.
func NewSupervisor(o SupervisorOptions) *Supervisor {
	s := &Supervisor{
		log: o.Logger, exe: o.Executable, args: o.Args, answers: o.Answers, stderr: o.Stderr,
		stopTimeout: o.StopTimeout, minBackoff: o.MinBackoff, maxBackoff: o.MaxBackoff,
		wake: make(chan struct{}, 1), ready: make(chan struct{}, 1),
	}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	if s.stderr == nil {
		s.stderr = io.Discard
	}
	if s.stopTimeout == 0 {
		s.stopTimeout = 10 * time.Second
	}
	if s.minBackoff == 0 {
		s.minBackoff = 500 * time.Millisecond
	}
	if s.maxBackoff == 0 {
		s.maxBackoff = 30 * time.Second
	}
	return s
}

// Need says no daemon answered: Run checks again and starts a child if
// still none answers. It never blocks.
func (s *Supervisor) Need() {
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// Ready receives once each time a daemon the supervisor started answers.
func (s *Supervisor) Ready() <-chan struct{} { return s.ready }

// ChildPID returns the running child's pid, 0 when none runs (the tray is
// attached to a daemon it did not start, or none at all).
func (s *Supervisor) ChildPID() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.childPID
}

// Run serves Need until ctx ends; then it stops the child, if any, with
// SIGTERM (SIGKILL after the stop timeout) and returns.
func (s *Supervisor) Run(ctx context.Context) error {
	// A child that ran for twice the longest wait ran fine: the next wait
	// starts again from the shortest.
	restart := backoff.New(backoff.Config{Base: s.minBackoff, Max: s.maxBackoff, StableAfter: 2 * s.maxBackoff, NoJitter: true})
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-s.wake:
		}
		if s.answers(ctx) {
			s.signalReady()
			continue
		}
		started := restart.Now()
		err := s.runChild(ctx)
		if ctx.Err() != nil {
			return nil
		}
		var ar *alreadyRunning
		if errors.As(err, &ar) {
			// Another daemon took the socket between our check and the
			// child's start: attach to it.
			s.log.Info("another airlock daemon is running; attaching to it")
			s.signalReady()
			continue
		}
		restart.Connected(started)
		wait := restart.Next()
		s.log.Error("airlock daemon exited; restarting it", "err", err, "in", wait)
		if restart.Sleep(ctx, wait) != nil {
			return nil
		}
		s.Need()
	}
}

func (s *Supervisor) signalReady() {
	select {
	case s.ready <- struct{}{}:
	default:
	}
}

// alreadyRunning says the child found another daemon on the socket.
type alreadyRunning struct{ msg string }

func (e *alreadyRunning) Error() string { return e.msg }

// runChild starts the daemon, reports readiness once it answers, and waits
// for it to exit or ctx to end (then stops it).
func (s *Supervisor) runChild(ctx context.Context) error {
	tail := &tailBuffer{max: 4096}
	cmd := exec.Command(s.exe, s.args...)
	cmd.Stdout = s.stderr
	cmd.Stderr = io.MultiWriter(s.stderr, tail)
	cmd.SysProcAttr = childAttr()
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start %s: %w", s.exe, err)
	}
	s.mu.Lock()
	s.childPID = cmd.Process.Pid
	s.starts++
	s.mu.Unlock()
	s.log.Info("started the airlock daemon", "pid", cmd.Process.Pid)
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	defer func() {
		s.mu.Lock()
		s.childPID = 0
		s.mu.Unlock()
	}()

	// Wait for the control socket to answer, or the child to exit.
	poll := time.NewTicker(20 * time.Millisecond)
	defer poll.Stop()
	answered := false
	for !answered {
		select {
		case err := <-exited:
			return childExit(err, tail.String())
		case <-ctx.Done():
			return s.stopChild(cmd, exited)
		case <-poll.C:
			if s.answers(ctx) {
				answered = true
			}
		}
	}
	poll.Stop()
	s.signalReady()
	select {
	case err := <-exited:
		return childExit(err, tail.String())
	case <-ctx.Done():
		return s.stopChild(cmd, exited)
	}
}

func childExit(err error, tail string) error {
	if strings.Contains(tail, "already running") {
		return &alreadyRunning{msg: strings.TrimSpace(lastLine(tail))}
	}
	if err == nil {
		err = errors.New("exited with status 0")
	}
	if l := lastLine(tail); l != "" {
		return fmt.Errorf("%w (last line: %s)", err, l)
	}
	return err
}

// stopChild asks the child to stop and waits; it kills it after the stop
// timeout.
func (s *Supervisor) stopChild(cmd *exec.Cmd, exited <-chan error) error {
	s.log.Info("stopping the airlock daemon the tray started", "pid", cmd.Process.Pid)
	if err := terminate(cmd.Process); err != nil && !errors.Is(err, os.ErrProcessDone) {
		s.log.Warn("could not signal the daemon", "err", err)
	}
	select {
	case err := <-exited:
		return err
	case <-time.After(s.stopTimeout):
		s.log.Warn("the airlock daemon did not stop in time; killing it", "pid", cmd.Process.Pid, "after", s.stopTimeout)
		cmd.Process.Kill()
		return <-exited
	}
}

func lastLine(s string) string {
	s = strings.TrimRight(s, "\n")
	if i := strings.LastIndexByte(s, '\n'); i >= 0 {
		return s[i+1:]
	}
	return s
}

// tailBuffer keeps the last max bytes written to it.
type tailBuffer struct {
	mu  sync.Mutex
	max int
	b   bytes.Buffer
}

func (t *tailBuffer) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.b.Write(p)
	if over := t.b.Len() - t.max; over > 0 {
		t.b.Next(over)
	}
	return len(p), nil
}

func (t *tailBuffer) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.b.String()
}
