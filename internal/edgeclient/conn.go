package edgeclient

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/airlockhq/airlock/internal/relay"
	"github.com/airlockhq/airlock/internal/transport"
	"github.com/airlockhq/airlock/internal/wire"
	"github.com/quic-go/quic-go"
)

// Config says which edge to dial and who we are.
type Config struct {
	// Addr is the edge's UDP address, host:port.
	Addr string
	// ServerName is the name the edge's certificate must carry. Empty means
	// the host part of Addr.
	ServerName string
	// RootCAs verifies the edge's certificate. Nil means the system pool.
	RootCAs *x509.CertPool
	// Hello is sent on the control stream; Version is filled in.
	Hello wire.Hello
	// QUIC overrides the transport settings. Nil means [DefaultQUICConfig].
	QUIC *quic.Config
	// Transport is TransportAuto (the default: QUIC, and TLS on TCP where
	// UDP gets no answer; see auto.go), TransportQUIC or TransportTCP.
	Transport string
	// TCPAddr is the edge's TCP address, host:port (default: Addr).
	TCPAddr string
	// FallbackAfter is how long a QUIC dial may hear nothing before the
	// TCP transport is tried (default DefaultFallbackAfter); RetryQUICAfter
	// how long a network that needed TCP stays on it before QUIC is tried
	// again, in the background (default DefaultRetryQUICAfter).
	FallbackAfter  time.Duration
	RetryQUICAfter time.Duration
	// OnControl, if set, is called for every control frame the edge sends
	// after its Welcome (Drain, Keys), from the connection's own goroutine.
	OnControl func(wire.Frame)
	// Logger receives connection events; it should name the edge (its
	// address is not added here: the daemon and the connector name it
	// already). Nil discards them.
	Logger *slog.Logger
	// PingInterval is how often to send a Ping on the control stream when
	// the edge accepts them, so that an edge killed and restarted resets
	// the connection within this time (QUIC's keep-alives are too small
	// to be answered so). Zero means DefaultConnectorPingInterval for a
	// connector and none for a client, whose next stream does the same;
	// negative means none.
	PingInterval time.Duration
}

// DefaultConnectorPingInterval is a connector's default PingInterval.
const DefaultConnectorPingInterval = time.Second

// DefaultIdleTimeout is how long a connection that hears nothing from its
// edge lives. Each end sends a keep-alive when it has heard nothing for
// DefaultKeepAlive, and the edge offers the same timeout (the lower of the
// two applies), so a dead or one-way link ends on both sides within it:
// the side that hears nothing times out, and its CONNECTION_CLOSE reaches
// the other where the other direction still works.
const (
	DefaultIdleTimeout = 5 * time.Second
	DefaultKeepAlive   = time.Second
)

// DefaultQUICConfig returns the transport settings Airlock uses on both ends:
// keepalives well inside a short idle timeout, room for many concurrent
// streams and flow-control windows large enough for bulk transfers on fast
// links.
func DefaultQUICConfig() *quic.Config {
	return &quic.Config{
		HandshakeIdleTimeout: 5 * time.Second,
		MaxIdleTimeout:       DefaultIdleTimeout,
		KeepAlivePeriod:      DefaultKeepAlive,
		MaxIncomingStreams:   4096,
		// Large initial windows: each stream (a kubectl connection, one
		// download) starts with its own, and quic-go's tuning doubles a
		// window only once per update, so with 1 MiB a stream carried at
		// most 20 MB/s over a 50 ms round trip until tuned, and far less
		// under loss, where holes hold data in the window (BenchmarkLossy
		// at 5 % + 50 ms: 9.1 → 20–22 MB/s; ssh 6.5–11.8). The peer
		// is the edge, authenticated by TLS; the connection window still
		// bounds what all streams together hold.
		InitialStreamReceiveWindow:     8 << 20,
		MaxStreamReceiveWindow:         16 << 20,
		InitialConnectionReceiveWindow: 16 << 20,
		MaxConnectionReceiveWindow:     64 << 20,
		// A loss-tolerant sender (the patched quic-go's BBR-style
		// controller): Reno settles at a few packets on a path with random
		// loss (BenchmarkLossy: 0.27 MB/s at 5 % and 50 ms, against 9 MB/s
		// for the kernel's TCP through the same link).
		BBR: true,
	}
}

