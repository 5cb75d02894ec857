// Package socks serves one cluster's loopback SOCKS5 proxy: username and
// password authentication with per-cluster random credentials, CONNECT only,
// the hostname passed to the edge as given (never resolved locally), one
// edge stream per connection, and an edge refusal turned into the matching
// SOCKS5 reply and one log line naming the cause.
//
// Any local process may connect, so what one that does not know the
// password can hold is bounded: at most MaxUnauthenticated connections per
// listener before authentication (more are closed at once, unread), each
// closed unless it sent its CONNECT within HandshakeTimeout. Once those
// are taken, the daemon's own user has as many again of its own, told
// apart by the uid that owns the client's socket (on Linux), so another
// local user who fills the cap does not lock the owner out. The library
// (github.com/things-go/go-socks5) is wrapped, not changed: the accepted
// connection carries its handshake's state through it to our RFC 1929
// authenticator and the CONNECT handler.
package socks

import (
	"context"
	"crypto/subtle"
	"errors"
	"io"
	"log/slog"
	"net"
	"os"
	"sync"
	"time"

	"github.com/airlockhq/airlock/daemon/tokens"
	"github.com/airlockhq/airlock/internal/relay"
	"github.com/airlockhq/airlock/internal/wire"
	socks5 "github.com/things-go/go-socks5"
	"github.com/things-go/go-socks5/statute"
)

// Opener opens an edge stream for one proxied connection. The daemon's
// Opener is an edgeclient.Client shared by every cluster on that edge.
type Opener interface {
	Open(ctx context.Context, open *wire.Open) (net.Conn, error)
}

// OpenerFunc adapts a function to Opener.
type OpenerFunc func(ctx context.Context, open *wire.Open) (net.Conn, error)

// Open implements Opener.
func (f OpenerFunc) Open(ctx context.Context, open *wire.Open) (net.Conn, error) { return f(ctx, open) }

// Defaults for Config's timeouts and limits.
const (
	DefaultHandshakeTimeout   = 5 * time.Second
	DefaultOpenTimeout        = 20 * time.Second
	DefaultMaxUnauthenticated = 64
)

// Config configures a Server. App, Username, Password, Tokens and Edge are
// required.
type Config struct {
	// App is the app hostname every stream asks the edge for.
	App string
	// Username and Password are what clients must present (RFC 1929).
	Username, Password string
	// Tokens supplies the token for each stream.
	Tokens tokens.Source
	// Edge opens the streams.
	Edge Opener
	// Logger receives one warn line per refused stream. Nil discards.
	Logger *slog.Logger
	// OnOutcome, if set, is called once per CONNECT after the edge
	// answered: err is nil when the stream opened. It must not block.
	OnOutcome func(err error)
	// HandshakeTimeout bounds the SOCKS greeting, authentication and
	// request: a connection that has not sent its CONNECT by then is
	// closed. Zero means DefaultHandshakeTimeout.
	HandshakeTimeout time.Duration
	// MaxUnauthenticated caps the connections of one Serve that have not
	// authenticated yet: one over the cap is closed at once, unread.
	// Connections of the daemon's own uid have a second cap of the same
	// size once the first is full (where the system tells the uid).
	// Authenticated connections do not count, however many there are or
	// however long they wait for a sign-in. Zero means
	// DefaultMaxUnauthenticated.
	MaxUnauthenticated int
	// OpenTimeout bounds waiting for the edge's answer; zero means
	// DefaultOpenTimeout.
	OpenTimeout time.Duration
}

// Server is one cluster's SOCKS5 proxy.
type Server struct {
	cfg Config
	log *slog.Logger
	// after runs f once d has passed unless stop is called first
	// (time.AfterFunc); tests replace it to fire handshake deadlines
	// themselves.
	after func(d time.Duration, f func()) (stop func() bool)
	// peerUID returns the uid of a client connection's owner (the
	// kernel's socket table on Linux); tests replace it.
	peerUID func(net.Conn) (uint32, error)
}

