package postgres

import (
	"context"
	"errors"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/airlockhq/airlock/edge/oauth"
)

// PutCode implements [oauth.Store]. A key stored before gives
// oauth.ErrCodeUsed.
func (s *Store) PutCode(ctx context.Context, key string, c oauth.Code) error {
	rec, err := encode(c)
	if err != nil {
		return wrap("put code", err)
	}
	ctx, cancel := s.bound(ctx)
	defer cancel()
	tag, err := s.pool.Exec(ctx, `INSERT INTO airlock_codes (key, expires, used, family, record)
		VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING`, key, c.Expires, c.Used, c.Family, rec)
	if err == nil && tag.RowsAffected() == 0 {
		err = oauth.ErrCodeUsed
	}
	return wrap("put code", err)
}

// RedeemCode implements [oauth.Store]: one statement marks the code used
// only if it was not, so of two edges redeeming the same code at once
// exactly one gets it.
func (s *Store) RedeemCode(ctx context.Context, key string, now time.Time) (oauth.Code, error) {
	ctx, cancel := s.bound(ctx)
	defer cancel()
	var rec []byte
	var family string
	err := s.pool.QueryRow(ctx, `UPDATE airlock_codes SET used = true
		WHERE key = $1 AND NOT used AND expires > $2 RETURNING record, family`, key, now).Scan(&rec, &family)
	if err == nil {
		// The record as it was before this redemption, as the bbolt
		// store returns it.
		c, err := readCode(rec, false, family)
		return c, wrap("redeem code", err)
	}
	if !errors.Is(err, pgx.ErrNoRows) {
		return oauth.Code{}, wrap("redeem code", err)
	}
	// Not redeemed now: unknown, used before, or expired.
	var used bool
	err = s.pool.QueryRow(ctx, `SELECT record, used, family FROM airlock_codes WHERE key = $1`, key).Scan(&rec, &used, &family)
	if errors.Is(err, pgx.ErrNoRows) {
		return oauth.Code{}, oauth.ErrNotFound
	}
	if err != nil {
		return oauth.Code{}, wrap("redeem code", err)
	}
	c, err := readCode(rec, used, family)
	switch {
	case err != nil:
		return c, wrap("redeem code", err)
	case used:
		return c, oauth.ErrCodeUsed
	}
	return c, oauth.ErrExpired
}

// readCode decodes a code's record; the columns used and family are the
// truth for those two fields.
func readCode(rec []byte, used bool, family string) (oauth.Code, error) {
	c, err := decode(rec, validCode)
	c.Used, c.Family = used, family
	return c, err
}

// SetCodeFamily implements [oauth.Store].
func (s *Store) SetCodeFamily(ctx context.Context, key, family string) error {
	ctx, cancel := s.bound(ctx)
	defer cancel()
	tag, err := s.pool.Exec(ctx, `UPDATE airlock_codes SET family = $2 WHERE key = $1`, key, family)
	if err == nil && tag.RowsAffected() == 0 {
		err = oauth.ErrNotFound
	}
	return wrap("set code family", err)
}

// PutDevice implements [oauth.Store]: the key and the user code are
// each unique, so a user code in use gives oauth.ErrCodeUsed.
func (s *Store) PutDevice(ctx context.Context, d oauth.Device) error {
	if err := validDevice(&d); err != nil {
		return wrap("put device", err)
	}
	rec, err := encode(d)
	if err != nil {
		return wrap("put device", err)
	}
	ctx, cancel := s.bound(ctx)
	defer cancel()
	tag, err := s.pool.Exec(ctx, `INSERT INTO airlock_devices (key, user_code, expires, record)
		VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING`, d.Key, d.UserCode, d.Expires, rec)
	if err == nil && tag.RowsAffected() == 0 {
		err = oauth.ErrCodeUsed
	}
	return wrap("put device", err)
}

// UpdateDevice implements [oauth.Store]: the row is locked from the read
// to the write, so two edges' polls and approvals serialize. fn's own
// error comes back as it is. fn may run more than once, on a fresh copy
// of the record, when the database asks to retry the transaction
// (CockroachDB's serialization retries; PostgreSQL does not here).
func (s *Store) UpdateDevice(ctx context.Context, key string, fn func(*oauth.Device) error) (oauth.Device, error) {
	const op = "update device"
	var out oauth.Device
	err := s.tx(ctx, func(ctx context.Context, tx pgx.Tx) error {
		var rec []byte
		err := tx.QueryRow(ctx, `SELECT record FROM airlock_devices WHERE key = $1 FOR UPDATE`, key).Scan(&rec)
		if errors.Is(err, pgx.ErrNoRows) {
			return oauth.ErrNotFound
		}
		if err != nil {
			return wrap(op, err)
		}
		d, err := decode(rec, validDevice)
		if err != nil {
			return wrap(op, err)
		}
		err = fn(&d)
		out = d
		if err != nil {
			return err
		}
		if d.Status == "" {
			_, err := tx.Exec(ctx, `DELETE FROM airlock_devices WHERE key = $1`, key)
			return wrap(op, err)
		}
		if err := validDevice(&d); err != nil {
			return wrap(op, err)
		}
		if rec, err = encode(d); err != nil {
			return wrap(op, err)
		}
		_, err = tx.Exec(ctx, `UPDATE airlock_devices SET user_code = $2, expires = $3, record = $4 WHERE key = $1`,
			key, d.UserCode, d.Expires, rec)
		return wrap(op, err)
	})
	return out, err
}

// DeviceByUserCode implements [oauth.Store].
func (s *Store) DeviceByUserCode(ctx context.Context, userCode string) (oauth.Device, error) {
	ctx, cancel := s.bound(ctx)
	defer cancel()
	var rec []byte
	err := s.pool.QueryRow(ctx, `SELECT record FROM airlock_devices WHERE user_code = $1`, userCode).Scan(&rec)
	if errors.Is(err, pgx.ErrNoRows) {
		return oauth.Device{}, oauth.ErrNotFound
	}
	if err != nil {
		return oauth.Device{}, wrap("device by user code", err)
	}
	d, err := decode(rec, validDevice)
	return d, wrap("device by user code", err)
}
