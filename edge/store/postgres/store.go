package postgres

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/airlockhq/airlock/edge/oauth"
)

// Defaults for the zero values of [Options].
const (
	DefaultMaxConns     = 10
	DefaultQueryTimeout = 5 * time.Second
)

// Options configure a [Store]. URL is required; the zero value of every
// other field means its default.
type Options struct {
	// URL names the database: postgres://USER:PASSWORD@HOST:PORT/DB?…
	// (or a libpq key=value string). It holds a password: read it from a
	// credentials file, never from a command line.
	URL string
	// MaxConns bounds the pool (DefaultMaxConns); the revocation watch
	// holds one more connection of its own.
	MaxConns int32
	// QueryTimeout bounds each call's work on the database, a transaction
	// with its retries included (DefaultQueryTimeout), within the
	// caller's own deadline.
	QueryTimeout time.Duration
	// Migrate makes [Open] apply pending migrations; without it Open
	// fails with ErrSchemaBehind when there are any.
	Migrate bool
	// Logger gets migrations and the watch's reconnections; nil discards.
	Logger *slog.Logger
}

// Store is an [oauth.Store] in PostgreSQL, safe for concurrent use, and
// shared by every edge that opens the same database.
type Store struct {
	pool    *pgxpool.Pool
	timeout time.Duration
	log     *slog.Logger
	notify  bool // the database has pg_notify
}

var (
	_ oauth.Store             = (*Store)(nil)
	_ oauth.RevocationWatcher = (*Store)(nil)
)

// Open connects to the database of o.URL, checks (or, with o.Migrate,
// brings up to date) its schema, and returns the store.
func Open(ctx context.Context, o Options) (*Store, error) {
	s, err := Connect(ctx, o)
	if err != nil {
		return nil, err
	}
	if o.Migrate {
		err = s.Migrate(ctx)
	} else {
		err = s.CheckSchema(ctx)
	}
	if err != nil {
		s.Close()
		return nil, err
	}
	return s, nil
}

// Connect connects to the database of o.URL without looking at its
// schema: for `airlock-edge migrate`, which calls [Store.Migrate].
func Connect(ctx context.Context, o Options) (*Store, error) {
	if o.URL == "" {
		return nil, errors.New("postgres store: no database URL")
	}
	cfg, err := pgxpool.ParseConfig(o.URL)
	if err != nil {
		// pgx's message may quote the URL, password and all.
		return nil, errors.New("postgres store: the database URL does not parse")
	}
	cfg.MaxConns = o.MaxConns
	if cfg.MaxConns <= 0 {
		cfg.MaxConns = DefaultMaxConns
	}
	if cfg.ConnConfig.ConnectTimeout == 0 {
		cfg.ConnConfig.ConnectTimeout = 5 * time.Second
	}
	s := &Store{timeout: o.QueryTimeout, log: o.Logger}
	if s.timeout <= 0 {
		s.timeout = DefaultQueryTimeout
	}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	if s.pool, err = pgxpool.NewWithConfig(ctx, cfg); err != nil {
		return nil, fmt.Errorf("postgres store: %w", err)
	}
	// The probe makes the pool's first connection: it may take the
	// connect timeout (TCP, TLS, authentication) on top of one query's.
	ctx, cancel := context.WithTimeout(ctx, cfg.ConnConfig.ConnectTimeout+s.timeout)
	defer cancel()
	if _, err := s.pool.Exec(ctx, "SELECT pg_notify('airlock_probe', '')"); err == nil {
		s.notify = true
	} else if !isCode(err, "42883") { // undefined_function: no NOTIFY here
		s.pool.Close()
		return nil, fmt.Errorf("postgres store: connect to %s: %w", cfg.ConnConfig.Host, err)
	}
	return s, nil
}

// Close closes the pool.
func (s *Store) Close() error {
	s.pool.Close()
	return nil
}

// bound gives one call its deadline.
func (s *Store) bound(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(ctx, s.timeout)
}

// cleanupTimeout bounds a rollback or a close after the call's own
// deadline has passed.
const cleanupTimeout = time.Second

// maxTxAttempts bounds the retries of a transaction that failed to
// serialize.
const maxTxAttempts = 4

// tx runs fn in a transaction, again when the database says it could not
// serialize it (40001) or chose it as a deadlock's victim (40P01). fn's
// own error rolls back and is returned; an error wrapped in commitWith
// commits and is returned unwrapped (a reuse detected is revoked and
// reported). fn wraps the database errors it returns with [wrap].
func (s *Store) tx(ctx context.Context, fn func(context.Context, pgx.Tx) error) error {
	ctx, cancel := s.bound(ctx)
	defer cancel()
	var err error
	for range maxTxAttempts {
		err = s.tryTx(ctx, fn)
		if !isCode(err, "40001") && !isCode(err, "40P01") && !errors.As(err, new(beginError)) {
			return err
		}
	}
	return err
}