// TLSConfig returns the client TLS settings for an edge.
func (c *Config) TLSConfig() (*tls.Config, error) {
	name := c.ServerName
	if name == "" {
		host, err := hostOf(c.Addr)
		if err != nil {
			return nil, err
		}
		name = host
	}
	return &tls.Config{
		RootCAs:    c.RootCAs,
		ServerName: name,
		NextProtos: []string{wire.ALPN},
		MinVersion: tls.VersionTLS13,
	}, nil
}

// Conn is one connection to an edge (QUIC, or TLS on TCP), after a
// successful handshake.
type Conn struct {
	tc         transport.Conn
	qc         *quic.Conn // nil on TCP
	ctrl       transport.Stream
	why        string // why this transport (auto.go)
	key        string // the network DialAuto dialled it on (networkKey)
	welcome    *wire.Welcome
	log        *slog.Logger
	ctrlMu     sync.Mutex // serialises writes on ctrl
	draining   atomic.Bool
	done       chan struct{} // closed when the control reader ends
	paths      *paths        // the sockets it has used and the one it uses
	heard      heard         // when a packet last arrived (heard.go)
	migrations atomic.Uint64
	strikes    atomic.Int32 // stream opens in a row the edge did not answer in time
}

// Dial connects to the edge, sends Hello on the control stream and waits for
// the edge's Welcome. A refusal is returned as an *wire.Error. It dials
// TLS on TCP when cfg.Transport is TransportTCP, else QUIC: the choice
// between them is [Client]'s (and [DialAuto]'s).
func Dial(ctx context.Context, cfg Config) (*Conn, error) {
	if cfg.Transport == TransportTCP {
		return dialTCP(ctx, cfg)
	}
	tlsConf, err := cfg.TLSConfig()
	if err != nil {
		return nil, err
	}
	qconf := cfg.QUIC
	if qconf == nil {
		qconf = DefaultQUICConfig()
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	raddr, err := resolveUDP(ctx, cfg.Addr)
	if err != nil {
		return nil, &DialError{Addr: cfg.Addr, Err: err}
	}
	ps := &paths{raddr: raddr}
	tr, _, err := ps.add()
	if err != nil {
		return nil, &DialError{Addr: cfg.Addr, Err: err}
	}
	qc, err := tr.Dial(ctx, raddr, tlsConf, qconf)
	if err != nil {
		ps.close()
		return nil, &DialError{Addr: cfg.Addr, Err: err}
	}
	// The transports and their sockets belong to this one connection: they
	// close when it does, however it ends.
	context.AfterFunc(qc.Context(), ps.close)
	c, err := handshake(ctx, transport.QUIC(qc), cfg.Hello)
	if err != nil {
		qc.CloseWithError(quic.ApplicationErrorCode(relay.CodeOf(err)), "handshake failed")
		return nil, err
	}
	c.qc, c.paths = qc, ps
	c.start(cfg, log)
	go c.watch(log)
	return c, nil
}

// dialTCP is Dial over TLS on TCP.
func dialTCP(ctx context.Context, cfg Config) (*Conn, error) {
	tlsConf, err := cfg.TLSConfig()
	if err != nil {
		return nil, err
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	addr := cfg.tcpAddr()
	qconf := cfg.QUIC
	if qconf == nil {
		qconf = DefaultQUICConfig()
	}
	hctx, cancel := context.WithTimeout(ctx, qconf.HandshakeIdleTimeout)
	defer cancel()
	tc, err := transport.DialTCP(hctx, addr, tlsConf, transport.TCPOptions{
		MaxIncomingStreams: int(qconf.MaxIncomingStreams),
		StreamWindow:       uint32(min(qconf.MaxStreamReceiveWindow, 1<<24)),
		IdleTimeout:        qconf.MaxIdleTimeout,
		KeepAlive:          qconf.KeepAlivePeriod,
	})
	if err != nil {
		return nil, &DialError{Addr: addr, Err: err}
	}
	c, err := handshake(ctx, tc, cfg.Hello)
	if err != nil {
		tc.CloseWithError(relay.CodeOf(err), "handshake failed") //nolint:errcheck
		return nil, err
	}
	c.start(cfg, log)
	go c.watchTCP()
	return c, nil
}

func (cfg *Config) tcpAddr() string {
	if cfg.TCPAddr != "" {
		return cfg.TCPAddr
	}
	return cfg.Addr
}

// start runs what every connection has: the control reader and the pings.
func (c *Conn) start(cfg Config, log *slog.Logger) {
	c.heard.start(c.tc)
	c.log = log.With("edge_id", c.welcome.EdgeID, "conn_id", c.welcome.ConnID, "transport", c.tc.Name())
	go c.readControl(cfg.OnControl)
	every := cfg.PingInterval
	if every == 0 && cfg.Hello.Role == wire.RoleConnector {
		every = DefaultConnectorPingInterval
	}
	if every > 0 && c.welcome.Pings {
		go c.ping(every)
	}
}

// ping sends a padded Ping on the control stream every so often until the
// connection ends or the control stream is closed.
func (c *Conn) ping(every time.Duration) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-c.tc.Context().Done():
			return
		case <-t.C:
		}
		c.ctrlMu.Lock()
		err := wire.WriteFrame(c.ctrl, &wire.Ping{Padding: wire.PingPadding})
		c.ctrlMu.Unlock()
		if err != nil {
			return
		}
	}
}

