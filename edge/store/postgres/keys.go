package postgres

import (
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/airlockhq/airlock/internal/wire"
)

// The fleet's token signing keys. Each edge signs with the private key of
// its own config (a key file that never leaves it) and publishes the
// public halves here; every edge verifies with every published key that
// has not expired, so a token minted at any edge verifies at all of them.
// A key the config no longer signs with (after `airlock-edge key rotate`
// and the reload that follows) is retired: it keeps verifying for keep
// (the longest token lifetime, leeway included) after it was first
// published as retired, then expires and Collect removes it. A signing key
// has no expiry. An edge publishes a key before it signs with it, and a
// publication that changes anything NOTIFYs [keyChannel] in its
// transaction: the other edges' [Store.WatchKeys] reread the keys at once.

// keyChannel is the NOTIFY channel of key changes (empty payload).
const keyChannel = "airlock_keys"

// Bounds of the keys published and read.
const (
	// MaxPublishKeys bounds one edge's keys in one [Store.PublishKeys]
	// (a connector takes at most 16 keys from its edge anyway).
	MaxPublishKeys = 16
	// MaxFleetKeys bounds the keys [Store.FleetKeys] returns.
	MaxFleetKeys = 256
	// maxKeyID bounds a key id.
	maxKeyID = 128
)

// ErrKeyConflict: a key id is published with another public key than the
// one the store has under that id.
var ErrKeyConflict = errors.New("a signing key id is already published with another public key")

// PublishKeys records this edge's signing keys, all or none: signing is
// the key it signs with from now on, retired those its config keeps only
// for verification. A retired key verifies until now+keep (keep: the
// longest lifetime of a token it signed, leeway included) unless it was
// retired before (its expiry stays); a key published as signing has no
// expiry, even one retired or expired before (the edge signs with it
// again). Any change notifies the other edges in the same transaction.
// Publishing again what the store has changes nothing and notifies no
// one.
func (s *Store) PublishKeys(ctx context.Context, signing wire.PublicKey, retired []wire.PublicKey, now time.Time, keep time.Duration) error {
	all := append([]wire.PublicKey{signing}, retired...)
	if len(all) > MaxPublishKeys {
		return fmt.Errorf("publish keys: %d keys, limit %d", len(all), MaxPublishKeys)
	}
	if keep <= 0 {
		return fmt.Errorf("publish keys: a retired key's keep must be positive, not %s", keep)
	}
	kids := make([]string, 0, len(all))
	for _, k := range all {
		if k.ID == "" || len(k.ID) > maxKeyID || len(k.Key) != ed25519.PublicKeySize {
			return fmt.Errorf("publish keys: key %.128q is not an Ed25519 public key with an id of 1 to %d bytes", k.ID, maxKeyID)
		}
		for _, id := range kids {
			if id == k.ID {
				return fmt.Errorf("publish keys: key id %q appears twice", k.ID)
			}
		}
		kids = append(kids, k.ID)
	}
	now = now.Truncate(time.Microsecond)
	return s.tx(ctx, func(ctx context.Context, tx pgx.Tx) error {
		if err := checkKeyConflicts(ctx, tx, all); err != nil {
			return err
		}
		var changed int64
		tag, err := tx.Exec(ctx, `INSERT INTO airlock_signing_keys (kid, public_key, created) VALUES ($1, $2, $3)
			ON CONFLICT (kid) DO UPDATE SET retired = NULL, expires = NULL
			WHERE airlock_signing_keys.retired IS NOT NULL`, signing.ID, []byte(signing.Key), now)
		if err != nil {
			return wrap("publish keys", err)
		}
		changed += tag.RowsAffected()
		for _, k := range retired {
			tag, err := tx.Exec(ctx, `INSERT INTO airlock_signing_keys (kid, public_key, created, retired, expires) VALUES ($1, $2, $3, $3, $4)
				ON CONFLICT (kid) DO UPDATE SET retired = $3, expires = $4
				WHERE airlock_signing_keys.retired IS NULL`, k.ID, []byte(k.Key), now, now.Add(keep))
			if err != nil {
				return wrap("publish keys", err)
			}
			changed += tag.RowsAffected()
		}
		if changed > 0 && s.notify {
			if _, err := tx.Exec(ctx, `SELECT pg_notify($1, '')`, keyChannel); err != nil {
				return wrap("publish keys: notify", err)
			}
		}
		return nil
	})
}

// checkKeyConflicts locks the rows of keys' ids and refuses an id the
// store holds with another public key.
func checkKeyConflicts(ctx context.Context, tx pgx.Tx, keys []wire.PublicKey) error {
	kids := make([]string, len(keys))
	for i, k := range keys {
		kids[i] = k.ID
	}
	rows, err := tx.Query(ctx, `SELECT kid, public_key FROM airlock_signing_keys WHERE kid = ANY($1) FOR UPDATE`, kids)
	if err != nil {
		return wrap("publish keys", err)
	}
	have := make(map[string][]byte, len(keys))
	for rows.Next() {
		var kid string
		var pub []byte
		if err := rows.Scan(&kid, &pub); err != nil {
			rows.Close()
			return wrap("publish keys", err)
		}
		have[kid] = pub
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return wrap("publish keys", err)
	}
	for _, k := range keys {
		if pub, ok := have[k.ID]; ok && !ed25519.PublicKey(pub).Equal(k.Key) {
			return fmt.Errorf("publish keys: %w: %q", ErrKeyConflict, k.ID)
		}
	}
	return nil
}

// FleetKeys returns the published keys that verify at now: the signing
// ones first, then the retired ones, each by first publication, newest
// first; at most MaxFleetKeys. A row that does not hold an Ed25519 key is skipped.
func (s *Store) FleetKeys(ctx context.Context, now time.Time) ([]wire.PublicKey, error) {
	ctx, cancel := s.bound(ctx)
	defer cancel()
	rows, err := s.pool.Query(ctx, `SELECT kid, public_key FROM airlock_signing_keys
		WHERE expires IS NULL OR expires > $1
		ORDER BY retired IS NOT NULL, created DESC, kid LIMIT $2`, now, MaxFleetKeys)
	if err != nil {
		return nil, wrap("fleet keys", err)
	}
	defer rows.Close()
	var keys []wire.PublicKey
	for rows.Next() {
		var k wire.PublicKey
		var pub []byte
		if err := rows.Scan(&k.ID, &pub); err != nil {
			return nil, wrap("fleet keys", err)
		}
		if len(pub) != ed25519.PublicKeySize || k.ID == "" || len(k.ID) > maxKeyID {
			continue // not a key this edge can use: skip, never fail the rest
		}
		k.Key = ed25519.PublicKey(pub)
		keys = append(keys, k)
	}
	return keys, wrap("fleet keys", rows.Err())
}

// WatchKeys calls changed each time the fleet's keys may have changed:
// once each time its connection is listening (so that what changed while
// it was away is not missed; listening, which may be nil, is called right
// after), then on each publication that changed something, at any edge.
// Both run on the watch's goroutine and must not block (changed should
// schedule a [Store.FleetKeys]). It reconnects with backoff like
// [Store.WatchRevocations], and returns ctx's cause, or ErrNoNotify on a
// database without NOTIFY (the edges then reread the keys at reload).
func (s *Store) WatchKeys(ctx context.Context, changed func(), listening func()) error {
	return s.watchChanges(ctx, "key watch", keyChannel, changed, listening)
}
