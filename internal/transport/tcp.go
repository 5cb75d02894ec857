package transport

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/yamux"

	"github.com/airlockhq/airlock/internal/wire"
)

// Defaults of [TCPOptions], matching the QUIC configuration's where there
// is one.
const (
	DefaultMaxIncomingStreams = 4096
	DefaultStreamWindow       = 4 << 20
	// DefaultConnectionWindow bounds what all of a connection's streams
	// together may make this side buffer: QUIC's connection receive
	// window.
	DefaultConnectionWindow = 64 << 20
	// minStreamWindow is yamux's: every stream starts with 256 KiB.
	minStreamWindow       = 256 << 10
	DefaultTCPIdleTimeout = 5 * time.Second
	DefaultTCPKeepAlive   = time.Second
	// streamSlack is how many streams over its limit a peer may have open
	// before new ones are reset with overloaded: a peer counts a stream
	// free once both its directions ended on its side, a moment before
	// this side has read the last frame.
	streamSlack = 16
	// closeLinger bounds how long a closed connection waits for its peer
	// to read the CLOSE frame and hang up.
	closeLinger = time.Second
	// streamCloseTimeout frees a stream whose peer never finishes it.
	streamCloseTimeout = time.Minute
)

// TCPOptions tune a TCP connection. The zero value means the defaults.
type TCPOptions struct {
	// MaxIncomingStreams is how many streams the peer may have open at
	// once (default 4096); its opens wait beyond that.
	MaxIncomingStreams int
	// StreamWindow is each stream's largest receive window (default 4
	// MiB).
	StreamWindow uint32
	// ConnectionWindow bounds the bytes the peer can make this side hold
	// across all its streams (default 64 MiB, QUIC's connection window).
	// yamux has no connection-wide window, so the bound is made of two
	// halves: every stream the peer may have open (MaxIncomingStreams and
	// the slack) starts with yamux's 256 KiB window, and the stream limit
	// is lowered so that those fit in half of ConnectionWindow; the rest
	// is what the windows of all streams together may grow by, up to
	// StreamWindow each, as they are read (the yamux copy's
	// ConnectionWindowGrowth). A peer that sends beyond a window is cut
	// off by yamux.
	ConnectionWindow int64
	// IdleTimeout closes a connection that heard nothing for this long
	// (default 5 s); KeepAlive is how often each end pings (default 1 s).
	IdleTimeout time.Duration
	KeepAlive   time.Duration
	// ReadBudget, when positive, is how many bytes the peer may send in
	// all until [Unlimit] is called; one more closes the connection
	// ([ErrBudget]). It bounds what a peer that has not authenticated can
	// make this side buffer (QUIC's initial connection window plays that
	// part there).
	ReadBudget int64
}

func (o *TCPOptions) setDefaults() {
	if o.MaxIncomingStreams <= 0 {
		o.MaxIncomingStreams = DefaultMaxIncomingStreams
	}
	if o.StreamWindow == 0 {
		o.StreamWindow = DefaultStreamWindow
	}
	if o.IdleTimeout <= 0 {
		o.IdleTimeout = DefaultTCPIdleTimeout
	}
	if o.KeepAlive <= 0 {
		o.KeepAlive = DefaultTCPKeepAlive
	}
	if o.ConnectionWindow <= 0 {
		o.ConnectionWindow = DefaultConnectionWindow
	}
	slots := max(o.ConnectionWindow/2/minStreamWindow, streamSlack+2) // initial windows in half the connection's
	o.MaxIncomingStreams = int(min(int64(o.MaxIncomingStreams), slots-streamSlack-1))
	o.StreamWindow = max(o.StreamWindow, minStreamWindow)
}

// growth is what the streams' windows may grow by in all beyond their
// initial 256 KiB: what ConnectionWindow leaves beside those.
func (o *TCPOptions) growth() int64 {
	return max(o.ConnectionWindow-initialHeld(*o), 0)
}

// initialHeld is what every stream the peer may have open (the limit, the
// slack and its session stream) holds with its initial window.
func initialHeld(o TCPOptions) int64 {
	return int64(o.MaxIncomingStreams+streamSlack+1) * minStreamWindow
}

// HeldBound is the most a peer can make this side of a connection with
// opts hold in its streams' receive buffers: every stream it may have
// open (the limit, the slack and its session stream) with its initial
// window, and what the windows may grow by together.
func HeldBound(opts TCPOptions) int64 {
	opts.setDefaults()
	return initialHeld(opts) + opts.growth()
}