func handshake(ctx context.Context, qc transport.Conn, hello wire.Hello) (*Conn, error) {
	ctrl, err := qc.OpenStream(ctx)
	if err != nil {
		return nil, fmt.Errorf("open control stream to %s: %w", qc.RemoteAddr(), err)
	}
	hello.Version = wire.Version
	if dl, ok := ctx.Deadline(); ok {
		ctrl.SetDeadline(dl)
	}
	stop := context.AfterFunc(ctx, func() { ctrl.SetDeadline(time.Now()) })
	defer stop()
	if err := wire.WriteFrame(ctrl, &hello); err != nil {
		return nil, fmt.Errorf("send hello to %s: %w", qc.RemoteAddr(), err)
	}
	w, err := wire.ReadFrameOf[*wire.Welcome](ctrl)
	if err != nil {
		if ctx.Err() != nil {
			return nil, fmt.Errorf("wait for the edge's welcome: %w", context.Cause(ctx))
		}
		return nil, fmt.Errorf("read the edge's welcome: %w", err)
	}
	if err := w.Err(); err != nil {
		return nil, fmt.Errorf("edge %s refused the connection: %w", qc.RemoteAddr(), err)
	}
	ctrl.SetDeadline(time.Time{})
	return &Conn{tc: qc, ctrl: ctrl, welcome: w, done: make(chan struct{})}, nil
}

func (c *Conn) readControl(on func(wire.Frame)) {
	defer close(c.done)
	for {
		f, err := wire.ReadFrame(c.ctrl)
		if err != nil {
			if c.tc.Context().Err() == nil && !errors.Is(err, io.EOF) {
				c.log.Warn("control stream failed; closing the connection", "err", err)
			}
			c.tc.CloseWithError(relay.CodeOf(err), "control stream ended") //nolint:errcheck
			return
		}
		if d, ok := f.(*wire.Drain); ok {
			c.draining.Store(true)
			c.log.Info("edge asked to drain this connection", "reason", d.Reason)
		}
		if on != nil {
			on(f)
		}
	}
}

// LocalAddr is the address this connection sends from now: on QUIC the
// UDP socket's, the local address that routes to the edge (a loopback one
// for an edge on loopback), never the wildcard address, and it changes
// when the connection migrates; on TCP the socket's.
func (c *Conn) LocalAddr() net.Addr {
	if c.paths == nil {
		return c.tc.LocalAddr()
	}
	return c.paths.current()
}

// RemoteAddr is the edge's address (UDP, or TCP).
func (c *Conn) RemoteAddr() net.Addr { return c.tc.RemoteAddr() }

// Transport names the connection's transport (transport.NameQUIC or
// NameTCP).
func (c *Conn) Transport() string { return c.tc.Name() }

// Welcome returns the edge's answer to our Hello.
func (c *Conn) Welcome() *wire.Welcome { return c.welcome }

// Context ends when the connection closes; its cause says why.
func (c *Conn) Context() context.Context { return c.tc.Context() }

// Done is closed once the connection is closed and its control reader ended.
func (c *Conn) Done() <-chan struct{} { return c.done }

// Alive reports whether the connection is open and the edge has not asked
// us to drain it.
func (c *Conn) Alive() bool { return c.tc.Context().Err() == nil && !c.draining.Load() }

