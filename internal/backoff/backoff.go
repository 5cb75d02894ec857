// Package backoff owns every retry delay in Airlock: exponential growth from
// a base to a cap with full jitter (each delay uniform in
// [0, min(cap, base·2ⁿ)]), reset once a connection has stayed up, as in
// cloudflared's retry package. Loops that want the plain doubling schedule
// (base, 2·base, … cap) ask for it with [Config].NoJitter.
//
// Randomness and time are injected so that tests are deterministic and never
// sleep.
package backoff

import (
	"context"
	"math/rand/v2"
	"time"
)

// Defaults for the zero values of [Config].
const (
	DefaultBase        = 100 * time.Millisecond
	DefaultMax         = 30 * time.Second
	DefaultStableAfter = 5 * time.Second
)

// Clock is the part of time a Backoff needs.
type Clock interface {
	Now() time.Time
	// After returns a channel that receives once d has passed.
	After(d time.Duration) <-chan time.Time
}

type realClock struct{}

func (realClock) Now() time.Time                         { return time.Now() }
func (realClock) After(d time.Duration) <-chan time.Time { return time.After(d) }

// Config describes a backoff. The zero value means the defaults.
type Config struct {
	// Base is the ceiling of the first delay. Zero means DefaultBase.
	Base time.Duration
	// Max caps every delay. Zero means DefaultMax.
	Max time.Duration
	// StableAfter is how long a connection must stay up for the backoff to
	// start again from Base. Zero means DefaultStableAfter.
	StableAfter time.Duration
	// NoJitter makes every delay its ceiling: base, 2·base, 4·base, … Max.
	// For a loop with one instance per machine (nothing to spread out).
	NoJitter bool
	// Rand returns a uniform integer in [0, n). Nil means math/rand/v2.
	// Not consulted with NoJitter.
	Rand func(n int64) int64
	// Clock tells the time and waits. Nil means the real clock.
	Clock Clock
}

// Backoff hands out successive delays. It is not safe for concurrent use:
// each reconnecting loop owns one.
type Backoff struct {
	base, max, stable time.Duration
	noJitter          bool
	rand              func(int64) int64
	clock             Clock
	attempt           int
}

// New returns a Backoff for cfg.
func New(cfg Config) *Backoff {
	b := &Backoff{base: cfg.Base, max: cfg.Max, stable: cfg.StableAfter, noJitter: cfg.NoJitter, rand: cfg.Rand, clock: cfg.Clock}
	if b.base <= 0 {
		b.base = DefaultBase
	}
	if b.max <= 0 {
		b.max = DefaultMax
	}
	if b.max < b.base {
		b.max = b.base
	}
	if b.stable <= 0 {
		b.stable = DefaultStableAfter
	}
	if b.rand == nil {
		b.rand = rand.Int64N
	}
	if b.clock == nil {
		b.clock = realClock{}
	}
	return b
}

// Ceiling returns the upper bound of the next delay: min(Max, Base·2ⁿ) where n
// counts the delays handed out since the last reset.
func (b *Backoff) Ceiling() time.Duration {
	c := b.base
	for i := 0; i < b.attempt && c < b.max; i++ {
		c *= 2
	}
	return min(c, b.max)
}

// Next returns the next delay, uniform in [0, Ceiling()] (Ceiling() itself
// with NoJitter), and advances.
func (b *Backoff) Next() time.Duration {
	c := b.Ceiling()
	if c < b.max {
		b.attempt++
	}
	if b.noJitter {
		return c
	}
	return time.Duration(b.rand(int64(c) + 1))
}

// Attempts returns how many delays have been handed out since the last reset.
func (b *Backoff) Attempts() int { return b.attempt }

// Reset starts the delays again from Base.
func (b *Backoff) Reset() { b.attempt = 0 }

// Connected reports that a connection which came up at since has ended: if
// it stayed up for StableAfter the delays start again from Base, so a
// connection that comes up and drops at once keeps backing off.
func (b *Backoff) Connected(since time.Time) {
	if b.clock.Now().Sub(since) >= b.stable {
		b.Reset()
	}
}

// Wait waits for the next delay and returns nil, or the cause of ctx's end.
func (b *Backoff) Wait(ctx context.Context) error { return b.Sleep(ctx, b.Next()) }

// Sleep waits for d on b's clock and returns nil, or the cause of ctx's end.
// Callers that log the delay take it from Next and pass it here.
func (b *Backoff) Sleep(ctx context.Context, d time.Duration) error {
	select {
	case <-b.clock.After(d):
		return nil
	case <-ctx.Done():
		return context.Cause(ctx)
	}
}

// Now returns the time on b's clock.
func (b *Backoff) Now() time.Time { return b.clock.Now() }

// After returns a channel that receives once d has passed on b's clock,
// for loops that wait on something else as well.
func (b *Backoff) After(d time.Duration) <-chan time.Time { return b.clock.After(d) }
