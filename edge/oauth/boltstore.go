package oauth

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	bolt "go.etcd.io/bbolt"
	berrors "go.etcd.io/bbolt/errors"
)

var (
	bucketCodes     = []byte("codes")
	bucketFamilies  = []byte("families")
	bucketRefresh   = []byte("refresh")
	bucketDevices   = []byte("devices")
	bucketUserCodes = []byte("user_codes")
)

// BoltStore is a [Store] in one bbolt file: the embedded store of a
// single edge. bbolt locks the file, so one process at a time opens it.
type BoltStore struct {
	db *bolt.DB
}

// OpenBoltStore opens (or creates, 0600) the store at path. It waits up
// to timeout for another process holding the file.
func OpenBoltStore(path string, timeout time.Duration) (*BoltStore, error) {
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: timeout})
	if err != nil {
		if errors.Is(err, berrors.ErrTimeout) {
			return nil, fmt.Errorf("open sign-in store %s: another process (a running airlock-edge?) holds it", path)
		}
		return nil, fmt.Errorf("open sign-in store %s: %w", path, err)
	}
	err = db.Update(func(tx *bolt.Tx) error {
		for _, b := range [][]byte{bucketCodes, bucketFamilies, bucketRefresh, bucketDevices, bucketUserCodes} {
			if _, err := tx.CreateBucketIfNotExists(b); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("open sign-in store %s: %w", path, err)
	}
	return &BoltStore{db: db}, nil
}

// Close closes the file.
func (s *BoltStore) Close() error { return s.db.Close() }

func getRecord[T any](b *bolt.Bucket, key string, valid func(*T) error) (*T, error) {
	raw := b.Get([]byte(key))
	if raw == nil {
		return nil, ErrNotFound
	}
	return decodeRecord(raw, valid)
}

func putRecord(b *bolt.Bucket, key string, v any) error {
	raw, err := encodeRecord(v)
	if err != nil {
		return err
	}
	return b.Put([]byte(key), raw)
}

func (s *BoltStore) update(ctx context.Context, fn func(*bolt.Tx) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	return s.db.Update(fn)
}

func (s *BoltStore) view(ctx context.Context, fn func(*bolt.Tx) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	return s.db.View(fn)
}

// PutCode implements [Store].
func (s *BoltStore) PutCode(ctx context.Context, key string, c Code) error {
	return s.update(ctx, func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketCodes)
		if b.Get([]byte(key)) != nil {
			return ErrCodeUsed
		}
		return putRecord(b, key, c)
	})
}

// RedeemCode implements [Store].
func (s *BoltStore) RedeemCode(ctx context.Context, key string, now time.Time) (Code, error) {
	var out Code
	err := s.update(ctx, func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketCodes)
		c, err := getRecord(b, key, validCode)
		if err != nil {
			return err
		}
		out = *c
		if c.Used {
			return ErrCodeUsed
		}
		if !now.Before(c.Expires) {
			return ErrExpired
		}
		c.Used = true
		return putRecord(b, key, c)
	})
	return out, err
}

// SetCodeFamily implements [Store].
func (s *BoltStore) SetCodeFamily(ctx context.Context, key, family string) error {
	return s.update(ctx, func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketCodes)
		c, err := getRecord(b, key, validCode)
		if err != nil {
			return err
		}
		c.Family = family
		return putRecord(b, key, c)
	})
}

// CreateFamily implements [Store].
func (s *BoltStore) CreateFamily(ctx context.Context, f Family) error {
	if err := validFamily(&f); err != nil {
		return err
	}
	return s.update(ctx, func(tx *bolt.Tx) error {
		fb, rb := tx.Bucket(bucketFamilies), tx.Bucket(bucketRefresh)
		if fb.Get([]byte(f.ID)) != nil || rb.Get([]byte(f.Current)) != nil {
			return errors.New("family or refresh token exists")
		}
		if err := putRecord(rb, f.Current, refreshEntry{Family: f.ID, Generation: f.Generation}); err != nil {
			return err
		}
		return putRecord(fb, f.ID, f)
	})
}

