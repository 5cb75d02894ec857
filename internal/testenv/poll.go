package testenv

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"
)

// Interval is how long [Eventually] waits after one call of its condition
// before the next: a polling interval, not a synchronisation.
const Interval = 10 * time.Millisecond

// noDeadline bounds a wait when tb has no deadline of its own (a benchmark,
// or go test -timeout 0): generous, as the waits it bounds take seconds.
const noDeadline = 10 * time.Minute

var (
	errNearDeadline = errors.New("the test's deadline is near")
	errFalse        = errors.New("the condition does not hold")
)

// bound is when a wait of tb gives up: a little before the test's deadline
// (go test -timeout), leaving a twentieth of the time left, and at least a
// second, to report the failure and clean up; or [noDeadline] from now.
func bound(tb testing.TB) time.Time {
	if d, ok := tb.(interface{ Deadline() (time.Time, bool) }); ok {
		if deadline, ok := d.Deadline(); ok {
			return deadline.Add(-max(time.Until(deadline)/20, time.Second))
		}
	}
	return time.Now().Add(noDeadline)
}

// Context returns a context for tb's work that ends a little before the
// test's deadline (go test -timeout), in time to report and clean up, or
// after a generous bound when tb has none; it is canceled when tb's
// cleanups run. It is the bound for waits that take a context.
func Context(tb testing.TB) context.Context {
	ctx, cancel := context.WithDeadlineCause(context.Background(), bound(tb), errNearDeadline)
	tb.Cleanup(cancel)
	return ctx
}

// Poll calls cond, and again every interval after each call returns,
// until cond returns nil (Poll returns nil), cond returns an error made
// by [Stop] (Poll returns the error given to Stop), or ctx ends (Poll
// returns an error that wraps ctx's cause and cond's last error).
func Poll(ctx context.Context, every time.Duration, cond func() error) error {
	start := time.Now()
	timer := time.NewTimer(every)
	defer timer.Stop()
	for {
		err := cond()
		if err == nil {
			return nil
		}
		if s, ok := errors.AsType[*stopError](err); ok {
			return s.err
		}
		timer.Reset(every)
		select {
		case <-ctx.Done():
			return fmt.Errorf("gave up after %s: %w: %w", time.Since(start).Round(time.Millisecond), context.Cause(ctx), err)
		case <-timer.C:
		}
	}
}

// Stop marks err as final: a condition returns Stop(err) when what it
// waits for can no longer happen (the process it watches has exited), and
// [Poll] or [Eventually] ends at once with err.
func Stop(err error) error { return &stopError{err} }

type stopError struct{ err error }

func (e *stopError) Error() string { return e.err.Error() }
func (e *stopError) Unwrap() error { return e.err }

// Eventually calls cond every [Interval] until it holds (returns true, or
// nil), and fails tb, naming what and cond's last error, when it does not
// by the test's deadline (see [Context]) or returns a [Stop] error. cond
// runs on tb's goroutine and may fail tb itself.
func Eventually[C func() bool | func() error](tb testing.TB, what string, cond C) {
	tb.Helper()
	ctx, cancel := context.WithDeadlineCause(context.Background(), bound(tb), errNearDeadline)
	defer cancel()
	if err := Poll(ctx, Interval, asError(cond)); err != nil {
		tb.Fatalf("waiting for %s: %v", what, err)
	}
}

// asError makes cond a condition for Poll.
func asError[C func() bool | func() error](cond C) func() error {
	switch c := any(cond).(type) {
	case func() error:
		return c
	case func() bool:
		return func() error {
			if c() {
				return nil
			}
			return errFalse
		}
	}
	panic("unreachable: C is one of the two")
}
