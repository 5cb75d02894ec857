package postgres_test

import (
	"context"
	"crypto/ed25519"
	"errors"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/airlockhq/airlock/edge/store/postgres"
	"github.com/airlockhq/airlock/internal/systest/pgtest"
	"github.com/airlockhq/airlock/internal/testenv"
	"github.com/airlockhq/airlock/internal/token"
	"github.com/airlockhq/airlock/internal/wire"
)

// newKey is a fresh public key with its derived id.
func newKey(tb testing.TB) wire.PublicKey {
	tb.Helper()
	kid, key, err := token.GenerateKey()
	if err != nil {
		tb.Fatal(err)
	}
	return wire.PublicKey{ID: kid, Key: key.Public().(ed25519.PublicKey)}
}

func kidsOf(keys []wire.PublicKey) []string {
	out := make([]string, len(keys))
	for i, k := range keys {
		out[i] = k.ID
	}
	return out
}

// sameKeys: a and b hold the same keys, in any order.
func sameKeys(a, b []wire.PublicKey) bool {
	byID := func(x, y wire.PublicKey) int { return strings.Compare(x.ID, y.ID) }
	a, b = slices.SortedFunc(slices.Values(a), byID), slices.SortedFunc(slices.Values(b), byID)
	return slices.EqualFunc(a, b, func(x, y wire.PublicKey) bool { return x.ID == y.ID && x.Key.Equal(y.Key) })
}

// TestPublishKeys: publication, rotation, retirement, expiry and conflicts,
// each case on a database of its own; the keys are read at another store
// of the database (another edge).
func TestPublishKeys(t *testing.T) {
	ctx := testenv.Context(t)
	c := pgtest.Start(ctx, t)
	t0 := time.Date(2026, 12, 2, 12, 0, 0, 0, time.UTC)
	k1, k2, k3 := newKey(t), newKey(t), newKey(t)
	other := newKey(t)
	other.ID = k1.ID // k1's id, another public key

	type publish struct {
		at      time.Time
		signing wire.PublicKey
		retired []wire.PublicKey
		keep    time.Duration
		err     string // "" or a part of the error
	}
	type read struct {
		at   time.Time
		want []wire.PublicKey // in any order
	}
	for _, tc := range []struct {
		name    string
		publish []publish
		read    []read
	}{
		{
			name:    "a signing key verifies and does not expire",
			publish: []publish{{at: t0, signing: k1, keep: time.Hour}},
			read:    []read{{t0, []wire.PublicKey{k1}}, {t0.Add(10 * 365 * 24 * time.Hour), []wire.PublicKey{k1}}},
		},
		{
			name: "rotation: the new key signs, the old verifies for keep after its retirement",
			publish: []publish{
				{at: t0, signing: k1, keep: time.Hour},
				{at: t0.Add(time.Minute), signing: k2, retired: []wire.PublicKey{k1}, keep: time.Hour},
			},
			read: []read{
				{t0.Add(time.Minute), []wire.PublicKey{k2, k1}},
				{t0.Add(time.Hour + time.Minute - time.Microsecond), []wire.PublicKey{k2, k1}},
				{t0.Add(time.Hour + time.Minute), []wire.PublicKey{k2}},
			},
		},
		{
			name: "published as retired again, a key keeps its first expiry",
			publish: []publish{
				{at: t0, signing: k2, retired: []wire.PublicKey{k1}, keep: time.Hour},
				{at: t0.Add(30 * time.Minute), signing: k2, retired: []wire.PublicKey{k1}, keep: time.Hour},
			},
			read: []read{{t0.Add(59 * time.Minute), []wire.PublicKey{k2, k1}}, {t0.Add(time.Hour), []wire.PublicKey{k2}}},
		},
		{
			name: "a retired key published as signing again has no expiry, even past its old one",
			publish: []publish{
				{at: t0, signing: k2, retired: []wire.PublicKey{k1}, keep: time.Hour},
				{at: t0.Add(2 * time.Hour), signing: k1, keep: time.Hour},
			},
			read: []read{{t0.Add(3 * time.Hour), []wire.PublicKey{k1, k2}}},
		},
		{
			name: "an expired retired key is not published anew as retired",
			publish: []publish{
				{at: t0, signing: k2, retired: []wire.PublicKey{k1}, keep: time.Hour},
				{at: t0.Add(2 * time.Hour), signing: k3, retired: []wire.PublicKey{k2, k1}, keep: time.Hour},
			},
			read: []read{{t0.Add(2 * time.Hour), []wire.PublicKey{k3, k2}}},
		},
		{
			name: "another edge's keys add to the fleet's",
			publish: []publish{
				{at: t0, signing: k1, keep: time.Hour},
				{at: t0.Add(time.Second), signing: k2, keep: time.Hour},
			},
			read: []read{{t0.Add(time.Second), []wire.PublicKey{k2, k1}}},
		},
		{
			name: "an id held with another public key is refused, and nothing of that call is kept",
			publish: []publish{
				{at: t0, signing: k1, keep: time.Hour},
				{at: t0.Add(time.Second), signing: k3, retired: []wire.PublicKey{other}, keep: time.Hour, err: "already published with another public key"},
				{at: t0.Add(time.Second), signing: other, keep: time.Hour, err: "already published with another public key"},
			},
			read: []read{{t0.Add(time.Second), []wire.PublicKey{k1}}},
		},
		{
			name: "bad input is refused before the database",
			publish: []publish{
				{at: t0, signing: wire.PublicKey{Key: k1.Key}, keep: time.Hour, err: "is not an Ed25519 public key with an id"},
				{at: t0, signing: wire.PublicKey{ID: "short", Key: k1.Key[:31]}, keep: time.Hour, err: "is not an Ed25519 public key with an id"},
				{at: t0, signing: wire.PublicKey{ID: strings.Repeat("x", 129), Key: k1.Key}, keep: time.Hour, err: "is not an Ed25519 public key with an id"},
				{at: t0, signing: k1, retired: []wire.PublicKey{k1}, keep: time.Hour, err: "appears twice"},
				{at: t0, signing: k1, retired: []wire.PublicKey{k2}, err: "keep must be positive"},
				{at: t0, signing: k1, retired: slices.Repeat([]wire.PublicKey{k2}, postgres.MaxPublishKeys), keep: time.Hour, err: "17 keys, limit 16"},
			},
			read: []read{{t0, nil}},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dsn := c.NewDatabase(ctx, t)
			a, b := open(t, dsn), open(t, dsn)
			for i, p := range tc.publish {
				err := a.PublishKeys(ctx, p.signing, p.retired, p.at, p.keep)
				switch {
				case p.err == "" && err != nil:
					t.Fatalf("publish %d: %v", i, err)
				case p.err != "" && (err == nil || !strings.Contains(err.Error(), p.err)):
					t.Fatalf("publish %d: got %v, want an error with %q", i, err, p.err)
				case strings.Contains(p.err, "another public key") && !errors.Is(err, postgres.ErrKeyConflict):
					t.Fatalf("publish %d: %v is not ErrKeyConflict", i, err)
				}
			}
			for _, r := range tc.read {
				got, err := b.FleetKeys(ctx, r.at)
				if err != nil {
					t.Fatal(err)
				}
				if !sameKeys(got, r.want) {
					t.Errorf("at %s: fleet keys %v, want %v", r.at.Sub(t0), kidsOf(got), kidsOf(r.want))
				}
			}
		})
	}
}