// DialTCP connects to addr over TCP, runs the TLS handshake with ALPN
// [ALPNTCP] and starts the multiplexer. ctx bounds the dial and handshake.
func DialTCP(ctx context.Context, addr string, tlsConf *tls.Config, opts TCPOptions) (Conn, error) {
	var d net.Dialer
	raw, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, err
	}
	tc := tlsConf.Clone()
	tc.NextProtos = []string{ALPNTCP}
	tlsConn := tls.Client(raw, tc)
	if err := tlsConn.HandshakeContext(ctx); err != nil {
		raw.Close()
		return nil, fmt.Errorf("tls handshake: %w", err)
	}
	if p := tlsConn.ConnectionState().NegotiatedProtocol; p != ALPNTCP {
		raw.Close()
		return nil, fmt.Errorf("tls handshake: the edge speaks %q, not %q", p, ALPNTCP)
	}
	return newTCP(context.Background(), tlsConn, true, opts)
}

// ServeTCP starts the server side on a TLS connection whose handshake is
// done. The connection's context derives from parent (its values), and
// ends when the connection does.
func ServeTCP(parent context.Context, conn *tls.Conn, opts TCPOptions) (Conn, error) {
	return newTCP(parent, conn, false, opts)
}

// Hungup is closed once c's socket is closed (after a CloseWithError, when
// the peer read the CLOSE and hung up, or the linger ended); for other
// connections it is c's context's Done.
func Hungup(c Conn) <-chan struct{} {
	if t, ok := c.(*tcpConn); ok {
		return t.sess.CloseChan()
	}
	return c.Context().Done()
}

// Unlimit lifts c's ReadBudget (a TCP connection that authenticated);
// for other connections it does nothing.
func Unlimit(c Conn) {
	if t, ok := c.(*tcpConn); ok {
		t.raw.unlimit()
	}
}

type tcpConn struct {
	sess   *yamux.Session
	raw    *countConn
	opts   TCPOptions
	client bool
	ctx    context.Context
	cancel context.CancelCauseFunc
	own    *yamux.Stream // our session stream
	ownMu  sync.Mutex    // serialises its writes

	mu       sync.Mutex
	limit    int // streams the peer lets us open; 1 until its LIMIT frame
	open     int // streams we opened that are not finished
	wake     chan struct{}
	incoming atomic.Int64          // streams the peer opened that are not finished
	byID     map[uint32]*tcpStream // unfinished streams, for the peer's STOP

	rtt, rttvar atomic.Int64
	closeOnce   sync.Once
	sessionRead chan struct{} // closed when the peer's session stream is read to its end
	accepted    chan *tcpStream
}

func newTCP(parent context.Context, raw net.Conn, client bool, opts TCPOptions) (*tcpConn, error) {
	opts.setDefaults()
	c := &tcpConn{opts: opts, client: client, limit: 1, wake: make(chan struct{}), byID: map[uint32]*tcpStream{}, sessionRead: make(chan struct{}), accepted: make(chan *tcpStream)}
	c.raw = newCountConn(raw, opts.ReadBudget)
	c.ctx, c.cancel = context.WithCancelCause(parent)
	cfg := yamux.DefaultConfig()
	cfg.EnableKeepAlive = false // pinger below: it also measures the round trip
	cfg.ConnectionWriteTimeout = opts.IdleTimeout
	cfg.MaxStreamWindowSize = opts.StreamWindow
	cfg.ConnectionWindowGrowth = uint64(opts.growth())
	cfg.StreamCloseTimeout = streamCloseTimeout
	cfg.StreamOpenTimeout = 0
	cfg.LogOutput = io.Discard
	var err error
	if client {
		c.sess, err = yamux.Client(c.raw, cfg)
	} else {
		c.sess, err = yamux.Server(c.raw, cfg)
	}
	if err != nil {
		raw.Close()
		return nil, err
	}
	if c.own, err = c.sess.OpenStream(); err == nil {
		_, err = c.own.Write(appendFrame(nil, frame{typ: frameLimit, n: uint32(opts.MaxIncomingStreams)}))
	}
	if err != nil {
		c.sess.Close()
		return nil, fmt.Errorf("transport: session stream: %w", err)
	}
	go c.watch()
	go c.acceptLoop()
	go c.ping()
	return c, nil
}

// watch ends the context when the session ends, after the peer's session
// stream was read to its end: a CLOSE frame in it gives the cause.
func (c *tcpConn) watch() {
	<-c.sess.CloseChan()
	<-c.sessionRead
	if c.raw.budget < 0 {
		c.cancel(ErrBudget)
	}
	c.cancel(fmt.Errorf("transport: tcp connection to %s lost", c.raw.RemoteAddr()))
	c.mu.Lock()
	close(c.wake)
	c.wake = nil
	c.mu.Unlock()
}

