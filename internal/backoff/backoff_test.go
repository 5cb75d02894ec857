package backoff

import (
	"context"
	"errors"
	"testing"
	"time"
)

// maxRand always picks the top of the range, so Next returns the ceiling.
func maxRand(n int64) int64 { return n - 1 }

type fakeClock struct {
	now   time.Time
	waits []time.Duration
	fire  chan time.Time
}

func newFakeClock() *fakeClock {
	return &fakeClock{now: time.Unix(1_000_000, 0), fire: make(chan time.Time, 1)}
}

func (c *fakeClock) Now() time.Time { return c.now }
func (c *fakeClock) After(d time.Duration) <-chan time.Time {
	c.waits = append(c.waits, d)
	return c.fire
}

func TestCeilingDoublesToCap(t *testing.T) {
	b := New(Config{Rand: maxRand})
	want := []time.Duration{
		100 * time.Millisecond, 200 * time.Millisecond, 400 * time.Millisecond, 800 * time.Millisecond,
		1600 * time.Millisecond, 3200 * time.Millisecond, 6400 * time.Millisecond, 12800 * time.Millisecond,
		25600 * time.Millisecond, 30 * time.Second, 30 * time.Second, 30 * time.Second,
	}
	for i, w := range want {
		if got := b.Next(); got != w {
			t.Fatalf("delay %d = %v, want %v", i, got, w)
		}
	}
	for range 1000 { // no overflow however long the edge stays down
		if got := b.Next(); got != 30*time.Second {
			t.Fatalf("delay after many attempts = %v, want the 30s cap", got)
		}
	}
}

func TestJitterBounds(t *testing.T) {
	tests := []struct {
		name string
		rand func(int64) int64
		want func(ceiling time.Duration) time.Duration
	}{
		{"bottom of range is zero", func(int64) int64 { return 0 }, func(time.Duration) time.Duration { return 0 }},
		{"top of range is the ceiling", maxRand, func(c time.Duration) time.Duration { return c }},
		{"middle", func(n int64) int64 { return n / 2 }, func(c time.Duration) time.Duration { return (c + 1) / 2 }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := New(Config{Rand: tt.rand})
			for i := range 12 {
				c := b.Ceiling()
				if got := b.Next(); got != tt.want(c) {
					t.Fatalf("delay %d = %v, want %v (ceiling %v)", i, got, tt.want(c), c)
				}
			}
		})
	}
	t.Run("real rand stays within range", func(t *testing.T) {
		b := New(Config{Base: time.Millisecond, Max: 50 * time.Millisecond})
		for range 10_000 {
			c := b.Ceiling()
			if d := b.Next(); d < 0 || d > c {
				t.Fatalf("delay %v outside [0, %v]", d, c)
			}
		}
	})
	t.Run("rand is asked for the inclusive range", func(t *testing.T) {
		var asked []int64
		b := New(Config{Rand: func(n int64) int64 { asked = append(asked, n); return 0 }})
		b.Next()
		b.Next()
		if len(asked) != 2 || asked[0] != int64(100*time.Millisecond)+1 || asked[1] != int64(200*time.Millisecond)+1 {
			t.Fatalf("rand asked for %v", asked)
		}
	})
}

func TestConfigDefaultsAndOverrides(t *testing.T) {
	tests := []struct {
		name      string
		cfg       Config
		wantFirst time.Duration
		wantCap   time.Duration
	}{
		{"zero means 100ms to 30s", Config{}, 100 * time.Millisecond, 30 * time.Second},
		{"custom", Config{Base: time.Second, Max: 5 * time.Second}, time.Second, 5 * time.Second},
		{"cap below base is raised to base", Config{Base: time.Second, Max: time.Millisecond}, time.Second, time.Second},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.cfg.Rand = maxRand
			b := New(tt.cfg)
			if got := b.Next(); got != tt.wantFirst {
				t.Errorf("first delay = %v, want %v", got, tt.wantFirst)
			}
			var last time.Duration
			for range 64 {
				last = b.Next()
			}
			if last != tt.wantCap {
				t.Errorf("capped delay = %v, want %v", last, tt.wantCap)
			}
		})
	}
}