// TestFleetKeysBound: more keys than MaxFleetKeys on the database give
// MaxFleetKeys, the newest signing ones.
func TestFleetKeysBound(t *testing.T) {
	ctx := testenv.Context(t)
	c := pgtest.Start(ctx, t)
	st := open(t, c.NewDatabase(ctx, t))
	t0 := time.Date(2026, 12, 2, 12, 0, 0, 0, time.UTC)
	var newest wire.PublicKey
	for i := range postgres.MaxFleetKeys + 10 {
		newest = newKey(t)
		if err := st.PublishKeys(ctx, newest, nil, t0.Add(time.Duration(i)*time.Second), time.Hour); err != nil {
			t.Fatal(err)
		}
	}
	got, err := st.FleetKeys(ctx, t0)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != postgres.MaxFleetKeys || got[0].ID != newest.ID {
		t.Fatalf("%d keys, the first %s; want %d, the first %s", len(got), got[0].ID, postgres.MaxFleetKeys, newest.ID)
	}
}

// keyEvents counts a key watch's calls.
type keyEvents struct {
	mu      sync.Mutex
	changed int
	ch      chan int // the count after each call
}

func (e *keyEvents) onChanged() {
	e.mu.Lock()
	e.changed++
	n := e.changed
	e.mu.Unlock()
	e.ch <- n
}

