package postgres

import (
	"context"
	"errors"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/airlockhq/airlock/edge/oauth"
)

// reasonReuse and reasonUser are the revocation reasons the store
// itself gives, worded as the bbolt store words them.
const (
	reasonReuse = "a rotated refresh token was used again"
	reasonUser  = "the user's sign-ins were revoked"
)

// CreateFamily implements [oauth.Store].
func (s *Store) CreateFamily(ctx context.Context, f oauth.Family) error {
	const op = "create family"
	if err := validFamily(&f); err != nil {
		return wrap(op, err)
	}
	rec, err := encode(f)
	if err != nil {
		return wrap(op, err)
	}
	return s.tx(ctx, func(ctx context.Context, tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `INSERT INTO airlock_families (id, email_fold, created, expires, generation, current_key, revoked, record)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT DO NOTHING`,
			f.ID, strings.ToLower(f.Identity.Email), f.Created, f.Expires, f.Generation, f.Current, nullTime(f.Revoked), rec)
		if err != nil {
			return wrap(op, err)
		}
		if tag.RowsAffected() == 0 {
			return wrap(op, errors.New("family exists"))
		}
		tag, err = tx.Exec(ctx, `INSERT INTO airlock_refresh (key, family, generation) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING`,
			f.Current, f.ID, f.Generation)
		if err != nil {
			return wrap(op, err)
		}
		if tag.RowsAffected() == 0 {
			return wrap(op, errors.New("refresh token exists"))
		}
		return nil
	})
}

// Rotate implements [oauth.Store]: the family's row is locked from the
// read to the write, so of two edges rotating the same token at once one
// rotates it and the other finds a reuse and revokes the family, in the
// same transaction.
func (s *Store) Rotate(ctx context.Context, oldKey, newKey string, now, expires time.Time) (oauth.Family, error) {
	const op = "rotate"
	var out oauth.Family
	err := s.tx(ctx, func(ctx context.Context, tx pgx.Tx) error {
		var id string
		var gen int
		err := tx.QueryRow(ctx, `SELECT family, generation FROM airlock_refresh WHERE key = $1`, oldKey).Scan(&id, &gen)
		if errors.Is(err, pgx.ErrNoRows) {
			return oauth.ErrNotFound
		}
		if err != nil {
			return wrap(op, err)
		}
		f, err := s.lockFamily(ctx, tx, id)
		if err != nil {
			return err
		}
		out = f
		switch {
		case !f.Revoked.IsZero():
			return oauth.ErrRevoked
		case gen != f.Generation || f.Current != oldKey:
			f.Revoked, f.RevokeReason = now, reasonReuse
			out = f
			if err := s.writeFamily(ctx, tx, f, true); err != nil {
				return err
			}
			return commitWith{oauth.ErrRefreshReused}
		case !now.Before(f.Expires):
			return oauth.ErrExpired
		}
		f.Generation++
		f.Current, f.Expires = newKey, expires
		tag, err := tx.Exec(ctx, `INSERT INTO airlock_refresh (key, family, generation) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING`,
			newKey, f.ID, f.Generation)
		if err != nil {
			return wrap(op, err)
		}
		if tag.RowsAffected() == 0 {
			return wrap(op, errors.New("new refresh token collides"))
		}
		out = f
		return s.writeFamily(ctx, tx, f, false)
	})
	return out, err
}

// lockFamily reads family id and locks its row until tx ends.
func (s *Store) lockFamily(ctx context.Context, tx pgx.Tx, id string) (oauth.Family, error) {
	var rec []byte
	err := tx.QueryRow(ctx, `SELECT record FROM airlock_families WHERE id = $1 FOR UPDATE`, id).Scan(&rec)
	if errors.Is(err, pgx.ErrNoRows) {
		return oauth.Family{}, oauth.ErrNotFound
	}
	if err != nil {
		return oauth.Family{}, wrap("read family", err)
	}
	f, err := decode(rec, validFamily)
	return f, wrap("read family", err)
}

