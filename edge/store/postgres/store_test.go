package postgres_test

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/airlockhq/airlock/edge/oauth"
	"github.com/airlockhq/airlock/edge/oauth/storetest"
	"github.com/airlockhq/airlock/edge/store/postgres"
	"github.com/airlockhq/airlock/internal/systest/pgtest"
	"github.com/airlockhq/airlock/internal/testenv"
)

// open opens a store on dsn, migrating it, closed when tb ends.
func open(tb testing.TB, dsn string) *postgres.Store {
	tb.Helper()
	st, err := postgres.Open(testenv.Context(tb), postgres.Options{URL: dsn, Migrate: true, MaxConns: 4,
		Logger: slog.New(slog.NewTextHandler(tbWriter{tb}, nil))})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { st.Close() })
	return st
}

// tbWriter sends a logger's lines to tb.Log.
type tbWriter struct{ tb testing.TB }

func (w tbWriter) Write(p []byte) (int, error) {
	w.tb.Log(strings.TrimSuffix(string(p), "\n"))
	return len(p), nil
}

// TestContract runs the store contract, each case in a database of its
// own on one cluster.
func TestContract(t *testing.T) {
	ctx := testenv.Context(t)
	c := pgtest.Start(ctx, t)
	n := storetest.Run(t, func(tb testing.TB) oauth.Store { return open(tb, c.NewDatabase(ctx, tb)) })
	t.Logf("%d contract cases", n)
}

// TestTwoStoresOneDatabase: what one edge's store does, another's sees,
// and a code redeemed at both goes to one.
func TestTwoStoresOneDatabase(t *testing.T) {
	ctx := testenv.Context(t)
	c := pgtest.Start(ctx, t)
	dsn := c.NewDatabase(ctx, t)
	a, b := open(t, dsn), open(t, dsn)
	now := time.Now()
	f := oauth.Family{ID: "fam1", ClientID: "airlock", Identity: oauth.Identity{Email: "a@example.com", IDP: oauth.IDPUsers},
		Created: now, Expires: now.Add(time.Hour), Current: "k0"}
	if err := a.CreateFamily(ctx, f); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Rotate(ctx, "k0", "k1", now, now.Add(time.Hour)); err != nil {
		t.Fatalf("rotate at b: %v", err)
	}
	if _, err := a.Rotate(ctx, "k0", "k2", now, now.Add(time.Hour)); !errors.Is(err, oauth.ErrRefreshReused) {
		t.Fatalf("reuse at a: %v", err)
	}
	if g, err := b.FamilyByRefresh(ctx, "k1"); err != nil || g.Revoked.IsZero() {
		t.Fatalf("b sees %+v, %v", g, err)
	}
}

// TestMigrate: migrating twice, and from several stores at once, ends at
// the newest version; a store refuses a database that is behind.
func TestMigrate(t *testing.T) {
	ctx := testenv.Context(t)
	c := pgtest.Start(ctx, t)

	t.Run("behind is refused, then migrated", func(t *testing.T) {
		dsn := c.NewDatabase(ctx, t)
		if _, err := postgres.Open(ctx, postgres.Options{URL: dsn}); !errors.Is(err, postgres.ErrSchemaBehind) {
			t.Fatalf("open unmigrated: %v", err)
		}
		st, err := postgres.Connect(ctx, postgres.Options{URL: dsn})
		if err != nil {
			t.Fatal(err)
		}
		defer st.Close()
		for range 2 {
			if err := st.Migrate(ctx); err != nil {
				t.Fatal(err)
			}
		}
		cur, newest, err := st.Versions(ctx)
		if err != nil || cur != newest || newest < 1 {
			t.Fatalf("versions %d %d %v", cur, newest, err)
		}
		st2, err := postgres.Open(ctx, postgres.Options{URL: dsn})
		if err != nil {
			t.Fatalf("open migrated: %v", err)
		}
		st2.Close()
	})

	t.Run("concurrent migrations take turns", func(t *testing.T) {
		dsn := c.NewDatabase(ctx, t)
		const n = 3
		errs := make(chan error, n)
		for range n {
			go func() {
				st, err := postgres.Open(ctx, postgres.Options{URL: dsn, Migrate: true})
				if err == nil {
					st.Close()
				}
				errs <- err
			}()
		}
		for range n {
			if err := <-errs; err != nil {
				t.Error(err)
			}
		}
	})

	t.Run("a bad URL is named without its password", func(t *testing.T) {
		_, err := postgres.Open(ctx, postgres.Options{URL: "postgres://u:s3cret@127.0.0.1:bad/x"})
		if err == nil || strings.Contains(err.Error(), "s3cret") {
			t.Fatalf("%v", err)
		}
		if _, err := postgres.Open(ctx, postgres.Options{}); err == nil {
			t.Fatal("no URL accepted")
		}
	})

	t.Run("a wrong password is refused without echoing it", func(t *testing.T) {
		dsn := strings.Replace(c.NewDatabase(ctx, t), c.Password, "not-the-password", 1)
		_, err := postgres.Open(ctx, postgres.Options{URL: dsn})
		if err == nil || strings.Contains(err.Error(), "not-the-password") {
			t.Fatalf("%v", err)
		}
	})
}

