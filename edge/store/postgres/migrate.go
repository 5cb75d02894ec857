package postgres

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"io/fs"

	"github.com/jackc/pgx/v5/stdlib"
	"github.com/pressly/goose/v3"
	"github.com/pressly/goose/v3/lock"
)

//go:embed migrations/*.sql
var migrations embed.FS

// Table names of the migration bookkeeping.
const (
	versionTable = "airlock_schema_version"
	lockTable    = "airlock_schema_lock"
)

// ErrSchemaBehind: the database lacks migrations this program has; run
// `airlock-edge migrate` (or start with the flag that migrates).
var ErrSchemaBehind = errors.New("the database schema is behind this airlock-edge: run airlock-edge migrate")

// provider is goose over the store's pool. Several edges migrating at
// once take turns on a lock row in lockTable (no advisory locks).
func (s *Store) provider(withLock bool) (*goose.Provider, error) {
	sub, err := fs.Sub(migrations, "migrations")
	if err != nil {
		return nil, err
	}
	opts := []goose.ProviderOption{goose.WithTableName(versionTable), goose.WithDisableGlobalRegistry(true), goose.WithSlog(s.log)}
	if withLock {
		l, err := lock.NewPostgresTableLocker(lock.WithTableName(lockTable), lock.WithTableLogger(s.log))
		if err != nil {
			return nil, err
		}
		opts = append(opts, goose.WithLocker(l))
	}
	return goose.NewProvider(goose.DialectPostgres, stdlib.OpenDBFromPool(s.pool), sub, opts...)
}

// Migrate applies the migrations the database lacks, each in its own
// transaction, and logs each one applied. Bounded by ctx, not by the
// store's query timeout: a migration may take long.
func (s *Store) Migrate(ctx context.Context) error {
	p, err := s.provider(true)
	if err != nil {
		return fmt.Errorf("postgres store: migrate: %w", err)
	}
	defer p.Close()
	results, err := p.Up(ctx)
	if err != nil {
		return fmt.Errorf("postgres store: migrate: %w", err)
	}
	for _, r := range results {
		s.log.Info("applied migration", "version", r.Source.Version, "file", r.Source.Path, "took", r.Duration)
	}
	return nil
}

// Versions returns the database's schema version and this program's
// newest.
func (s *Store) Versions(ctx context.Context) (current, newest int64, err error) {
	p, err := s.provider(false)
	if err != nil {
		return 0, 0, fmt.Errorf("postgres store: %w", err)
	}
	defer p.Close()
	ctx, cancel := s.bound(ctx)
	defer cancel()
	current, newest, err = p.GetVersions(ctx)
	if err != nil {
		return 0, 0, fmt.Errorf("postgres store: schema version: %w", err)
	}
	return current, newest, nil
}

// CheckSchema returns nil when the database has every migration this
// program has (or newer ones, from a newer edge of the fleet: migrations
// only add), else an error wrapping ErrSchemaBehind.
func (s *Store) CheckSchema(ctx context.Context) error {
	current, newest, err := s.Versions(ctx)
	if err != nil {
		return err
	}
	if current < newest {
		return fmt.Errorf("%w (database at version %d, this program's newest %d)", ErrSchemaBehind, current, newest)
	}
	return nil
}
