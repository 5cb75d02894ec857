package testenv_test

import (
	"context"
	"errors"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/airlockhq/airlock/internal/testenv"
)

func TestPoll(t *testing.T) {
	var n atomic.Int32
	err := testenv.Poll(context.Background(), time.Millisecond, func() error {
		if n.Add(1) < 3 {
			return errors.New("not yet")
		}
		return nil
	})
	if err != nil || n.Load() != 3 {
		t.Errorf("Poll = %v after %d calls, want nil after 3", err, n.Load())
	}

	gone := errors.New("gone")
	if err := testenv.Poll(context.Background(), time.Millisecond, func() error { return testenv.Stop(gone) }); err != gone {
		t.Errorf("Poll with Stop = %v, want %v", err, gone)
	}

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	last := errors.New("the last reason")
	err = testenv.Poll(ctx, time.Millisecond, func() error { return last })
	if !errors.Is(err, last) || !errors.Is(err, context.Canceled) || !strings.Contains(err.Error(), "gave up after") {
		t.Errorf("Poll after ctx ended = %v, want it to give up with %v", err, last)
	}
}

func TestEventually(t *testing.T) {
	var n int
	testenv.Eventually(t, "three calls", func() bool { n++; return n == 3 })
	if n != 3 {
		t.Errorf("%d calls, want 3", n)
	}
	testenv.Eventually(t, "nil", func() error { return nil })
}

func TestContextEndsBeforeTheDeadline(t *testing.T) {
	deadline, ok := t.Deadline()
	end, has := testenv.Context(t).Deadline()
	if !has || (ok && !end.Before(deadline)) {
		t.Errorf("Context ends at %v (%v), the test's deadline is %v (%v)", end, has, deadline, ok)
	}
}
