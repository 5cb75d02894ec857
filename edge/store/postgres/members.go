package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/airlockhq/airlock/internal/wire"
)

// The fleet's membership. Each running edge keeps a row in airlock_edges
// (its id, the address connectors dial, its process instance) alive with
// [Store.Beat]; a row whose heartbeat is older than its time to live is
// removed by the next Beat of any edge, and an edge that stops removes its
// own ([Store.Leave]). Every change of the list (a join, an address
// changed, a leave, an expiry) adds one to the fleet's generation and
// NOTIFYs [fleetChannel] in the same transaction: the other edges'
// [Store.WatchFleet] reread the list ([Store.Members]) within
// milliseconds and tell their connectors. A heartbeat alone changes
// nothing and notifies no one.
//
// Expiry compares times of the edges' clocks (each Beat's now): the time
// to live must exceed the heartbeat interval by more than the clocks run
// apart.

// fleetChannel is the NOTIFY channel of membership changes; the payload
// is the new generation.
const fleetChannel = "airlock_fleet"

// maxInstance bounds an edge's instance string.
const maxInstance = 128

// Beat is what [Store.Beat] did.
type Beat struct {
	// Joined: the edge had no row (it is new, or was removed as expired
	// while it could not reach the database) or another address.
	Joined bool
	// TookOver: the row was live and held by another instance: two
	// running edges share an id, or this one restarted without leaving.
	TookOver bool
	// Expired is how many other edges' rows expired and were removed.
	Expired int64
}

// Beat records m as a live member until now+ttl (instance names this
// process, so that a successor with the same id is told apart), and
// removes the rows of edges whose heartbeat expired at or before now.
func (s *Store) Beat(ctx context.Context, m wire.Member, instance string, now time.Time, ttl time.Duration) (Beat, error) {
	if err := checkMember(m); err != nil {
		return Beat{}, fmt.Errorf("fleet beat: %w", err)
	}
	if instance == "" || len(instance) > maxInstance {
		return Beat{}, fmt.Errorf("fleet beat: instance of %d bytes, want 1 to %d", len(instance), maxInstance)
	}
	if ttl <= 0 {
		return Beat{}, fmt.Errorf("fleet beat: time to live %s is not positive", ttl)
	}
	now = now.Truncate(time.Microsecond)
	var b Beat
	err := s.tx(ctx, func(ctx context.Context, tx pgx.Tx) error {
		b = Beat{}
		var addr, inst string
		var expires time.Time
		err := tx.QueryRow(ctx, `SELECT addr, instance, expires FROM airlock_edges WHERE id = $1 FOR UPDATE`, m.ID).Scan(&addr, &inst, &expires)
		switch {
		case errors.Is(err, pgx.ErrNoRows):
			b.Joined = true
			_, err = tx.Exec(ctx, `INSERT INTO airlock_edges (id, addr, instance, joined, expires) VALUES ($1, $2, $3, $4, $5)`,
				m.ID, m.Addr, instance, now, now.Add(ttl))
		case err == nil:
			b.Joined = addr != m.Addr || !expires.After(now)
			b.TookOver = inst != instance && expires.After(now)
			_, err = tx.Exec(ctx, `UPDATE airlock_edges SET addr = $2, instance = $3, expires = $4 WHERE id = $1`,
				m.ID, m.Addr, instance, now.Add(ttl))
		}
		if err != nil {
			return wrap("fleet beat", err)
		}
		tag, err := tx.Exec(ctx, `DELETE FROM airlock_edges WHERE expires <= $1`, now)
		if err != nil {
			return wrap("fleet beat: expire", err)
		}
		b.Expired = tag.RowsAffected()
		if b.Joined || b.Expired > 0 {
			return s.bumpFleet(ctx, tx)
		}
		return nil
	})
	return b, err
}

