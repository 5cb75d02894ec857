package edgeclient

import (
	"context"
	"errors"
	"fmt"
	"github.com/airlockhq/airlock/internal/transport"
	"github.com/airlockhq/airlock/internal/wire"
	"net"
	"sync"
	"time"
)

// Client is a daemon's link to one edge: one connection shared by every
// stream, dialled on first use and re-dialled transparently when it dies or
// the edge asks to drain it. The connection is QUIC, or TLS on TCP on a
// network where UDP to the edge gets no answer (auto.go). The zero value is
// not usable; use NewClient.
type Client struct {
	cfg  Config
	pick *picker // the transport per network (auto.go)
	// retries owns the QUIC retries of the connections on TCP
	// (retryQUIC); Close ends them and waits. Replaced under mu by Close.
	retries *group

	mu      sync.Mutex
	conn    *Conn
	dialing *dialCall // non-nil while a dial is in flight
	lastErr error
	since   time.Time
	key     string // the network conn was dialled on (networkKey)
}

// NewClient returns a Client for cfg (Hello.Role is set to RoleClient).
func NewClient(cfg Config) *Client {
	cfg.Hello.Role = wire.RoleClient
	return &Client{cfg: cfg, pick: newPicker(cfg.FallbackAfter, cfg.RetryQUICAfter, nil), retries: newGroup()}
}

// Open opens a stream for open. If the shared connection turns out to be
// dead, or the edge refuses the stream with CodeGoingAway because it is
// shutting down (before any bytes flowed), Open dials a new connection once
// and tries again, so an edge restart costs the caller one handshake and no
// error.
func (c *Client) Open(ctx context.Context, open *wire.Open) (*StreamConn, error) {
	return c.open(ctx, open, 1)
}

// open is Open with at most retries more tries on a new connection: a
// Fleet with another address to go to tries none here.
func (c *Client) open(ctx context.Context, open *wire.Open, retries int) (*StreamConn, error) {
	for attempt := 0; ; attempt++ {
		conn, err := c.get(ctx)
		if err != nil {
			return nil, err
		}
		s, err := conn.OpenStream(ctx, open)
		if err != nil && ctx.Err() == nil {
			c.failed(conn, err)
		}
		if err != nil && ctx.Err() != nil && conn.timedOut() {
			// The edge did not answer a stream in time: the second time in a
			// row, or with nothing heard meanwhile, the link is dead.
			c.forget(conn, fmt.Errorf("%w: a stream open timed out", ErrQuiet))
		}
		if err == nil || attempt >= retries || ctx.Err() != nil {
			return s, err
		}
		var ce *ConnError
		var ee *wire.Error
		switch {
		case errors.As(err, &ce):
		case errors.As(err, &ee) && ee.Code == wire.CodeGoingAway:
		default:
			return s, err
		}
	}
}

// failed takes a connection that failed under a stream out of use: a
// *ConnError forgets it, a CodeGoingAway refusal drains it (the edge's
// Drain may still be on the way; it closes the connection once its
// streams end).
func (c *Client) failed(conn *Conn, err error) {
	var ce *ConnError
	var ee *wire.Error
	switch {
	case errors.As(err, &ce):
		c.forget(conn, err)
	case errors.As(err, &ee) && ee.Code == wire.CodeGoingAway:
		conn.draining.Store(true)
	}
}

// Connect dials the edge now unless a live connection exists, so that a
// caller can learn at once whether the edge is reachable and will have us,
// rather than on the first stream. Concurrent callers (and Open) share one
// dial. It returns the dial's error: a *DialError, an *wire.Error refusal,
// or the context's cause.
func (c *Client) Connect(ctx context.Context) error {
	_, err := c.get(ctx)
	return err
}

