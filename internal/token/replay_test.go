package token

import (
	"errors"
	"strconv"
	"testing"
	"time"
)

// fillReplay returns a cache of size entries, all live until t0+until.
func fillReplay(tb testing.TB, size int, t0 time.Time, until time.Duration) *ReplayCache {
	tb.Helper()
	c := NewReplayCache(size)
	for i := range size {
		if err := c.Use("live"+strconv.Itoa(i), t0.Add(until), t0); err != nil {
			tb.Fatal(err)
		}
	}
	return c
}

// BenchmarkReplayCacheFull is a flood against a cache full of live
// nonces: each new nonce is refused, and must cost no more than a lookup
// (it once swept all entries under the lock).
func BenchmarkReplayCacheFull(b *testing.B) {
	t0 := time.Now()
	c := fillReplay(b, DefaultReplayCacheSize, t0, time.Hour)
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		i++
		if err := c.Use("flood"+strconv.Itoa(i), t0.Add(time.Minute), t0.Add(time.Second)); !errors.Is(err, ErrReplayCacheFull) {
			b.Fatal(err)
		}
	}
}

// BenchmarkReplayCacheSteady is the normal load: a full cache whose
// oldest entry lapses as each new one comes.
func BenchmarkReplayCacheSteady(b *testing.B) {
	t0 := time.Now()
	c := NewReplayCache(DefaultReplayCacheSize)
	ttl := time.Duration(DefaultReplayCacheSize) * time.Millisecond
	now := t0
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		i++
		now = now.Add(time.Millisecond)
		if err := c.Use("n"+strconv.Itoa(i), now.Add(ttl), now); err != nil {
			b.Fatal(err)
		}
	}
}

// TestReplayCacheFull floods a cache full of live nonces with new ones:
// each is refused with ErrReplayCacheFull, none evicts a live nonce (which
// could then be replayed), and entries come back as the earliest lapse.
func TestReplayCacheFull(t *testing.T) {
	t0 := time.Now()
	const size = 1000
	c := NewReplayCache(size)
	// Lifetimes out of insertion order: nonce i lapses at t0 + 10s + (i*7 mod size) ms.
	until := func(i int) time.Time { return t0.Add(10*time.Second + time.Duration(i*7%size)*time.Millisecond) }
	for i := range size {
		if err := c.Use("live"+strconv.Itoa(i), until(i), t0); err != nil {
			t.Fatal(err)
		}
	}
	t.Run("flood refused", func(t *testing.T) {
		for i := range 10 * size {
			err := c.Use("flood"+strconv.Itoa(i), t0.Add(time.Minute), t0.Add(time.Second))
			if !errors.Is(err, ErrReplayCacheFull) {
				t.Fatalf("flood nonce %d: %v, want ErrReplayCacheFull", i, err)
			}
		}
		if n := c.Len(); n != size {
			t.Fatalf("%d nonces remembered after the flood, want %d", n, size)
		}
	})
	t.Run("no live nonce evicted", func(t *testing.T) {
		for i := range size {
			if err := c.Use("live"+strconv.Itoa(i), until(i), t0.Add(time.Second)); !errors.Is(err, ErrReplayed) {
				t.Fatalf("live nonce %d after the flood: %v, want ErrReplayed", i, err)
			}
		}
	})
	t.Run("earliest lapse makes room", func(t *testing.T) {
		// At t0+10s+3ms the nonces with offsets 0..3 ms have lapsed: four places.
		now := t0.Add(10*time.Second + 3*time.Millisecond)
		for i := range 4 {
			if err := c.Use("new"+strconv.Itoa(i), t0.Add(time.Minute), now); err != nil {
				t.Fatalf("new nonce %d with %d lapsed: %v", i, 4, err)
			}
		}
		if err := c.Use("new4", t0.Add(time.Minute), now); !errors.Is(err, ErrReplayCacheFull) {
			t.Fatalf("a fifth new nonce: %v, want ErrReplayCacheFull", err)
		}
		if err := c.Use("live1", until(1), now); !errors.Is(err, ErrReplayed) {
			t.Fatalf("live nonce 1 (lapses at +7ms): %v, want ErrReplayed", err)
		}
	})
}