// Draining reports whether the edge asked us to open no new streams here.
func (c *Conn) Draining() bool { return c.draining.Load() }

// Drain tells the edge to open no new streams on this connection.
func (c *Conn) Drain(reason string) error {
	c.ctrlMu.Lock()
	defer c.ctrlMu.Unlock()
	return wire.WriteFrame(c.ctrl, &wire.Drain{Reason: reason})
}

// CloseControl ends our side of the control stream (FIN): we send no more
// control frames. A connector calls it once it has drained the connection
// and its last stream has ended, telling the edge that it has read all the
// edge sent, so that the edge closes the connection at once.
func (c *Conn) CloseControl() error {
	c.ctrlMu.Lock()
	defer c.ctrlMu.Unlock()
	return c.ctrl.Close()
}

// Close closes the connection with a code and a reason the edge logs.
func (c *Conn) Close(code wire.Code, reason string) error {
	return c.tc.CloseWithError(code, reason)
}

// OpenStream opens a stream, sends open and waits for the edge's Result. A
// refusal is returned as an *wire.Error; the stream is then already reset.
func (c *Conn) OpenStream(ctx context.Context, open *wire.Open) (*StreamConn, error) {
	s, err := c.tc.OpenStream(ctx)
	if err != nil {
		return nil, &ConnError{Err: err}
	}
	sc := newStreamConn(c.tc, s)
	if err := wire.WriteFrame(s, open); err != nil {
		sc.Abort(wire.CodeInternal)
		return nil, &ConnError{Err: err}
	}
	heardBefore := c.heard.last()
	stop := context.AfterFunc(ctx, func() {
		s.SetReadDeadline(time.Now())
		if ctx.Err() == context.DeadlineExceeded { // not a caller that went away
			c.openTimedOut(heardBefore)
		}
	})
	res, err := wire.ReadFrameOf[*wire.Result](s)
	if !stop() {
		err = errors.Join(context.Cause(ctx), err)
	}
	if err != nil {
		sc.Abort(relay.CodeOf(err))
		var e *wire.Error
		if errors.As(err, &e) {
			return nil, err
		}
		if code, ok := resetCode(err); ok {
			return nil, wire.Errorf(code, "the edge reset the stream")
		}
		if ctx.Err() != nil {
			return nil, fmt.Errorf("wait for the edge's answer: %w", err)
		}
		return nil, &ConnError{Err: err}
	}
	s.SetReadDeadline(time.Time{})
	c.strikes.Store(0)
	if err := res.Err(); err != nil {
		sc.Abort(res.Code)
		return nil, err
	}
	return sc, nil
}

// openTimedOut counts a stream open whose context ended before the edge
// answered: twice in a row, or once with nothing heard from the edge since
// the open began, makes timedOut true.
func (c *Conn) openTimedOut(heardBefore time.Time) {
	n := c.strikes.Add(1)
	if !c.heard.last().After(heardBefore) {
		c.strikes.Store(max(n, 2))
	}
}

func (c *Conn) timedOut() bool { return c.strikes.Load() >= 2 }

// AcceptStream waits for a stream the edge opens (connectors only).
func (c *Conn) AcceptStream(ctx context.Context) (*StreamConn, error) {
	s, err := c.tc.AcceptStream(ctx)
	if err != nil {
		return nil, err
	}
	return newStreamConn(c.tc, s), nil
}

// resetCode returns the code of a stream reset by the edge, on either
// transport.
func resetCode(err error) (wire.Code, bool) {
	var se *quic.StreamError
	if errors.As(err, &se) && se.Remote {
		return wire.Code(se.ErrorCode), true
	}
	var te *transport.StreamError
	if errors.As(err, &te) && te.Remote && !errors.Is(err, transport.ErrCut) {
		return te.Code, true
	}
	return 0, false
}

// DialError means the edge could not be reached or the QUIC/TLS handshake
// failed: worth retrying with backoff.
type DialError struct {
	Addr string
	Err  error
}

func (e *DialError) Error() string { return fmt.Sprintf("dial edge %s: %v", e.Addr, e.Err) }
func (e *DialError) Unwrap() error { return e.Err }

// ConnError means the connection failed under a stream: the request never
// reached a decision and may be retried on a new connection.
type ConnError struct{ Err error }

func (e *ConnError) Error() string { return "edge connection lost: " + e.Err.Error() }
func (e *ConnError) Unwrap() error { return e.Err }