// acceptLoop takes the streams the peer opens: the first is its session
// stream (read by readSession), the others go to AcceptStream, or are
// reset with overloaded over the stream limit.
func (c *tcpConn) acceptLoop() {
	ctx, cancel := context.WithTimeout(c.ctx, c.opts.IdleTimeout)
	s, err := c.sess.AcceptStreamWithContext(ctx)
	cancel()
	if err != nil {
		close(c.sessionRead)
		if c.ctx.Err() == nil { // closed by us: CloseWithError lets the peer read the CLOSE first
			c.fail(fmt.Errorf("transport: no session stream from the peer: %w", err))
		}
		return
	}
	go c.readSession(s)
	for {
		ys, err := c.sess.AcceptStreamWithContext(c.ctx)
		if err != nil {
			return
		}
		st := c.track(newTCPStream(c, ys, func() { c.incoming.Add(-1) }))
		if c.incoming.Add(1) > int64(c.opts.MaxIncomingStreams+streamSlack) {
			Abort(st, wire.CodeOverloaded)
			continue
		}
		select {
		case c.accepted <- st:
		case <-c.ctx.Done():
			Abort(st, c.closeCode())
			return
		}
	}
}

// readSession reads the peer's session stream: its LIMIT, then a CLOSE.
func (c *tcpConn) readSession(s *yamux.Stream) {
	defer close(c.sessionRead)
	for {
		f, err := readFrame(s)
		if err != nil {
			if c.ctx.Err() == nil && !errors.Is(err, io.EOF) {
				c.fail(fmt.Errorf("transport: session stream: %w", err))
			}
			return
		}
		switch f.typ {
		case frameLimit:
			c.mu.Lock()
			c.limit = int(min(f.n, 1<<20))
			c.notifyLocked()
			c.mu.Unlock()
		case frameClose:
			c.cancel(&ApplicationError{Code: f.code, Message: f.msg, Remote: true})
			c.sess.Close()
			return
		case frameStop:
			c.mu.Lock()
			st := c.byID[f.n]
			c.mu.Unlock()
			if st != nil {
				st.stopped(f.code)
			}
		default:
			c.fail(fmt.Errorf("%w on the session stream: type %d", errBadFrame, f.typ))
			return
		}
	}
}

// closed reports whether the connection is closed, once its cause is
// known: a stream that ends with its connection gives that cause.
func (c *tcpConn) closed() bool {
	if !c.sess.IsClosed() {
		return c.ctx.Err() != nil
	}
	<-c.ctx.Done() // watch ends it at once
	return true
}

func (c *tcpConn) cause() error {
	if err := context.Cause(c.ctx); err != nil {
		return err
	}
	return ErrCut
}

// closeCode is the code a stream the peer opens after the connection
// ended is reset with: the connection's own close code when this side
// closed it with one (a refused connection's overloaded reaches a peer
// that reads its stream before the CLOSE frame), else going away.
func (c *tcpConn) closeCode() wire.Code {
	if ae, ok := errors.AsType[*ApplicationError](context.Cause(c.ctx)); ok && !ae.Remote && ae.Code != wire.CodeOK {
		return ae.Code
	}
	return wire.CodeGoingAway
}

func (c *tcpConn) fail(err error) {
	c.cancel(err)
	c.sess.Close()
}

// ping measures the round trip every KeepAlive and closes a connection
// that heard nothing for IdleTimeout.
func (c *tcpConn) ping() {
	t := time.NewTicker(c.opts.KeepAlive)
	defer t.Stop()
	for {
		select {
		case <-c.ctx.Done():
			return
		case <-t.C:
		}
		if time.Since(c.raw.lastRead()) > c.opts.IdleTimeout {
			c.fail(ErrIdle)
			return
		}
		go c.measure() // a Ping waits for its answer: never hold the ticker
	}
}

func (c *tcpConn) measure() {
	d, err := c.sess.Ping()
	if err != nil {
		return
	}
	old := time.Duration(c.rtt.Load())
	if old == 0 {
		c.rtt.Store(int64(d))
		c.rttvar.Store(int64(d / 2))
		return
	}
	dev := old - d
	if dev < 0 {
		dev = -dev
	}
	c.rttvar.Store(int64((3*time.Duration(c.rttvar.Load()) + dev) / 4))
	c.rtt.Store(int64((7*old + d) / 8))
}

func (c *tcpConn) notifyLocked() {
	if c.wake != nil {
		close(c.wake)
		c.wake = make(chan struct{})
	}
}

func (c *tcpConn) OpenStream(ctx context.Context) (Stream, error) {
	for {
		c.mu.Lock()
		wake := c.wake
		if wake == nil {
			c.mu.Unlock()
			return nil, context.Cause(c.ctx)
		}
		if c.open < c.limit {
			c.open++
			c.mu.Unlock()
			break
		}
		c.mu.Unlock()
		select {
		case <-wake:
		case <-ctx.Done():
			return nil, context.Cause(ctx)
		}
	}
	s, err := c.sess.OpenStream()
	if err != nil {
		c.outgoingDone()
		if c.ctx.Err() != nil {
			return nil, context.Cause(c.ctx)
		}
		return nil, err
	}
	return c.track(newTCPStream(c, s, c.outgoingDone)), nil
}