// writeFamily stores f over its row; revoked also tells every edge
// watching ([Store.WatchRevocations]) when tx commits.
func (s *Store) writeFamily(ctx context.Context, tx pgx.Tx, f oauth.Family, revoked bool) error {
	rec, err := encode(f)
	if err != nil {
		return wrap("write family", err)
	}
	_, err = tx.Exec(ctx, `UPDATE airlock_families SET expires = $2, generation = $3, current_key = $4, revoked = $5, record = $6
		WHERE id = $1`, f.ID, f.Expires, f.Generation, f.Current, nullTime(f.Revoked), rec)
	if err != nil {
		return wrap("write family", err)
	}
	if revoked && s.notify {
		if _, err := tx.Exec(ctx, `SELECT pg_notify($1, $2)`, revocationChannel, f.ID); err != nil {
			return wrap("notify revocation", err)
		}
	}
	return nil
}

// FamilyByRefresh implements [oauth.Store].
func (s *Store) FamilyByRefresh(ctx context.Context, key string) (oauth.Family, error) {
	ctx, cancel := s.bound(ctx)
	defer cancel()
	var rec []byte
	err := s.pool.QueryRow(ctx, `SELECT f.record FROM airlock_refresh r JOIN airlock_families f ON f.id = r.family
		WHERE r.key = $1`, key).Scan(&rec)
	if errors.Is(err, pgx.ErrNoRows) {
		return oauth.Family{}, oauth.ErrNotFound
	}
	if err != nil {
		return oauth.Family{}, wrap("family by refresh", err)
	}
	f, err := decode(rec, validFamily)
	return f, wrap("family by refresh", err)
}

// RevokeFamily implements [oauth.Store].
func (s *Store) RevokeFamily(ctx context.Context, id string, at time.Time, reason string) error {
	return s.tx(ctx, func(ctx context.Context, tx pgx.Tx) error {
		f, err := s.lockFamily(ctx, tx, id)
		if err != nil || !f.Revoked.IsZero() {
			return err
		}
		f.Revoked, f.RevokeReason = at, reason
		return s.writeFamily(ctx, tx, f, true)
	})
}

// RevokeUser implements [oauth.Store]: every family of email (compared
// case-insensitively) created before before, in one transaction.
func (s *Store) RevokeUser(ctx context.Context, email string, before, at time.Time) ([]string, error) {
	var ids []string
	err := s.tx(ctx, func(ctx context.Context, tx pgx.Tx) error {
		ids = ids[:0]
		// created <= before, not <: the column keeps microseconds, the
		// exact comparison is on the record below.
		rows, err := tx.Query(ctx, `SELECT record FROM airlock_families
			WHERE email_fold = $1 AND revoked IS NULL AND created <= $2 ORDER BY id FOR UPDATE`, strings.ToLower(email), before)
		if err != nil {
			return wrap("revoke user", err)
		}
		var fams []oauth.Family
		for rows.Next() {
			var rec []byte
			if err := rows.Scan(&rec); err != nil {
				rows.Close()
				return wrap("revoke user", err)
			}
			f, err := decode(rec, validFamily)
			if err != nil {
				continue // a damaged record is skipped, as in the bbolt store
			}
			if strings.EqualFold(f.Identity.Email, email) && f.Created.Before(before) {
				fams = append(fams, f)
			}
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return wrap("revoke user", err)
		}
		for _, f := range fams {
			f.Revoked, f.RevokeReason = at, reasonUser
			if err := s.writeFamily(ctx, tx, f, true); err != nil {
				return err
			}
			ids = append(ids, f.ID)
		}
		return nil
	})
	return ids, err
}

// RevokedSince implements [oauth.Store].
func (s *Store) RevokedSince(ctx context.Context, since time.Time) ([]string, error) {
	ctx, cancel := s.bound(ctx)
	defer cancel()
	// The column keeps microseconds: select from the microsecond of
	// since, compare exactly on the record.
	rows, err := s.pool.Query(ctx, `SELECT record FROM airlock_families WHERE revoked >= $1 ORDER BY id`,
		since.Truncate(time.Microsecond))
	if err != nil {
		return nil, wrap("revoked since", err)
	}
	defer rows.Close()
	var ids []string
	for rows.Next() {
		var rec []byte
		if err := rows.Scan(&rec); err != nil {
			return nil, wrap("revoked since", err)
		}
		if f, err := decode(rec, validFamily); err == nil && !f.Revoked.Before(since) {
			ids = append(ids, f.ID)
		}
	}
	return ids, wrap("revoked since", rows.Err())
}

// nullTime is t, or NULL for the zero time.
func nullTime(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	return &t
}

// revocationChannel is the NOTIFY channel of revocations; the payload is
// the family's id.
const revocationChannel = "airlock_revocations"