// get returns a live connection, dialling one if needed. Concurrent callers
// share one dial. A connection the edge asked to drain is left to the edge,
// which closes it once its open streams have finished.
func (c *Client) get(ctx context.Context) (*Conn, error) {
	for {
		c.mu.Lock()
		if c.conn != nil && c.conn.Alive() && c.conn.Quiet() <= QuietAfter {
			conn := c.conn
			c.mu.Unlock()
			return conn, nil
		}
		if c.conn != nil && c.conn.Context().Err() != nil {
			c.lastErr = &ConnError{Err: context.Cause(c.conn.Context())}
			c.conn = nil
		}
		// A quiet connection is left to finish or recover on its own (its
		// watcher is probing a fresh path meanwhile); new streams go to a
		// new one, dialled at once.
		if c.dialing == nil {
			call := &dialCall{done: make(chan struct{})}
			c.dialing = call
			c.mu.Unlock()
			key := networkKey(c.cfg.Addr)
			conn, err := dialAuto(ctx, c.cfg, c.pick, key)
			c.mu.Lock()
			if err == nil {
				c.conn, c.lastErr, c.since, c.key = conn, nil, time.Now(), key
				if conn.Transport() == transport.NameTCP && c.cfg.Transport != TransportTCP {
					g := c.retries
					g.wg.Go(func() { c.retryQUIC(g.ctx, conn) })
				}
			} else {
				c.lastErr = err
			}
			// The callers waiting on this dial share its failure, unless it
			// was this caller's own context that ended it: one unreachable
			// edge then costs every waiting stream one handshake timeout,
			// not one each in turn.
			call.err, call.shared = err, ctx.Err() == nil
			c.dialing = nil
			close(call.done)
			c.mu.Unlock()
			return conn, err
		}
		call := c.dialing
		c.mu.Unlock()
		select {
		case <-call.done:
			if call.err != nil && call.shared {
				return nil, call.err
			}
		case <-ctx.Done():
			return nil, context.Cause(ctx)
		}
	}
}

func (c *Client) forget(conn *Conn, err error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.conn == conn {
		c.conn = nil
		c.lastErr = err
	}
	conn.Close(wire.CodeGoingAway, "connection failed under a stream")
}

// State reports whether a connection is open and carrying packets, since
// when, and otherwise why not: the last dial or connection error, or that
// the edge has not been heard for longer than QuietAfter. A connection the
// edge asked to drain still counts until it closes: the edge asks that of a
// daemon's first connection from a new address once it has authenticated,
// so that the next stream dials one with the full stream limit, and the
// daemon is connected all the while.
func (c *Client) State() (connected bool, since time.Time, lastErr error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.conn != nil {
		if cause := context.Cause(c.conn.Context()); cause != nil {
			return false, time.Time{}, &ConnError{Err: cause}
		}
		if q := c.conn.Quiet(); q > QuietAfter {
			return false, time.Time{}, &ConnError{Err: fmt.Errorf("%w: nothing heard for %s", ErrQuiet, q.Round(100*time.Millisecond))}
		}
		return true, c.since, nil
	}
	return false, time.Time{}, c.lastErr
}

// ErrQuiet says that a connection is open but has heard nothing from its
// edge lately: the link carries nothing.
var ErrQuiet = errors.New("the edge does not answer")

// Close closes the shared connection (and one on TCP that a QUIC one
// replaced, still finishing its streams) and waits for the client's
// goroutines. Later calls to Open dial again.
func (c *Client) Close() error {
	c.mu.Lock()
	conn, g := c.conn, c.retries
	c.conn, c.retries = nil, newGroup()
	c.mu.Unlock()
	var err error
	if conn != nil {
		err = conn.Close(wire.CodeGoingAway, "client closed")
	}
	g.stop()
	return err
}

// dialCall is one dial in flight, shared by every caller that needs a
// connection meanwhile.
type dialCall struct {
	done   chan struct{} // closed when the dial has ended
	err    error         // its failure
	shared bool          // err is the edge's, so waiters return it too
}

func hostOf(addr string) (string, error) {
	host, _, err := net.SplitHostPort(addr)
	return host, err
}