// TestDatabaseDown: calls fail while the database is down and work
// again, on the same store, once it is back.
func TestDatabaseDown(t *testing.T) {
	ctx := testenv.Context(t)
	c := pgtest.Start(ctx, t)
	st := open(t, c.NewDatabase(ctx, t))
	if err := c.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := st.RedeemCode(ctx, "k", time.Now()); !errors.Is(err, postgres.ErrUnavailable) {
		t.Fatalf("with the database down: %v, want ErrUnavailable", err)
	}
	if err := st.RevokeFamily(ctx, "f", time.Now(), "x"); !errors.Is(err, postgres.ErrUnavailable) {
		t.Fatalf("a transaction with the database down: %v, want ErrUnavailable", err)
	}
	if err := c.Restart(ctx); err != nil {
		t.Fatal(err)
	}
	testenv.Eventually(t, "the store to recover", func() error {
		_, err := st.RedeemCode(ctx, "k", time.Now())
		if errors.Is(err, oauth.ErrNotFound) {
			return nil
		}
		return err
	})
}

// TestQueryTimeout: a call that waits on a lock another session holds
// ends at the store's deadline with an error, and the lock's holder is
// not disturbed.
func TestQueryTimeout(t *testing.T) {
	ctx := testenv.Context(t)
	c := pgtest.Start(ctx, t)
	dsn := c.NewDatabase(ctx, t)
	holder := open(t, dsn)
	st, err := postgres.Open(ctx, postgres.Options{URL: dsn, QueryTimeout: 100 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	d := oauth.Device{Key: "dk", UserCode: "BCDFGHJK", ClientID: "airlock", Expires: time.Now().Add(time.Hour), Interval: 5, Status: oauth.DevicePending}
	if err := holder.PutDevice(ctx, d); err != nil {
		t.Fatal(err)
	}
	inside, release := make(chan struct{}), make(chan struct{})
	held := make(chan error, 1)
	go func() {
		_, err := holder.UpdateDevice(ctx, "dk", func(d *oauth.Device) error {
			close(inside)
			<-release
			d.Interval++
			return nil
		})
		held <- err
	}()
	<-inside
	_, err = st.UpdateDevice(ctx, "dk", func(d *oauth.Device) error { d.Interval = 99; return nil })
	if !errors.Is(err, context.DeadlineExceeded) || !errors.Is(err, postgres.ErrUnavailable) {
		t.Errorf("waiting on the lock: %v, want the deadline and ErrUnavailable", err)
	}
	close(release)
	if err := <-held; err != nil {
		t.Fatalf("the holder: %v", err)
	}
	if got, err := st.DeviceByUserCode(ctx, "BCDFGHJK"); err != nil || got.Interval != 6 {
		t.Fatalf("after: %+v, %v", got, err)
	}
}
