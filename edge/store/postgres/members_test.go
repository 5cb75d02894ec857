package postgres_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/airlockhq/airlock/edge/store/postgres"
	"github.com/airlockhq/airlock/internal/systest/pgtest"
	"github.com/airlockhq/airlock/internal/testenv"
	"github.com/airlockhq/airlock/internal/wire"
)

// members is the ids of a list, for comparisons.
func members(tb testing.TB, st *postgres.Store) (ids []string, gen uint64) {
	tb.Helper()
	m, more, err := st.Members(testenv.Context(tb))
	if err != nil || more {
		tb.Fatalf("members: %v (more %v)", err, more)
	}
	for _, e := range m.Members {
		ids = append(ids, e.ID+"="+e.Addr)
	}
	return ids, m.Generation
}

// TestFleetMembership: two edges' stores on one database. Each step is
// one named case in order: what a Beat, Leave or expiry does to the list
// both stores see, and to its generation.
func TestFleetMembership(t *testing.T) {
	ctx := testenv.Context(t)
	c := pgtest.Start(ctx, t)
	dsn := c.NewDatabase(ctx, t)
	a, b := open(t, dsn), open(t, dsn)
	t0 := time.Now()
	const ttl = 15 * time.Second
	ea := wire.Member{ID: "edge-a", Addr: "a.example.com:7844"}
	eb := wire.Member{ID: "edge-b", Addr: "b.example.com:7844"}

	beat := func(tb testing.TB, st *postgres.Store, m wire.Member, inst string, at time.Time, want postgres.Beat) {
		tb.Helper()
		got, err := st.Beat(ctx, m, inst, at, ttl)
		if err != nil || got != want {
			tb.Fatalf("beat %s: %+v, %v; want %+v", m.ID, got, err, want)
		}
	}
	expect := func(tb testing.TB, wantGen uint64, want ...string) {
		tb.Helper()
		for i, st := range []*postgres.Store{a, b} {
			ids, gen := members(tb, st)
			if !slices.Equal(ids, want) || gen != wantGen {
				tb.Fatalf("store %d: members %v generation %d; want %v generation %d", i, ids, gen, want, wantGen)
			}
		}
	}
	steps := []struct {
		name string
		do   func(t *testing.T)
	}{
		{"empty", func(t *testing.T) { expect(t, 0) }},
		{"a joins", func(t *testing.T) {
			beat(t, a, ea, "a1", t0, postgres.Beat{Joined: true})
			expect(t, 1, "edge-a=a.example.com:7844")
		}},
		{"b joins", func(t *testing.T) {
			beat(t, b, eb, "b1", t0, postgres.Beat{Joined: true})
			expect(t, 2, "edge-a=a.example.com:7844", "edge-b=b.example.com:7844")
		}},
		{"heartbeats change nothing", func(t *testing.T) {
			beat(t, a, ea, "a1", t0.Add(5*time.Second), postgres.Beat{})
			beat(t, b, eb, "b1", t0.Add(5*time.Second), postgres.Beat{})
			expect(t, 2, "edge-a=a.example.com:7844", "edge-b=b.example.com:7844")
		}},
		{"a new address is a change", func(t *testing.T) {
			beat(t, a, wire.Member{ID: "edge-a", Addr: "10.0.0.1:7844"}, "a1", t0.Add(6*time.Second), postgres.Beat{Joined: true})
			expect(t, 3, "edge-a=10.0.0.1:7844", "edge-b=b.example.com:7844")
		}},
		{"a's heartbeat expires at b's next beat", func(t *testing.T) {
			// a beat last at t0+6s: it lives until t0+21s.
			beat(t, b, eb, "b1", t0.Add(19*time.Second), postgres.Beat{})
			expect(t, 3, "edge-a=10.0.0.1:7844", "edge-b=b.example.com:7844")
			beat(t, b, eb, "b1", t0.Add(21*time.Second), postgres.Beat{Expired: 1})
			expect(t, 4, "edge-b=b.example.com:7844")
		}},
		{"a comes back", func(t *testing.T) {
			beat(t, a, ea, "a1", t0.Add(22*time.Second), postgres.Beat{Joined: true})
			expect(t, 5, "edge-a=a.example.com:7844", "edge-b=b.example.com:7844")
		}},
		{"a restarted takes over its row", func(t *testing.T) {
			beat(t, a, ea, "a2", t0.Add(23*time.Second), postgres.Beat{TookOver: true})
			expect(t, 5, "edge-a=a.example.com:7844", "edge-b=b.example.com:7844")
		}},
		{"the old instance's leave removes nothing", func(t *testing.T) {
			if left, err := a.Leave(ctx, "edge-a", "a1"); err != nil || left {
				t.Fatalf("leave of a1: %v, %v", left, err)
			}
			expect(t, 5, "edge-a=a.example.com:7844", "edge-b=b.example.com:7844")
		}},
		{"b leaves", func(t *testing.T) {
			if left, err := b.Leave(ctx, "edge-b", "b1"); err != nil || !left {
				t.Fatalf("leave of b1: %v, %v", left, err)
			}
			expect(t, 6, "edge-a=a.example.com:7844")
		}},
	}
	for _, s := range steps {
		if !t.Run(s.name, s.do) {
			return
		}
	}
}