// New returns a Server for cfg.
func New(cfg Config) *Server {
	if cfg.HandshakeTimeout <= 0 {
		cfg.HandshakeTimeout = DefaultHandshakeTimeout
	}
	if cfg.MaxUnauthenticated <= 0 {
		cfg.MaxUnauthenticated = DefaultMaxUnauthenticated
	}
	if cfg.OpenTimeout <= 0 {
		cfg.OpenTimeout = DefaultOpenTimeout
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Server{cfg: cfg, log: log.With("app", cfg.App), after: afterFunc, peerUID: peerUID}
}

func afterFunc(d time.Duration, f func()) func() bool { return time.AfterFunc(d, f).Stop }

// Serve accepts connections on ln until ctx ends or ln fails, then closes
// ln and every connection it accepted, waits for their handlers and
// returns. It returns nil when ctx ended. At most MaxUnauthenticated
// connections may be in their handshake before authenticating; each must
// have sent its CONNECT within HandshakeTimeout.
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	srv := s.protocol(ctx)
	g := &gate{max: s.cfg.MaxUnauthenticated, log: s.log, uid: s.peerUID, owner: uint32(os.Getuid())}
	var (
		wg    sync.WaitGroup
		mu    sync.Mutex
		conns = map[net.Conn]struct{}{}
		done  bool
	)
	stop := context.AfterFunc(ctx, func() {
		ln.Close()
		mu.Lock()
		done = true
		for c := range conns {
			abortConn(c)
		}
		mu.Unlock()
	})
	defer stop()
	var err error
	for {
		c, aerr := ln.Accept()
		if aerr != nil {
			if ctx.Err() == nil {
				err = aerr
			}
			break
		}
		h, ok := g.enter(c)
		if !ok {
			c.Close() // over the cap: it costs a file descriptor for a moment, no goroutine
			continue
		}
		mu.Lock()
		if done {
			mu.Unlock()
			h.end()
			c.Close()
			break
		}
		conns[c] = struct{}{}
		mu.Unlock()
		wg.Go(func() {
			defer func() {
				mu.Lock()
				delete(conns, c)
				mu.Unlock()
			}()
			defer h.end()
			h.setStop(s.after(s.cfg.HandshakeTimeout, func() {
				if h.expire() {
					c.Close()
				}
			}))
			if err := srv.ServeConn(&handshakeConn{Conn: c, h: h}); err != nil && ctx.Err() == nil {
				s.log.Debug("socks connection ended", "client", c.RemoteAddr(), "err", err)
			}
		})
	}
	ln.Close()
	stop()
	mu.Lock()
	for c := range conns {
		abortConn(c)
	}
	mu.Unlock()
	wg.Wait()
	return err
}

// abortConn ends a client connection when the listener stops: with a
// reset (RST), so that a stream the stop cuts never reaches kubectl or
// curl as the clean end of a response.
func abortConn(c net.Conn) {
	if tc, ok := c.(*net.TCPConn); ok {
		relay.AbortTCP(tc)
		return
	}
	c.Close()
}

// protocol returns the SOCKS5 protocol handler for connections served
// under ctx: RFC 1929 authentication only, CONNECT only, no resolution.
func (s *Server) protocol(ctx context.Context) *socks5.Server {
	creds := credentials{user: s.cfg.Username, pass: s.cfg.Password}
	return socks5.NewServer(
		socks5.WithAuthMethods([]socks5.Authenticator{authenticated{creds}}),
		socks5.WithResolver(noResolve{}),
		socks5.WithRule(&socks5.PermitCommand{EnableConnect: true}),
		socks5.WithConnectHandle(func(_ context.Context, w io.Writer, req *socks5.Request) error {
			return s.connect(ctx, w, req)
		}),
	)
}