// Rotate implements [Store].
func (s *BoltStore) Rotate(ctx context.Context, oldKey, newKey string, now, expires time.Time) (Family, error) {
	var out Family
	var result error
	err := s.update(ctx, func(tx *bolt.Tx) error {
		fb, rb := tx.Bucket(bucketFamilies), tx.Bucket(bucketRefresh)
		e, err := getRecord(rb, oldKey, validRefresh)
		if err != nil {
			return err
		}
		f, err := getRecord(fb, e.Family, validFamily)
		if err != nil {
			return err
		}
		out = *f
		switch {
		case !f.Revoked.IsZero():
			return ErrRevoked
		case e.Generation != f.Generation || f.Current != oldKey:
			f.Revoked, f.RevokeReason = now, "a rotated refresh token was used again"
			out = *f
			result = ErrRefreshReused
			return putRecord(fb, f.ID, f)
		case !now.Before(f.Expires):
			return ErrExpired
		}
		if rb.Get([]byte(newKey)) != nil {
			return errors.New("new refresh token collides")
		}
		f.Generation++
		f.Current, f.Expires = newKey, expires
		if err := putRecord(rb, newKey, refreshEntry{Family: f.ID, Generation: f.Generation}); err != nil {
			return err
		}
		out = *f
		return putRecord(fb, f.ID, f)
	})
	if err != nil {
		return out, err
	}
	return out, result
}

// FamilyByRefresh implements [Store].
func (s *BoltStore) FamilyByRefresh(ctx context.Context, key string) (Family, error) {
	var out Family
	err := s.view(ctx, func(tx *bolt.Tx) error {
		e, err := getRecord(tx.Bucket(bucketRefresh), key, validRefresh)
		if err != nil {
			return err
		}
		f, err := getRecord(tx.Bucket(bucketFamilies), e.Family, validFamily)
		if err != nil {
			return err
		}
		out = *f
		return nil
	})
	return out, err
}

// RevokeFamily implements [Store].
func (s *BoltStore) RevokeFamily(ctx context.Context, id string, at time.Time, reason string) error {
	return s.update(ctx, func(tx *bolt.Tx) error {
		fb := tx.Bucket(bucketFamilies)
		f, err := getRecord(fb, id, validFamily)
		if err != nil {
			return err
		}
		if !f.Revoked.IsZero() {
			return nil
		}
		f.Revoked, f.RevokeReason = at, reason
		return putRecord(fb, id, f)
	})
}

// RevokeUser implements [Store].
func (s *BoltStore) RevokeUser(ctx context.Context, email string, before, at time.Time) ([]string, error) {
	var ids []string
	err := s.update(ctx, func(tx *bolt.Tx) error {
		fb := tx.Bucket(bucketFamilies)
		var revoked []*Family
		err := fb.ForEach(func(k, v []byte) error {
			f, err := decodeRecord(v, validFamily)
			if err != nil {
				return nil // a damaged record is skipped; Collect drops it
			}
			if f.Revoked.IsZero() && strings.EqualFold(f.Identity.Email, email) && f.Created.Before(before) {
				f.Revoked, f.RevokeReason = at, "the user's sign-ins were revoked"
				revoked = append(revoked, f)
			}
			return nil
		})
		if err != nil {
			return err
		}
		for _, f := range revoked {
			if err := putRecord(fb, f.ID, f); err != nil {
				return err
			}
			ids = append(ids, f.ID)
		}
		return nil
	})
	return ids, err
}

// RevokedSince implements [Store].
func (s *BoltStore) RevokedSince(ctx context.Context, since time.Time) ([]string, error) {
	var ids []string
	err := s.view(ctx, func(tx *bolt.Tx) error {
		return tx.Bucket(bucketFamilies).ForEach(func(k, v []byte) error {
			f, err := decodeRecord(v, validFamily)
			if err == nil && !f.Revoked.IsZero() && !f.Revoked.Before(since) {
				ids = append(ids, f.ID)
			}
			return nil
		})
	})
	return ids, err
}

