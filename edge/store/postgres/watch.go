package postgres

import (
	"context"
	"errors"
	"fmt"
	"net"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/airlockhq/airlock/internal/backoff"
)

// ErrNoNotify: the database has no LISTEN/NOTIFY (CockroachDB has no
// pg_notify; YugabyteDB refuses LISTEN), so there is no revocation push.
var ErrNoNotify = errors.New("the database has no LISTEN/NOTIFY: no revocation push")

// catchUpSlack widens the catch-up after a reconnection, for edges whose
// clocks (which stamp revocations) run apart.
const catchUpSlack = time.Minute

// WatchRevocations calls revoked with the id of each family revoked on
// the database, by any store (this one included), from shortly before
// the call (catchUpSlack) until ctx ends. It
// listens (LISTEN/NOTIFY) on a connection of its own, outside the pool;
// when that is lost it reconnects with backoff and, before calling
// listening again, reports by [Store.RevokedSince] what was revoked
// meanwhile, so an id may come more than once. Both functions run on the
// watch's goroutine and must not block. It returns ctx's cause, or
// ErrNoNotify on a database without NOTIFY.
//
// Its signature has only standard types, so that the sign-in server can
// ask for it through an interface of its own.
func (s *Store) WatchRevocations(ctx context.Context, revoked func(familyID string), listening func()) error {
	if !s.notify {
		return ErrNoNotify
	}
	// The first LISTEN catches up too, from a little before the watch
	// began: a revocation made while the edge was starting (after it had
	// read the revoked families, before this connection listened) would
	// otherwise wait for the edge's next full refresh.
	since := time.Now()
	return s.watch(ctx, "revocation watch", func() error { return s.listen(ctx, revoked, listening, &since) })
}

// watch runs once (one listening connection) again after each failure,
// with backoff, until ctx ends.
func (s *Store) watch(ctx context.Context, name string, once func() error) error {
	b := backoff.New(backoff.Config{Base: 100 * time.Millisecond, Max: 5 * time.Second})
	for {
		up := time.Now()
		err := once()
		if ctx.Err() != nil {
			return context.Cause(ctx)
		}
		if isCode(err, "0A000") { // feature_not_supported: LISTEN (YugabyteDB)
			return fmt.Errorf("%w: %w", ErrNoNotify, err)
		}
		b.Connected(up)
		s.log.Warn(name+": connection lost, reconnecting", "err", err)
		if err := b.Wait(ctx); err != nil {
			return err
		}
	}
}

// listen runs one connection of the watch until it fails.
func (s *Store) listen(ctx context.Context, revoked func(string), listening func(), since *time.Time) error {
	conn, err := s.listenOn(ctx, revocationChannel)
	if err != nil {
		return err
	}
	defer s.closeListener(ctx, conn)
	up := time.Now()
	if !since.IsZero() {
		ids, err := s.RevokedSince(ctx, since.Add(-catchUpSlack))
		if err != nil {
			return fmt.Errorf("catch up: %w", err)
		}
		for _, id := range ids {
			revoked(id)
		}
	}
	*since = up
	if listening != nil {
		listening()
	}
	for {
		n, err := conn.WaitForNotification(ctx)
		if err != nil {
			return err
		}
		if n.Channel == revocationChannel && n.Payload != "" {
			revoked(n.Payload)
		}
	}
}

// listenOn connects outside the pool and LISTENs on channel.
func (s *Store) listenOn(ctx context.Context, channel string) (*pgx.Conn, error) {
	cfg := s.pool.Config().ConnConfig.Copy()
	// A peer gone without a word (a partition, a dead host) is noticed
	// in about 25 s, not after the system's two hours.
	d := &net.Dialer{KeepAliveConfig: net.KeepAliveConfig{Enable: true, Idle: 10 * time.Second, Interval: 5 * time.Second, Count: 3}}
	cfg.DialFunc = d.DialContext
	cctx, cancel := s.bound(ctx)
	conn, err := pgx.ConnectConfig(cctx, cfg)
	cancel()
	if err != nil {
		return nil, fmt.Errorf("listen: %w", err)
	}
	cctx, cancel = s.bound(ctx)
	_, err = conn.Exec(cctx, "LISTEN "+channel)
	cancel()
	if err != nil {
		s.closeListener(ctx, conn)
		return nil, fmt.Errorf("listen: %w", err)
	}
	return conn, nil
}

// closeListener closes a listening connection within cleanupTimeout.
func (s *Store) closeListener(ctx context.Context, conn *pgx.Conn) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), cleanupTimeout)
	defer cancel()
	_ = conn.Close(ctx)
}

// watchChanges is the watch of a channel whose notifications only say
// "something changed" (keys, the fleet's members): changed once each time
// its connection is listening (what changed while it was away is not
// missed), listening (which may be nil) right after, then changed on each
// notification. ErrNoNotify on a database without NOTIFY.
func (s *Store) watchChanges(ctx context.Context, name, channel string, changed, listening func()) error {
	if !s.notify {
		return ErrNoNotify
	}
	return s.watch(ctx, name, func() error {
		conn, err := s.listenOn(ctx, channel)
		if err != nil {
			return err
		}
		defer s.closeListener(ctx, conn)
		changed()
		if listening != nil {
			listening()
		}
		for {
			n, err := conn.WaitForNotification(ctx)
			if err != nil {
				return err
			}
			if n.Channel == channel {
				changed()
			}
		}
	})
}