func TestFleetBeatRefuses(t *testing.T) {
	ctx := testenv.Context(t)
	c := pgtest.Start(ctx, t)
	st := open(t, c.NewDatabase(ctx, t))
	cases := []struct {
		name     string
		m        wire.Member
		instance string
		ttl      time.Duration
		want     string
	}{
		{"no id", wire.Member{Addr: "h:1"}, "i", time.Second, "edge id of 0 bytes"},
		{"long id", wire.Member{ID: strings.Repeat("x", wire.MaxEdgeIDLen+1), Addr: "h:1"}, "i", time.Second, "edge id of 129 bytes"},
		{"bad address", wire.Member{ID: "e", Addr: "nohost"}, "i", time.Second, "edge e: address"},
		{"no instance", wire.Member{ID: "e", Addr: "h:1"}, "", time.Second, "instance of 0 bytes"},
		{"no ttl", wire.Member{ID: "e", Addr: "h:1"}, "i", 0, "time to live 0s"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := st.Beat(ctx, tc.m, tc.instance, time.Now(), tc.ttl)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("beat: %v, want an error naming %q", err, tc.want)
			}
		})
	}
}

// TestFleetLimit: a list longer than a Members frame holds is cut at
// wire.MaxMembers and says so.
func TestFleetLimit(t *testing.T) {
	ctx := testenv.Context(t)
	c := pgtest.Start(ctx, t)
	st := open(t, c.NewDatabase(ctx, t))
	now := time.Now()
	for i := range wire.MaxMembers + 2 {
		if _, err := st.Beat(ctx, wire.Member{ID: fmt.Sprintf("edge-%02d", i), Addr: "h:1"}, "i", now, time.Hour); err != nil {
			t.Fatal(err)
		}
	}
	m, more, err := st.Members(ctx)
	if err != nil || !more || len(m.Members) != wire.MaxMembers || m.Generation != wire.MaxMembers+2 {
		t.Fatalf("members: %d, more %v, generation %d, %v", len(m.Members), more, m.Generation, err)
	}
}

// TestWatchFleet: a join, a leave and an expiry at one store reach the
// watch of another at once (NOTIFY), and the watch calls changed again
// after the database restarts.
func TestWatchFleet(t *testing.T) {
	ctx := testenv.Context(t)
	c := pgtest.Start(ctx, t)
	dsn := c.NewDatabase(ctx, t)
	a, b := open(t, dsn), open(t, dsn)
	var changes, listens atomic.Int64
	wctx, cancel := context.WithCancel(ctx)
	var g errgroup.Group
	g.Go(func() error { return b.WatchFleet(wctx, func() { changes.Add(1) }, func() { listens.Add(1) }) })
	defer func() {
		cancel()
		if err := g.Wait(); !errors.Is(err, context.Canceled) {
			t.Errorf("watch ended with %v", err)
		}
	}()
	testenv.Eventually(t, "the watch to listen", func() bool { return listens.Load() == 1 })
	if n := changes.Load(); n != 1 {
		t.Fatalf("%d changes on listening, want 1 (the catch-up)", n)
	}
	now := time.Now()
	waitChanges := func(what string, n int64) {
		t.Helper()
		testenv.Eventually(t, what, func() error {
			if got := changes.Load(); got != n {
				return fmt.Errorf("%d changes, want %d", got, n)
			}
			return nil
		})
	}
	if _, err := a.Beat(ctx, wire.Member{ID: "edge-a", Addr: "h:1"}, "a1", now, time.Second); err != nil {
		t.Fatal(err)
	}
	waitChanges("the join at a to reach b's watch", 2)
	if _, err := a.Beat(ctx, wire.Member{ID: "edge-a", Addr: "h:1"}, "a1", now.Add(100*time.Millisecond), time.Second); err != nil {
		t.Fatal(err)
	}
	if _, err := a.Beat(ctx, wire.Member{ID: "edge-x", Addr: "h:2"}, "x1", now, time.Second); err != nil {
		t.Fatal(err)
	}
	// The heartbeat notified nothing: the next change is the third.
	waitChanges("x's join", 3)
	if _, err := b.Beat(ctx, wire.Member{ID: "edge-b", Addr: "h:3"}, "b1", now.Add(time.Second), time.Minute); err != nil {
		t.Fatal(err) // b joins, x expires: one transaction, one notify
	}
	waitChanges("b's join and x's expiry", 4)
	if ids, _ := members(t, a); !slices.Equal(ids, []string{"edge-a=h:1", "edge-b=h:3"}) {
		t.Fatalf("members %v", ids)
	}
	if _, err := a.Leave(ctx, "edge-a", "a1"); err != nil {
		t.Fatal(err)
	}
	waitChanges("a's leave", 5)

	if err := c.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	if err := c.Restart(ctx); err != nil {
		t.Fatal(err)
	}
	testenv.Eventually(t, "the watch to listen again and catch up", func() bool { return listens.Load() == 2 && changes.Load() == 6 })
}