// Leave removes m's row if instance still holds it, so that an edge that
// stops is drained at once rather than at its expiry. It reports whether
// there was a row to remove.
func (s *Store) Leave(ctx context.Context, id, instance string) (bool, error) {
	var left bool
	err := s.tx(ctx, func(ctx context.Context, tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `DELETE FROM airlock_edges WHERE id = $1 AND instance = $2`, id, instance)
		if err != nil {
			return wrap("fleet leave", err)
		}
		if left = tag.RowsAffected() > 0; left {
			return s.bumpFleet(ctx, tx)
		}
		return nil
	})
	return left, err
}

// bumpFleet adds one to the generation and notifies the watches.
func (s *Store) bumpFleet(ctx context.Context, tx pgx.Tx) error {
	var gen int64
	if err := tx.QueryRow(ctx, `UPDATE airlock_fleet SET generation = generation + 1 WHERE id = 1 RETURNING generation`).Scan(&gen); err != nil {
		return wrap("fleet generation", err)
	}
	if s.notify {
		if _, err := tx.Exec(ctx, `SELECT pg_notify($1, $2)`, fleetChannel, fmt.Sprint(gen)); err != nil {
			return wrap("fleet notify", err)
		}
	}
	return nil
}

// Members returns the fleet's list as the store holds it, in one
// snapshot: its name, its generation and at most [wire.MaxMembers]
// members by id; more says there were others, left out. A row that is not
// a valid member (too long an id, a bad address) is skipped.
func (s *Store) Members(ctx context.Context) (m *wire.Members, more bool, err error) {
	ctx, cancel := s.bound(ctx)
	defer cancel()
	// One statement: the generation and the rows of one snapshot.
	rows, err := s.pool.Query(ctx, `SELECT f.name, f.generation, e.id, e.addr
		FROM airlock_fleet f LEFT JOIN airlock_edges e ON true
		WHERE f.id = 1 ORDER BY e.id LIMIT $1`, wire.MaxMembers+1)
	if err != nil {
		return nil, false, wrap("fleet members", err)
	}
	defer rows.Close()
	m = &wire.Members{}
	found := false
	for rows.Next() {
		var gen int64
		var id, addr *string
		if err := rows.Scan(&m.Fleet, &gen, &id, &addr); err != nil {
			return nil, false, wrap("fleet members", err)
		}
		found, m.Generation = true, uint64(max(gen, 0))
		if id == nil || addr == nil || checkMember(wire.Member{ID: *id, Addr: *addr}) != nil {
			continue
		}
		if len(m.Members) == wire.MaxMembers {
			more = true
			continue
		}
		m.Members = append(m.Members, wire.Member{ID: *id, Addr: *addr})
	}
	if err := rows.Err(); err != nil {
		return nil, false, wrap("fleet members", err)
	}
	if !found {
		return nil, false, errors.New("postgres store: fleet members: no fleet row (run airlock-edge migrate)")
	}
	return m, more, nil
}

// checkMember is what the wire accepts of a member.
func checkMember(m wire.Member) error {
	if m.ID == "" || len(m.ID) > wire.MaxEdgeIDLen {
		return fmt.Errorf("edge id of %d bytes, want 1 to %d", len(m.ID), wire.MaxEdgeIDLen)
	}
	if err := wire.CheckTarget(m.Addr); err != nil {
		return fmt.Errorf("edge %s: address: %w", m.ID, err)
	}
	if len(m.Addr) > wire.MaxHostnameLen+6 {
		return fmt.Errorf("edge %s: address of %d bytes", m.ID, len(m.Addr))
	}
	return nil
}

// WatchFleet calls changed each time the fleet's list may have changed:
// once each time its connection is listening (so that a change while it
// was away is not missed; listening, which may be nil, is called right
// after), then on each change at any edge. Both run on the watch's
// goroutine and must not block (changed should schedule a
// [Store.Members]). It reconnects with backoff like
// [Store.WatchRevocations], and returns ctx's cause, or ErrNoNotify on a
// database without NOTIFY (the edges then reread the list at each
// heartbeat).
func (s *Store) WatchFleet(ctx context.Context, changed func(), listening func()) error {
	return s.watchChanges(ctx, "fleet watch", fleetChannel, changed, listening)
}
