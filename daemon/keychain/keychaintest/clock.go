package keychaintest

import (
	"context"
	"time"
)

// Clock is a backoff.Clock whose waits end only when the test fires them:
// each After is queued, and Fire ends the oldest one. Now is the real time
// (the Auto store reads it only for Info.Since).
type Clock struct {
	waits chan Wait
}

// Wait is one After the code under test asked for.
type Wait struct {
	D    time.Duration
	fire chan time.Time
}

// NewClock returns a Clock.
func NewClock() *Clock { return &Clock{waits: make(chan Wait, 64)} }

// Now implements backoff.Clock.
func (c *Clock) Now() time.Time { return time.Now() }

// After implements backoff.Clock.
func (c *Clock) After(d time.Duration) <-chan time.Time {
	w := Wait{D: d, fire: make(chan time.Time, 1)}
	c.waits <- w
	return w.fire
}

// Fire waits for the code to ask for a wait, ends it and returns its
// length. It fails the context's way when none is asked for.
func (c *Clock) Fire(ctx context.Context) (time.Duration, error) {
	select {
	case w := <-c.waits:
		w.fire <- time.Now()
		return w.D, nil
	case <-ctx.Done():
		return 0, context.Cause(ctx)
	}
}

// FireUnless is Fire, except that it returns false without firing once
// stop says the wait will not come (it is called again after each value
// on changed, and once at the start).
func (c *Clock) FireUnless(ctx context.Context, changed <-chan struct{}, stop func() bool) (time.Duration, bool, error) {
	for {
		if stop() {
			return 0, false, nil
		}
		select {
		case w := <-c.waits:
			w.fire <- time.Now()
			return w.D, true, nil
		case <-changed:
		case <-ctx.Done():
			return 0, false, context.Cause(ctx)
		}
	}
}

// Waiting returns how many waits were asked for and not fired.
func (c *Clock) Waiting() int { return len(c.waits) }
