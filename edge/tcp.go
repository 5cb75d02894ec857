package edge

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"time"

	"github.com/airlockhq/airlock/internal/backoff"
	"github.com/airlockhq/airlock/internal/relay"
	"github.com/airlockhq/airlock/internal/transport"
	"github.com/airlockhq/airlock/internal/wire"
)

// TCPOff as tcp_listen turns the TCP listener off.
const TCPOff = "off"

// A TCP connection over a limit is told so with the code QUIC's refusal
// carries (overloaded: QUIC answers CONNECTION_REFUSED at the first
// packet, which clients read as overloaded) when that is cheap: at most
// tcpRefusalSlots such answers at once edge-wide, each within
// tcpRefusalTime (TLS, the session, the CLOSE frame). Beyond the budget,
// a TCP RST at once, costing nothing.
const (
	tcpRefusalSlots = 8
	tcpRefusalTime  = time.Second
)

// listenTCP binds the TCP listener of the same protocol over TLS on TCP:
// tcp_listen, or by default the host of listen and the port the QUIC
// listener got. A default that cannot be bound (the port is taken on TCP)
// leaves the edge without TCP, and says so; a tcp_listen that cannot is an
// error.
func (s *Server) listenTCP(cfg *Config, ln net.Listener, tlsConf *tls.Config) error {
	s.tlsTCP = tlsConf.Clone()
	s.tlsTCP.NextProtos = []string{transport.ALPNTCP}
	s.tcpRefusals = make(chan struct{}, tcpRefusalSlots)
	if ln != nil {
		s.tcpLn = ln
		return nil
	}
	if cfg.TCPListen == TCPOff {
		return nil
	}
	addr, explicit := cfg.TCPListen, cfg.TCPListen != ""
	if !explicit {
		host, _, err := net.SplitHostPort(cfg.Listen)
		if err != nil {
			return fmt.Errorf("listen: %w", err)
		}
		_, port, _ := net.SplitHostPort(s.udp.LocalAddr().String())
		addr = net.JoinHostPort(host, port)
	}
	var err error
	if s.tcpLn, err = net.Listen("tcp", addr); err != nil {
		if explicit {
			return fmt.Errorf("tcp_listen: %w", err)
		}
		s.log.Warn("no TCP listener: daemons and connectors whose network drops UDP cannot reach this edge; set tcp_listen", "addr", addr, "err", err)
	}
	return nil
}

// TCPAddr is the TCP listener's address, nil when there is none.
func (s *Server) TCPAddr() net.Addr {
	if s.tcpLn == nil {
		return nil
	}
	return s.tcpLn.Addr()
}

// acceptTCP accepts TCP connections until ctx ends.
func (s *Server) acceptTCP(ctx, connsCtx context.Context) error {
	stop := context.AfterFunc(ctx, func() { s.tcpLn.Close() })
	defer stop()
	// A failed accept (out of descriptors, a connection reset while it
	// waited) is waited out, as net/http does, not an edge that stops.
	bo := backoff.New(backoff.Config{Base: 5 * time.Millisecond, Max: time.Second})
	for {
		raw, err := s.tcpLn.Accept()
		if err != nil {
			if ctx.Err() != nil || s.stopping.Load() {
				return nil
			}
			if errors.Is(err, net.ErrClosed) {
				return fmt.Errorf("accept tcp: %w", err)
			}
			d := bo.Next()
			s.log.Warn("tcp accept failed; trying again", "err", err, "in", d)
			if bo.Sleep(ctx, d) != nil {
				return nil
			}
			continue
		}
		bo.Reset()
		s.connWG.Go(func() { s.serveTCP(connsCtx, raw) })
	}
}

// serveTCP takes one TCP connection through the same admission as a QUIC
// one (guard.count: the per-source and edge-wide connection and handshake
// caps, the trusted sources' full stream limit), then the TLS handshake
// within the QUIC handshake timeout, then handleConn like any other. A
// connection over a bound is closed with overloaded while refusal slots
// last (refuseTCP), else reset at once (RST), costing no TLS.
func (s *Server) serveTCP(connsCtx context.Context, raw net.Conn) {
	st, err := s.guard.count(sourceOf(raw.RemoteAddr()))
	if err != nil && s.refuseTCP(connsCtx, raw, err) {
		return
	}
	if err != nil {
		if tc, ok := raw.(*net.TCPConn); ok {
			relay.AbortTCP(tc)
		} else {
			raw.Close()
		}
		return
	}
	hctx, cancel := context.WithTimeout(connsCtx, s.guard.full.HandshakeIdleTimeout)
	tc := tls.Server(raw, s.tlsTCP)
	err = tc.HandshakeContext(hctx)
	cancel()
	if err != nil {
		st.release()
		raw.Close()
		s.m.handshakeFailures.WithLabelValues("tls").Inc()
		s.log.Debug("tcp connection: tls handshake failed", "remote", raw.RemoteAddr().String(), "err", err)
		return
	}
	cfg := s.guard.low
	budget := int64(s.guard.lim.UnauthenticatedWindow)
	if st.fullLimit {
		cfg = s.guard.full
		budget = int64(cfg.InitialConnectionReceiveWindow)
	}
	conn, err := transport.ServeTCP(context.WithValue(context.Background(), connStateKey{}, st), tc, transport.TCPOptions{
		MaxIncomingStreams: int(cfg.MaxIncomingStreams),
		StreamWindow:       uint32(min(cfg.MaxStreamReceiveWindow, 1<<24)),
		// All streams together within QUIC's connection window (the
		// stream limit is lowered to fit: see TCPOptions).
		ConnectionWindow: int64(cfg.MaxConnectionReceiveWindow),
		IdleTimeout:      cfg.MaxIdleTimeout,
		ReadBudget:       budget,
	})
	if err != nil {
		st.release()
		return
	}
	context.AfterFunc(conn.Context(), st.release)
	s.handleConn(connsCtx, conn)
}

// refuseTCP tells a TCP connection that a limit refused it, with the
// overloaded code in a CLOSE, when a refusal slot is free; it reports
// whether it took raw (else the caller resets it). The peer gets the
// smallest window and no stream; the whole answer is bounded by
// tcpRefusalTime.
func (s *Server) refuseTCP(connsCtx context.Context, raw net.Conn, cause error) bool {
	select {
	case s.tcpRefusals <- struct{}{}:
	default:
		return false
	}
	defer func() { <-s.tcpRefusals }()
	defer raw.Close() // a no-op once the session closed it
	ctx, cancel := context.WithTimeout(connsCtx, tcpRefusalTime)
	defer cancel()
	raw.SetDeadline(time.Now().Add(tcpRefusalTime)) //nolint:errcheck // bounds TLS and the close alike
	tc := tls.Server(raw, s.tlsTCP)
	if err := tc.HandshakeContext(ctx); err != nil {
		return true
	}
	conn, err := transport.ServeTCP(ctx, tc, transport.TCPOptions{MaxIncomingStreams: 1, ReadBudget: 4 << 10, IdleTimeout: tcpRefusalTime})
	if err != nil {
		return true
	}
	conn.CloseWithError(wire.CodeOverloaded, "edge over a connection limit: "+cause.Error()) //nolint:errcheck // never fails
	select {                                                                                 // the peer reads the CLOSE and hangs up, or the deadline ends it
	case <-transport.Hungup(conn):
	case <-ctx.Done():
	}
	return true
}