func TestReset(t *testing.T) {
	clock := newFakeClock()
	tests := []struct {
		name      string
		upFor     time.Duration
		wantReset bool
	}{
		{"connection that stayed up resets", 5 * time.Second, true},
		{"long connection resets", time.Hour, true},
		{"connection that dropped at once keeps backing off", 4 * time.Second, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := New(Config{Rand: maxRand, Clock: clock})
			for range 5 {
				b.Next()
			}
			b.Connected(clock.Now().Add(-tt.upFor))
			want := 3200 * time.Millisecond
			if tt.wantReset {
				want = 100 * time.Millisecond
			}
			if got := b.Next(); got != want {
				t.Fatalf("next delay = %v, want %v", got, want)
			}
		})
	}
	t.Run("explicit reset", func(t *testing.T) {
		b := New(Config{Rand: maxRand})
		b.Next()
		b.Next()
		if b.Attempts() != 2 {
			t.Fatalf("attempts = %d, want 2", b.Attempts())
		}
		b.Reset()
		if b.Attempts() != 0 || b.Next() != 100*time.Millisecond {
			t.Fatal("reset did not start again from the base")
		}
	})
}

func TestWait(t *testing.T) {
	t.Run("waits the delay on the clock", func(t *testing.T) {
		clock := newFakeClock()
		b := New(Config{Rand: maxRand, Clock: clock})
		clock.fire <- clock.now
		if err := b.Wait(context.Background()); err != nil {
			t.Fatal(err)
		}
		clock.fire <- clock.now
		if err := b.Wait(context.Background()); err != nil {
			t.Fatal(err)
		}
		if len(clock.waits) != 2 || clock.waits[0] != 100*time.Millisecond || clock.waits[1] != 200*time.Millisecond {
			t.Fatalf("waited %v", clock.waits)
		}
	})
	t.Run("ends with ctx and its cause", func(t *testing.T) {
		clock := newFakeClock()
		b := New(Config{Clock: clock})
		cause := errors.New("shutting down")
		ctx, cancel := context.WithCancelCause(context.Background())
		cancel(cause)
		if err := b.Wait(ctx); !errors.Is(err, cause) {
			t.Fatalf("Wait = %v, want %v", err, cause)
		}
	})
}

func TestNoJitter(t *testing.T) {
	ms := time.Millisecond
	tests := []struct {
		name string
		cfg  Config
		want []time.Duration
	}{
		{"sign-in renewal: 1s to 1m", Config{Base: time.Second, Max: time.Minute},
			[]time.Duration{time.Second, 2 * time.Second, 4 * time.Second, 8 * time.Second, 16 * time.Second, 32 * time.Second, time.Minute, time.Minute}},
		{"tray event stream: 50ms to 5s", Config{Base: 50 * ms, Max: 5 * time.Second},
			[]time.Duration{50 * ms, 100 * ms, 200 * ms, 400 * ms, 800 * ms, 1600 * ms, 3200 * ms, 5 * time.Second, 5 * time.Second}},
		{"cap not a power of two of the base", Config{Base: 300 * ms, Max: time.Second},
			[]time.Duration{300 * ms, 600 * ms, time.Second, time.Second}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.cfg.NoJitter = true
			tt.cfg.Rand = func(int64) int64 { t.Fatal("rand consulted with NoJitter"); return 0 }
			b := New(tt.cfg)
			for i, w := range tt.want {
				if got := b.Next(); got != w {
					t.Fatalf("delay %d = %v, want %v", i, got, w)
				}
			}
			b.Reset()
			if got := b.Next(); got != tt.want[0] {
				t.Fatalf("delay after reset = %v, want %v", got, tt.want[0])
			}
		})
	}
}
