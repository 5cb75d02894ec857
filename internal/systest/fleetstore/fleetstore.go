// Package fleetstore is test-only: a fleet's shared store as a test
// needs it, a fresh database on the run's real PostgreSQL (pgtest), its
// schema migrated, and the 0600 credentials file an edge's store.url_file
// names.
package fleetstore

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/airlockhq/airlock/edge/store/postgres"
	"github.com/airlockhq/airlock/internal/systest/pgtest"
)

// URLFile makes a new migrated database on the test run's PostgreSQL and
// returns the path of a 0600 file holding its URL, as an edge config's
// store.url_file expects. Everything is removed when tb ends.
func URLFile(ctx context.Context, tb testing.TB) string {
	tb.Helper()
	dsn := pgtest.Start(ctx, tb).NewDatabase(ctx, tb)
	mig, err := postgres.Open(ctx, postgres.Options{URL: dsn, Migrate: true})
	if err != nil {
		tb.Fatal(err)
	}
	mig.Close()
	path := filepath.Join(tb.TempDir(), "store-url")
	if err := os.WriteFile(path, []byte(dsn+"\n"), 0o600); err != nil {
		tb.Fatal(err)
	}
	return path
}