// connect handles one CONNECT: it opens an edge stream for the target as
// the client gave it and splices the two.
func (s *Server) connect(ctx context.Context, w io.Writer, req *socks5.Request) error {
	if hc, ok := w.(*handshakeConn); ok {
		// The SOCKS handshake is over; from here the open is bounded by
		// OpenTimeout and the stream by nothing.
		if !hc.h.finish() {
			return errors.New("socks: the handshake deadline passed")
		}
		w = hc.Conn
	}
	conn, ok := w.(net.Conn)
	if !ok {
		return errors.New("socks: connect handler got no net.Conn")
	}
	target := req.DestAddr.String()
	stream, err := s.open(ctx, target)
	if s.cfg.OnOutcome != nil {
		s.cfg.OnOutcome(err)
	}
	if err != nil {
		f := Classify(err)
		s.log.Warn("edge stream refused", "target", target, "cause", f.Cause, "reply", f.Reply, "err", f.Message)
		if rerr := socks5.SendReply(conn, f.Reply, nil); rerr != nil {
			return rerr
		}
		return err
	}
	defer stream.Close()
	// When the listener stops (disconnect, shutdown), tear the stream down
	// too: a direction blocked reading the edge would not notice the
	// client's connection closing.
	stopAbort := context.AfterFunc(ctx, func() { abort(stream) })
	defer stopAbort()
	bind := stream.LocalAddr()
	if _, ok := bind.(*net.TCPAddr); !ok {
		bind = conn.LocalAddr()
	}
	if err := socks5.SendReply(conn, statute.RepSuccess, bind); err != nil {
		return err
	}
	_, _, err = relay.Splice(clientSide{r: req.Reader, c: conn}, stream)
	return err
}

// open gets a token, then opens the stream within OpenTimeout. The token
// is not bounded by OpenTimeout: a sign-in source holds the connection
// while the user signs in (its own wait bounds that). A token the edge
// refuses as unauthenticated goes back to an Invalidator source and the
// open is tried once more with a fresh one.
func (s *Server) open(ctx context.Context, target string) (net.Conn, error) {
	for attempt := 0; ; attempt++ {
		tok, err := s.cfg.Tokens.Token(ctx)
		if err != nil {
			return nil, err
		}
		octx, cancel := context.WithTimeout(ctx, s.cfg.OpenTimeout)
		conn, err := s.cfg.Edge.Open(octx, &wire.Open{App: s.cfg.App, Token: tok, Target: target})
		cancel()
		inv, ok := s.cfg.Tokens.(tokens.Invalidator)
		if err == nil || !ok || attempt > 0 || relay.CodeOf(err) != wire.CodeUnauthenticated {
			return conn, err
		}
		inv.Invalidate(tok)
	}
}

func abort(c net.Conn) {
	if a, ok := c.(relay.Aborter); ok {
		a.Abort(wire.CodeGoingAway)
		return
	}
	c.Close()
}

// clientSide is the SOCKS client's connection for Splice: reads come
// through the SOCKS parser's buffered reader (which reads straight into
// large buffers once drained), writes, closes and aborts go to the
// connection (the *net.TCPConn the listener accepted, unwrapped from its
// handshakeConn in connect).
type clientSide struct {
	r io.Reader
	c net.Conn
}

func (c clientSide) Read(p []byte) (int, error)  { return c.r.Read(p) }
func (c clientSide) Write(p []byte) (int, error) { return c.c.Write(p) }
func (c clientSide) Close() error                { return c.c.Close() }

// Abort resets the client's connection (RST), so that a stream cut on the
// way to the origin never reaches the client as the clean end of a
// download.
func (c clientSide) Abort(wire.Code) { abortConn(c.c) }

func (c clientSide) CloseWrite() error {
	if hc, ok := c.c.(relay.HalfCloser); ok {
		return hc.CloseWrite()
	}
	return nil
}

// noResolve keeps the CONNECT hostname unresolved: the dialler gets
// host:port exactly as the client sent it, and only the connector's side
// ever resolves anything.
type noResolve struct{}

func (noResolve) Resolve(ctx context.Context, _ string) (context.Context, net.IP, error) {
	return ctx, nil, nil
}

// credentials checks the username and password in constant time.
type credentials struct{ user, pass string }

func (c credentials) Valid(user, pass, _ string) bool {
	u := subtle.ConstantTimeCompare([]byte(user), []byte(c.user))
	p := subtle.ConstantTimeCompare([]byte(pass), []byte(c.pass))
	return u&p == 1 && c.user != ""
}