// PutDevice implements [Store].
func (s *BoltStore) PutDevice(ctx context.Context, d Device) error {
	if err := validDevice(&d); err != nil {
		return err
	}
	return s.update(ctx, func(tx *bolt.Tx) error {
		db, ub := tx.Bucket(bucketDevices), tx.Bucket(bucketUserCodes)
		if ub.Get([]byte(d.UserCode)) != nil || db.Get([]byte(d.Key)) != nil {
			return ErrCodeUsed
		}
		if err := ub.Put([]byte(d.UserCode), []byte(d.Key)); err != nil {
			return err
		}
		return putRecord(db, d.Key, d)
	})
}

// UpdateDevice implements [Store].
func (s *BoltStore) UpdateDevice(ctx context.Context, key string, fn func(*Device) error) (Device, error) {
	var out Device
	err := s.update(ctx, func(tx *bolt.Tx) error {
		db := tx.Bucket(bucketDevices)
		d, err := getRecord(db, key, validDevice)
		if err != nil {
			return err
		}
		if err := fn(d); err != nil {
			out = *d
			return err
		}
		out = *d
		if d.Status == "" {
			if err := tx.Bucket(bucketUserCodes).Delete([]byte(d.UserCode)); err != nil {
				return err
			}
			return db.Delete([]byte(key))
		}
		if err := validDevice(d); err != nil {
			return err
		}
		return putRecord(db, key, d)
	})
	return out, err
}

// DeviceByUserCode implements [Store].
func (s *BoltStore) DeviceByUserCode(ctx context.Context, userCode string) (Device, error) {
	var out Device
	err := s.view(ctx, func(tx *bolt.Tx) error {
		key := tx.Bucket(bucketUserCodes).Get([]byte(userCode))
		if key == nil {
			return ErrNotFound
		}
		d, err := getRecord(tx.Bucket(bucketDevices), string(key), validDevice)
		if err != nil {
			return err
		}
		out = *d
		return nil
	})
	return out, err
}

// Collect implements [Store].
func (s *BoltStore) Collect(ctx context.Context, now time.Time, keep time.Duration) error {
	return s.update(ctx, func(tx *bolt.Tx) error {
		var drop [][]byte
		collect := func(b *bolt.Bucket, gone func(v []byte) bool) error {
			drop = drop[:0]
			b.ForEach(func(k, v []byte) error { //nolint:errcheck // the callback never fails
				if gone(v) {
					drop = append(drop, append([]byte(nil), k...))
				}
				return nil
			})
			for _, k := range drop {
				if err := b.Delete(k); err != nil {
					return err
				}
			}
			return nil
		}
		if err := collect(tx.Bucket(bucketCodes), func(v []byte) bool {
			c, err := decodeRecord(v, validCode)
			return err != nil || now.After(c.Expires.Add(keep))
		}); err != nil {
			return err
		}
		fb := tx.Bucket(bucketFamilies)
		if err := collect(fb, func(v []byte) bool {
			f, err := decodeRecord(v, validFamily)
			if err != nil {
				return true
			}
			if !f.Revoked.IsZero() {
				return now.After(f.Revoked.Add(keep))
			}
			return now.After(f.Expires)
		}); err != nil {
			return err
		}
		if err := collect(tx.Bucket(bucketRefresh), func(v []byte) bool {
			e, err := decodeRecord(v, validRefresh)
			return err != nil || fb.Get([]byte(e.Family)) == nil
		}); err != nil {
			return err
		}
		db := tx.Bucket(bucketDevices)
		if err := collect(db, func(v []byte) bool {
			d, err := decodeRecord(v, validDevice)
			return err != nil || !now.Before(d.Expires) // nothing to learn from a lapsed device code
		}); err != nil {
			return err
		}
		return collect(tx.Bucket(bucketUserCodes), func(v []byte) bool { return db.Get(v) == nil })
	})
}

var _ Store = (*BoltStore)(nil)