// track registers st for the peer's STOP frames until it finishes.
func (c *tcpConn) track(st *tcpStream) *tcpStream {
	id := st.s.StreamID()
	c.mu.Lock()
	c.byID[id] = st
	c.mu.Unlock()
	done := st.done
	st.done = func() {
		c.mu.Lock()
		delete(c.byID, id)
		c.mu.Unlock()
		done()
	}
	return st
}

// stop asks the peer to stop writing stream id (our reads of it were
// cancelled), as QUIC's STOP_SENDING does: its writes then fail with code.
func (c *tcpConn) stop(id uint32, code wire.Code) {
	c.ownMu.Lock()
	defer c.ownMu.Unlock()
	c.own.SetWriteDeadline(time.Now().Add(resetWait))                       //nolint:errcheck // never fails
	c.own.Write(appendFrame(nil, frame{typ: frameStop, n: id, code: code})) //nolint:errcheck // a lost STOP leaves the stream to its close timeout
}

func (c *tcpConn) outgoingDone() {
	c.mu.Lock()
	c.open--
	c.notifyLocked()
	c.mu.Unlock()
}

func (c *tcpConn) AcceptStream(ctx context.Context) (Stream, error) {
	select {
	case st := <-c.accepted:
		return st, nil
	case <-c.ctx.Done():
		return nil, c.cause()
	case <-ctx.Done():
		return nil, context.Cause(ctx)
	}
}

func (c *tcpConn) CloseWithError(code wire.Code, msg string) error {
	c.closeOnce.Do(func() {
		c.cancel(&ApplicationError{Code: code, Message: msg})
		c.ownMu.Lock()
		c.own.SetWriteDeadline(time.Now().Add(closeLinger)) //nolint:errcheck // never fails
		_, err := c.own.Write(appendFrame(nil, frame{typ: frameClose, code: code, msg: msg}))
		c.ownMu.Unlock()
		if err != nil {
			c.sess.Close()
			return
		}
		// Let the peer read the CLOSE before the socket goes: it hangs up
		// when it has (and a close with unread bytes would be an RST that
		// could overtake it).
		go func() {
			t := time.NewTimer(closeLinger)
			defer t.Stop()
			select {
			case <-c.sess.CloseChan():
			case <-t.C:
			}
			c.sess.Close()
		}()
	})
	return nil
}

func (c *tcpConn) Context() context.Context { return c.ctx }
func (c *tcpConn) LocalAddr() net.Addr      { return c.raw.LocalAddr() }
func (c *tcpConn) RemoteAddr() net.Addr     { return c.raw.RemoteAddr() }
func (c *tcpConn) Name() string             { return NameTCP }

func (c *tcpConn) Stats() Stats {
	c.mu.Lock()
	open := c.open
	c.mu.Unlock()
	return Stats{Received: c.raw.reads.Load(), SmoothedRTT: time.Duration(c.rtt.Load()), MeanDeviation: time.Duration(c.rttvar.Load()),
		Streams: open + int(c.incoming.Load())}
}

// countConn counts the reads of the socket that returned bytes, notes when
// the last one did, and holds the peer to a budget until unlimit: a peer
// that sends more than its budget before it authenticated is cut off
// (blocking instead would stall the multiplexer's reader in the middle of
// a frame, holding the stream's lock).
type countConn struct {
	net.Conn
	reads    atomic.Uint64
	bytes    atomic.Int64 // read in all
	last     atomic.Int64
	budget   int64 // bytes left; only the reader (yamux's loop) touches it
	unlimitd atomic.Bool
}

// ErrBudget cuts off a peer that sent more than its read budget before it
// authenticated.
var ErrBudget = errors.New("transport: the peer sent more than it may before it authenticates")

func newCountConn(c net.Conn, budget int64) *countConn {
	cc := &countConn{Conn: c, budget: budget}
	cc.unlimitd.Store(budget <= 0)
	cc.last.Store(time.Now().UnixNano())
	return cc
}

func (c *countConn) unlimit() { c.unlimitd.Store(true) }

func (c *countConn) lastRead() time.Time { return time.Unix(0, c.last.Load()) }

func (c *countConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	if n > 0 {
		c.reads.Add(1)
		c.bytes.Add(int64(n))
		c.last.Store(time.Now().UnixNano())
		if !c.unlimitd.Load() {
			if c.budget -= int64(n); c.budget < 0 {
				return 0, ErrBudget
			}
		}
	}
	return n, err
}
