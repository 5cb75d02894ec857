package postgres

import (
	"context"
	"fmt"
	"time"
)

// collectBatch bounds the rows one DELETE removes, so that a large
// backlog never makes one huge transaction (CockroachDB limits their
// size).
const collectBatch = 1000

// Collect implements [oauth.Store]: codes go keep after their expiry,
// device authorizations at it, revoked families keep after their
// revocation, live ones when they expire (their refresh keys with
// them, ON DELETE CASCADE), retired signing keys keep after their
// expiry. Each batch is bounded by its own QueryTimeout, the whole by
// ctx.
func (s *Store) Collect(ctx context.Context, now time.Time, keep time.Duration) error {
	cutoff := now.Add(-keep)
	for _, q := range []struct {
		table, key, cond string
		args             []any
	}{
		{"airlock_codes", "key", "expires < $1", []any{cutoff}},
		{"airlock_families", "id", "(revoked IS NOT NULL AND revoked < $1) OR (revoked IS NULL AND expires < $2)", []any{cutoff, now}},
		{"airlock_devices", "key", "expires <= $1", []any{now}},
		// An expired key stays keep as a tombstone: an edge whose config
		// still lists it as retired does not publish it anew meanwhile.
		{"airlock_signing_keys", "kid", "expires < $1", []any{cutoff}},
	} {
		sql := fmt.Sprintf("DELETE FROM %[1]s WHERE %[2]s IN (SELECT %[2]s FROM %[1]s WHERE %[3]s LIMIT %[4]d)",
			q.table, q.key, q.cond, collectBatch)
		for {
			if err := ctx.Err(); err != nil {
				return err
			}
			n, err := s.exec(ctx, sql, q.args...)
			if err != nil {
				return wrap("collect "+q.table, err)
			}
			if n < collectBatch {
				break
			}
		}
	}
	return nil
}

// exec runs one statement within the call's deadline and returns the
// rows it touched.
func (s *Store) exec(ctx context.Context, sql string, args ...any) (int64, error) {
	ctx, cancel := s.bound(ctx)
	defer cancel()
	tag, err := s.pool.Exec(ctx, sql, args...)
	return tag.RowsAffected(), err
}
