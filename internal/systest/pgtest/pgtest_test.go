package pgtest_test

import (
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/airlockhq/airlock/internal/systest/pgtest"
	"github.com/airlockhq/airlock/internal/testenv"
)

func TestCluster(t *testing.T) {
	ctx := testenv.Context(t)
	began := time.Now()
	c := pgtest.Start(ctx, t)
	t.Logf("initdb and start took %s", time.Since(began).Round(time.Millisecond))

	t.Run("loopback with a password", func(t *testing.T) {
		u, err := url.Parse(c.DSN)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.HasPrefix(u.Host, "127.0.0.1:") || u.Host != c.Addr {
			t.Errorf("DSN host %s, Addr %s", u.Host, c.Addr)
		}
		if got := query(t, c.DSN, "SELECT current_user"); got != pgtest.Superuser {
			t.Errorf("current_user %q", got)
		}
		bad := *u
		bad.User = url.UserPassword(pgtest.Superuser, "wrong")
		if conn, err := pgx.Connect(ctx, bad.String()); err == nil {
			conn.Close(ctx)
			t.Error("a wrong password was accepted")
		}
	})

	t.Run("databases are separate", func(t *testing.T) {
		a, b := c.NewDatabase(ctx, t), c.NewDatabase(ctx, t)
		exec(t, a, "CREATE TABLE x (v text)")
		exec(t, a, "INSERT INTO x VALUES ('a')")
		if got := query(t, a, "SELECT v FROM x"); got != "a" {
			t.Errorf("got %q", got)
		}
		if got := query(t, b, "SELECT count(*)::text FROM pg_tables WHERE tablename = 'x'"); got != "0" {
			t.Errorf("table x in the other database: %s", got)
		}
	})

	t.Run("restart keeps the data", func(t *testing.T) {
		db := c.NewDatabase(ctx, t)
		exec(t, db, "CREATE TABLE y AS SELECT 'kept' AS v")
		if err := c.Stop(ctx); err != nil {
			t.Fatal(err)
		}
		if conn, err := pgx.Connect(ctx, db); err == nil {
			conn.Close(ctx)
			t.Fatal("connected to a stopped server")
		}
		if err := c.Restart(ctx); err != nil {
			t.Fatal(err)
		}
		if got := query(t, db, "SELECT v FROM y"); got != "kept" {
			t.Errorf("after restart: %q", got)
		}
	})

	t.Run("close removes the folder", func(t *testing.T) {
		other := pgtest.Start(ctx, t)
		if err := other.Close(); err != nil {
			t.Fatal(err)
		}
		if _, err := os.Stat(other.Dir); !os.IsNotExist(err) {
			t.Errorf("%s after Close: %v", other.Dir, err)
		}
		if conn, err := pgx.Connect(ctx, other.DSN); err == nil {
			conn.Close(ctx)
			t.Error("connected after Close")
		}
	})
}

func exec(tb testing.TB, dsn, sql string) {
	tb.Helper()
	ctx := testenv.Context(tb)
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		tb.Fatal(err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, sql); err != nil {
		tb.Fatalf("%s: %v", sql, err)
	}
}

func query(tb testing.TB, dsn, sql string) string {
	tb.Helper()
	ctx := testenv.Context(tb)
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		tb.Fatal(err)
	}
	defer conn.Close(ctx)
	var s string
	if err := conn.QueryRow(ctx, sql).Scan(&s); err != nil {
		tb.Fatalf("%s: %v", sql, err)
	}
	return s
}