// TestWatchKeys: a publication at one store (edge A) that changes the
// keys reaches the watch of another (edge B); one that changes nothing
// does not.
func TestWatchKeys(t *testing.T) {
	ctx := testenv.Context(t)
	c := pgtest.Start(ctx, t)
	dsn := c.NewDatabase(ctx, t)
	a, b := open(t, dsn), open(t, dsn)
	now := time.Now()
	k1, k2 := newKey(t), newKey(t)

	ev := &keyEvents{ch: make(chan int, 16)}
	up := make(chan struct{}, 1)
	wctx, stop := context.WithCancel(ctx)
	var g errgroup.Group
	g.Go(func() error { return b.WatchKeys(wctx, ev.onChanged, func() { up <- struct{}{} }) })
	defer func() {
		stop()
		if err := g.Wait(); !errors.Is(err, context.Canceled) {
			t.Errorf("watch: %v", err)
		}
	}()
	next := func(what string) int {
		t.Helper()
		select {
		case n := <-ev.ch:
			return n
		case <-ctx.Done():
			t.Fatalf("%s: no key change reported: %v", what, context.Cause(ctx))
			return 0
		}
	}
	if n := next("listening"); n != 1 {
		t.Fatalf("%d changes at the first LISTEN", n)
	}
	<-up

	count := 1
	for i, step := range []struct {
		name     string
		signing  wire.PublicKey
		retired  []wire.PublicKey
		notifies bool
		want     []string
	}{
		{"first key", k1, nil, true, []string{k1.ID}},
		{"the same again", k1, nil, false, []string{k1.ID}},
		{"rotation", k2, []wire.PublicKey{k1}, true, []string{k2.ID, k1.ID}},
		{"the rotation again", k2, []wire.PublicKey{k1}, false, []string{k2.ID, k1.ID}},
		{"the old key signs again", k1, nil, true, []string{k1.ID, k2.ID}},
	} {
		if err := a.PublishKeys(ctx, step.signing, step.retired, now.Add(time.Duration(i)*time.Second), time.Hour); err != nil {
			t.Fatalf("%s: %v", step.name, err)
		}
		if !step.notifies {
			continue
		}
		// Notifications arrive in commit order: a publication that
		// changed nothing but notified would be counted here first.
		count++
		if n := next(step.name); n != count {
			t.Fatalf("%s: change %d, want %d", step.name, n, count)
		}
		got, err := b.FleetKeys(ctx, now.Add(time.Duration(i)*time.Second))
		if err != nil {
			t.Fatal(err)
		}
		if g := kidsOf(got); !slices.Equal(slices.Sorted(slices.Values(g)), slices.Sorted(slices.Values(step.want))) {
			t.Fatalf("%s: b reads %v, want %v", step.name, g, step.want)
		}
	}
	ev.mu.Lock()
	defer ev.mu.Unlock()
	if ev.changed != 4 {
		t.Fatalf("%d changes reported, want 4 (the LISTEN and 3 publications that changed keys)", ev.changed)
	}
}

// TestCollectKeys: Collect removes the keys expired for longer than keep,
// and only those: a key collected is published anew as retired, one
// still kept as a tombstone is not.
func TestCollectKeys(t *testing.T) {
	ctx := testenv.Context(t)
	c := pgtest.Start(ctx, t)
	st := open(t, c.NewDatabase(ctx, t))
	t0 := time.Date(2026, 12, 2, 12, 0, 0, 0, time.UTC)
	signing, gone, tomb, live := newKey(t), newKey(t), newKey(t), newKey(t)
	for _, p := range []struct {
		retired wire.PublicKey
		keep    time.Duration
	}{{gone, time.Hour}, {tomb, 90 * time.Minute}, {live, 10 * time.Hour}} {
		if err := st.PublishKeys(ctx, signing, []wire.PublicKey{p.retired}, t0, p.keep); err != nil {
			t.Fatal(err)
		}
	}
	now := t0.Add(2 * time.Hour)
	// Cutoff t0+1h30: gone (expired t0+1h) goes; tomb (expired t0+1h30,
	// not before the cutoff) stays; live has not expired.
	if err := st.Collect(ctx, now, 30*time.Minute); err != nil {
		t.Fatal(err)
	}
	if err := st.PublishKeys(ctx, signing, []wire.PublicKey{live, tomb, gone}, now, time.Hour); err != nil {
		t.Fatal(err)
	}
	got, err := st.FleetKeys(ctx, now)
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{signing.ID}; !slices.Contains(kidsOf(got), gone.ID) || !slices.Contains(kidsOf(got), live.ID) ||
		slices.Contains(kidsOf(got), tomb.ID) || !slices.Contains(kidsOf(got), want[0]) || len(got) != 3 {
		t.Fatalf("after collect and publishing again: %v; want %s (signing), %s (live) and %s (collected, published anew), not %s (tombstone)",
			kidsOf(got), signing.ID, live.ID, gone.ID, tomb.ID)
	}
}
