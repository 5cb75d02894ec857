package postgres_test

import (
	"context"
	"errors"
	"slices"
	"sync"
	"testing"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/airlockhq/airlock/edge/oauth"
	"github.com/airlockhq/airlock/edge/store/postgres"
	"github.com/airlockhq/airlock/internal/systest/pgtest"
	"github.com/airlockhq/airlock/internal/testenv"
)

// seen collects the ids a watch reports and counts its LISTENs.
type seen struct {
	mu        sync.Mutex
	ids       []string
	listening int
	up        chan struct{} // a value per LISTEN
}

func newSeen() *seen { return &seen{up: make(chan struct{}, 16)} }

func (s *seen) revoked(id string) { s.mu.Lock(); s.ids = append(s.ids, id); s.mu.Unlock() }

func (s *seen) onListening() {
	s.mu.Lock()
	s.listening++
	s.mu.Unlock()
	select {
	case s.up <- struct{}{}:
	default:
	}
}

func (s *seen) has(ids ...string) func() error {
	return func() error {
		s.mu.Lock()
		defer s.mu.Unlock()
		for _, id := range ids {
			if !slices.Contains(s.ids, id) {
				return errors.New("not yet " + id + "; seen " + join(s.ids))
			}
		}
		return nil
	}
}

func join(ids []string) string {
	out := ""
	for _, id := range ids {
		out += id + " "
	}
	return out
}

// TestWatchRevocations: a revocation at one store (one edge) reaches the
// watch of another on the same database: a family revoked, a user's
// families, a refresh token's reuse; and again after the database
// restarts, what was revoked while the watch was away.
func TestWatchRevocations(t *testing.T) {
	ctx := testenv.Context(t)
	c := pgtest.Start(ctx, t)
	dsn := c.NewDatabase(ctx, t)
	a, b := open(t, dsn), open(t, dsn)
	now := time.Now()
	fam := func(id, email string) oauth.Family {
		return oauth.Family{ID: id, ClientID: "airlock", Identity: oauth.Identity{Email: email, IDP: oauth.IDPUsers},
			Created: now.Add(-time.Minute), Expires: now.Add(time.Hour), Current: id + "-0"}
	}
	for _, f := range []oauth.Family{fam("f1", "a@example.com"), fam("u1", "u@example.com"), fam("u2", "u@example.com"),
		fam("r1", "r@example.com"), fam("later", "l@example.com"), fam("live", "x@example.com")} {
		if err := a.CreateFamily(ctx, f); err != nil {
			t.Fatal(err)
		}
	}

	wctx, cancel := context.WithCancel(ctx)
	var g errgroup.Group
	got := newSeen()
	g.Go(func() error { return b.WatchRevocations(wctx, got.revoked, got.onListening) })
	defer func() {
		cancel()
		if err := g.Wait(); !errors.Is(err, context.Canceled) {
			t.Errorf("watch ended with %v", err)
		}
	}()
	<-got.up

	if err := a.RevokeFamily(ctx, "f1", now, "logout"); err != nil {
		t.Fatal(err)
	}
	if _, err := a.RevokeUser(ctx, "U@example.com", now, now); err != nil {
		t.Fatal(err)
	}
	if _, err := a.Rotate(ctx, "r1-0", "r1-1", now, now.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	if _, err := a.Rotate(ctx, "r1-0", "r1-2", now, now.Add(time.Hour)); !errors.Is(err, oauth.ErrRefreshReused) {
		t.Fatal(err)
	}
	testenv.Eventually(t, "the watch at b to see f1, u1, u2 and r1", got.has("f1", "u1", "u2", "r1"))

	t.Run("after a database restart", func(t *testing.T) {
		if err := c.Stop(ctx); err != nil {
			t.Fatal(err)
		}
		if err := c.Restart(ctx); err != nil {
			t.Fatal(err)
		}
		// Revoked whether or not the watch has reconnected yet: it
		// sees it either way, pushed or caught up.
		testenv.Eventually(t, "revoking at a after the restart", func() error {
			return a.RevokeFamily(ctx, "later", time.Now(), "logout")
		})
		testenv.Eventually(t, "the watch to see the revocation made across its reconnection", got.has("later"))
		testenv.Eventually(t, "a second LISTEN", func() bool {
			got.mu.Lock()
			defer got.mu.Unlock()
			return got.listening >= 2
		})
	})

	got.mu.Lock()
	defer got.mu.Unlock()
	if slices.Contains(got.ids, "live") {
		t.Errorf("a live family was reported: %v", got.ids)
	}
}

// TestWatchRevocationsCatchesUpAtStart: a family revoked while the edge
// was starting, before the watch's first LISTEN, is reported when it
// listens (no NOTIFY reached it), not left for the next full refresh. A
// revocation older than the catch-up window is not.
func TestWatchRevocationsCatchesUpAtStart(t *testing.T) {
	ctx := testenv.Context(t)
	c := pgtest.Start(ctx, t)
	dsn := c.NewDatabase(ctx, t)
	a, b := open(t, dsn), open(t, dsn)
	now := time.Now()
	for _, id := range []string{"early", "old"} {
		if err := a.CreateFamily(ctx, oauth.Family{ID: id, ClientID: "airlock", Identity: oauth.Identity{Email: id + "@example.com", IDP: oauth.IDPUsers},
			Created: now.Add(-time.Hour), Expires: now.Add(time.Hour), Current: id + "-0"}); err != nil {
			t.Fatal(err)
		}
	}
	if err := a.RevokeFamily(ctx, "old", now.Add(-2*postgres.CatchUpSlack), "logout"); err != nil {
		t.Fatal(err)
	}
	if err := a.RevokeFamily(ctx, "early", now, "logout"); err != nil {
		t.Fatal(err)
	}
	wctx, cancel := context.WithCancel(ctx)
	var g errgroup.Group
	got := newSeen()
	g.Go(func() error { return b.WatchRevocations(wctx, got.revoked, got.onListening) })
	<-got.up
	cancel()
	if err := g.Wait(); !errors.Is(err, context.Canceled) {
		t.Errorf("watch ended with %v", err)
	}
	got.mu.Lock()
	defer got.mu.Unlock()
	if !slices.Equal(got.ids, []string{"early"}) {
		t.Fatalf("reported at the first LISTEN: %q, want [early]", got.ids)
	}
}