// beginError is a transaction that failed at BEGIN on a connection that
// turned out dead, before any statement ran: safe to try again, on
// another connection. It is how a pooled connection the server closed (a
// restart: 57P01) shows, when it had been idle for less than the pool's
// ping threshold. Other failures at BEGIN (a wrong password, too many
// connections, no such database) are not tried again: they would only
// hammer a database that is already struggling.
type beginError struct{ err error }

func (e beginError) Error() string { return e.err.Error() }
func (e beginError) Unwrap() error { return e.err }

// deadConn reports an error of a connection that is gone: the server
// ended it (57P01-57P03), a connection exception (class 08), or a failure
// pgconn knows happened before anything was sent.
func deadConn(err error) bool {
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		return pe.Code == "57P01" || pe.Code == "57P02" || pe.Code == "57P03" || strings.HasPrefix(pe.Code, "08")
	}
	return pgconn.SafeToRetry(err)
}

// commitWith wraps an error that fn returns to have its transaction
// committed all the same.
type commitWith struct{ err error }

func (c commitWith) Error() string { return c.err.Error() }
func (c commitWith) Unwrap() error { return c.err }

func (s *Store) tryTx(ctx context.Context, fn func(context.Context, pgx.Tx) error) error {
	tx, err := s.pool.Begin(ctx)
	if err != nil {
		if ctx.Err() == nil && deadConn(err) {
			return beginError{wrap("begin", err)}
		}
		return wrap("begin", err)
	}
	defer func() {
		// After a commit this does nothing; after ctx's end it still
		// gets a moment of its own, so the connection goes back clean
		// (pgx drops it otherwise).
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), cleanupTimeout)
		defer cancel()
		_ = tx.Rollback(rctx)
	}()
	if err := fn(ctx, tx); err != nil {
		var cw commitWith
		if !errors.As(err, &cw) {
			return err
		}
		if cerr := tx.Commit(ctx); cerr != nil {
			return wrap("commit", cerr)
		}
		return cw.err
	}
	return wrap("commit", tx.Commit(ctx))
}

func isCode(err error, code string) bool {
	var pe *pgconn.PgError
	return errors.As(err, &pe) && pe.Code == code
}

// maxRecord bounds one stored record, as the bbolt store does.
const maxRecord = 64 << 10

// encode is a record's JSON.
func encode(v any) ([]byte, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return nil, fmt.Errorf("encode record: %w", err)
	}
	if len(b) > maxRecord {
		return nil, fmt.Errorf("record is %d bytes, limit %d", len(b), maxRecord)
	}
	return b, nil
}

// decode reads a stored record. Unknown fields are allowed, so an edge
// of the fleet not yet upgraded reads what a newer one wrote.
func decode[T any](b []byte, valid func(*T) error) (T, error) {
	var v T
	if len(b) > maxRecord {
		return v, fmt.Errorf("record is %d bytes, limit %d", len(b), maxRecord)
	}
	if err := json.Unmarshal(b, &v); err != nil {
		return v, fmt.Errorf("decode record: %w", err)
	}
	if err := valid(&v); err != nil {
		return v, fmt.Errorf("record: %w", err)
	}
	return v, nil
}

// ErrUnavailable: the database did not answer (down, unreachable, out
// of connections, or past the call's deadline). The call may work later;
// the sign-in server answers "temporarily unavailable".
var ErrUnavailable = errors.New("the sign-in store's database is unavailable")

// wrap names the operation in a database error, marking the ones that
// mean the database is unavailable with ErrUnavailable; the store's own
// sentinel errors (oauth.ErrNotFound …) pass through as they are.
func wrap(op string, err error) error {
	if err == nil {
		return nil
	}
	for _, e := range []error{oauth.ErrNotFound, oauth.ErrCodeUsed, oauth.ErrRefreshReused, oauth.ErrRevoked, oauth.ErrExpired} {
		if err == e {
			return err
		}
	}
	if unavailable(err) && !errors.Is(err, ErrUnavailable) {
		return fmt.Errorf("postgres store: %s: %w: %w", op, ErrUnavailable, err)
	}
	return fmt.Errorf("postgres store: %s: %w", op, err)
}

// unavailable reports an error of reaching the database, not of the
// query.
func unavailable(err error) bool {
	var ce *pgconn.ConnectError
	var ne net.Error
	var pe *pgconn.PgError
	switch {
	case errors.As(err, &ce), errors.As(err, &ne), errors.Is(err, context.DeadlineExceeded),
		errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, io.EOF), pgconn.Timeout(err):
		return true
	case errors.As(err, &pe):
		// 08: connection exception; 53: insufficient resources (too
		// many connections); 57P01-57P03: shutting down, crashed,
		// cannot connect now.
		return strings.HasPrefix(pe.Code, "08") || strings.HasPrefix(pe.Code, "53") || strings.HasPrefix(pe.Code, "57P")
	}
	return false
}
