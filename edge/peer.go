package edge

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/airlockhq/airlock/internal/transport"
	"github.com/airlockhq/airlock/internal/wire"
)

// peer is one connection (QUIC or TCP) that completed the handshake: a daemon
// (client) or a connector.
type peer struct {
	id     string
	since  time.Time // when the handshake began
	addr   string
	conn   transport.Conn
	ctrl   transport.Stream
	hello  *wire.Hello
	tunnel *tunnelEntry // connectors only
	adm    *connState   // admission counts and limits (guard.go)
	log    *slog.Logger

	sendMu   sync.Mutex
	draining atomic.Bool  // the peer asked for no new streams
	leaving  atomic.Bool  // a connector leaving, still serving: the last resort (handover.go)
	active   atomic.Int64 // streams routed to this connector now
	heard    heard        // when this connector was last heard (quiet.go)
	idleOnce sync.Once
	// followsMembers: a connector told the fleet's list (fleet.go),
	// which gets its changes.
	followsMembers atomic.Bool
	idle           chan struct{} // closed once a draining connector has no stream left
	ctrlEOF        chan struct{} // closed when the peer ends its control stream (FIN)
}

// acquire counts a new stream routed to connector p, or reports false when p
// is draining. Every true is paired with one release.
func (p *peer) acquire() bool {
	p.active.Add(1)
	if p.draining.Load() {
		p.release()
		return false
	}
	return true
}

// release ends a stream counted by acquire. The last one on a draining
// connector marks it idle.
func (p *peer) release() {
	if p.active.Add(-1) == 0 && p.draining.Load() {
		p.markIdle()
	}
}

// drain stops new streams on p and reports whether it was not draining
// already. A connector with no stream left is idle at once.
func (p *peer) drain() bool {
	if !p.draining.CompareAndSwap(false, true) {
		return false
	}
	if p.active.Load() == 0 {
		p.markIdle()
	}
	return true
}

func (p *peer) markIdle() { p.idleOnce.Do(func() { close(p.idle) }) }

// send writes one frame on the control stream.
func (p *peer) send(f wire.Frame) error {
	p.sendMu.Lock()
	defer p.sendMu.Unlock()
	p.ctrl.SetWriteDeadline(time.Now().Add(writeTimeout)) //nolint:errcheck // never fails
	return wire.WriteFrame(p.ctrl, f)
}

// handshakeError is a refused handshake: what to tell the peer, and the
// metric reason.
type handshakeError struct {
	code   wire.Code
	msg    string
	reason string
}

func (e *handshakeError) Error() string { return e.code.String() + ": " + e.msg }

func refuse(code wire.Code, reason, format string, args ...any) *handshakeError {
	return &handshakeError{code: code, msg: fmt.Sprintf(format, args...), reason: reason}
}

// handleConn runs one connection from handshake to close.
func (s *Server) handleConn(connsCtx context.Context, conn transport.Conn) {
	stop := context.AfterFunc(connsCtx, func() {
		conn.CloseWithError(wire.CodeGoingAway, "edge shutting down") //nolint:errcheck
	})
	defer stop()
	log := s.log.With("remote", conn.RemoteAddr().String())
	adm := stateOf(conn)
	adm.handshakeDone(conn)

	p, herr := s.handshake(conn, log)
	if herr != nil {
		s.m.handshakeFailures.WithLabelValues(herr.reason).Inc()
		log.Info("connection refused", "code", herr.code.Slug(), "reason", herr.msg)
		conn.CloseWithError(herr.code, herr.msg) //nolint:errcheck
		return
	}
	p.adm = adm
	if p.tunnel != nil {
		adm.authenticate()
	} else if !adm.fullLimit {
		adm.armUnauthenticated()
	}
	defer func() {
		s.unregister(p)
		s.countConn(p, -1)
		if p.tunnel != nil {
			s.m.connectorConns.WithLabelValues(p.tunnel.name).Dec()
		} else {
			s.m.clientConns.Dec()
		}
		p.log.Info("connection closed", "cause", context.Cause(conn.Context()))
	}()

	var wg sync.WaitGroup
	wg.Go(func() { s.readControl(p) })
	if p.tunnel == nil {
		s.acceptClientStreams(p)
	} else {
		wg.Go(func() { s.closeWhenDrained(p) })
		wg.Go(func() { s.watchHeard(p) })
		s.refuseConnectorStreams(p)
	}
	conn.CloseWithError(0, "") //nolint:errcheck // already closed in the usual case
	wg.Wait()
}

// handshake reads Hello on the control stream, checks it, registers the
// connection and answers Welcome. A refusal has already been answered.
func (s *Server) handshake(conn transport.Conn, log *slog.Logger) (*peer, *handshakeError) {
	ctx, cancel := context.WithTimeout(conn.Context(), handshakeTimeout)
	defer cancel()
	ctrl, err := conn.AcceptStream(ctx)
	if err != nil {
		return nil, refuse(wire.CodeBadRequest, "no_control_stream", "no control stream within %s: %v", handshakeTimeout, err)
	}
	ctrl.SetReadDeadline(time.Now().Add(handshakeTimeout)) //nolint:errcheck
	hello, err := wire.ReadFrameOf[*wire.Hello](ctrl)
	ctrl.SetReadDeadline(time.Time{}) //nolint:errcheck
	if err != nil {
		var ee *wire.Error
		if !errors.As(err, &ee) {
			ee = wire.Errorf(wire.CodeBadRequest, "reading hello: %v", err)
		}
		return nil, s.refuseHello(conn, ctrl, refuse(wire.CodeBadRequest, "bad_hello", "%s", ee.Message))
	}
	if hello.Version < 1 || hello.Version > wire.Version {
		return nil, s.refuseHello(conn, ctrl, refuse(wire.CodeUnsupportedVersion, "unsupported_version",
			"this edge speaks protocol version %d; the peer sent version %d", wire.Version, hello.Version))
	}
	p := &peer{
		id:      s.nextID("c"),
		since:   time.Now(),
		addr:    conn.RemoteAddr().String(),
		conn:    conn,
		ctrl:    ctrl,
		hello:   hello,
		idle:    make(chan struct{}),
		ctrlEOF: make(chan struct{}),
	}
	p.log = log.With("conn", p.id, "role", hello.Role.String())
	w := &wire.Welcome{Version: wire.Version, EdgeID: s.edgeID, ConnID: p.id, Pings: true}
	if hello.Role == wire.RoleConnector {
		t := s.snap.Load().tunnels[hello.TunnelID]
		if t == nil {
			return nil, s.refuseHello(conn, ctrl, refuse(wire.CodeUnauthenticated, "unknown_tunnel",
				"tunnel id %q is not known to this edge", hello.TunnelID))
		}
		if !secretMatches(hello.Secret, t.secretHash) {
			return nil, s.refuseHello(conn, ctrl, refuse(wire.CodeUnauthenticated, "bad_secret",
				"wrong secret for tunnel %s (%s)", t.name, t.id))
		}
		if !hello.Assertions {
			return nil, s.refuseHello(conn, ctrl, refuse(wire.CodeUnsupportedVersion, "no_assertions",
				"this edge sends connectors a signed assertion per stream, never the user's token; connector %q (%s) does not check assertions: upgrade it",
				hello.ConnectorID, hello.Software))
		}
		p.tunnel = t
		p.log = p.log.With("tunnel", t.name, "connector_id", hello.ConnectorID, "conn_index", hello.ConnIndex)
		w.Keys = s.keys.ownKeys() // the assertions' keys: this edge's own, not the fleet's
		w.Handover = true         // a leaving lone connector serves until told (handover.go)
	}
	if s.stopping.Load() {
		return nil, s.refuseHello(conn, ctrl, refuse(wire.CodeGoingAway, "shutting_down", "edge shutting down"))
	}
	if herr := s.register(p); herr != nil {
		return nil, s.refuseHello(conn, ctrl, herr)
	}
	if err := s.welcome(p, w); err != nil {
		s.unregister(p)
		return nil, refuse(wire.CodeInternal, "welcome_failed", "sending welcome: %v", err)
	}
	s.countConn(p, +1)
	if p.tunnel != nil {
		s.m.connectorConns.WithLabelValues(p.tunnel.name).Inc()
	} else {
		s.m.clientConns.Inc()
	}
	p.log.Info("connection accepted", "software", hello.Software)
	return p, nil
}

// refuseHello answers a refused Hello with a Welcome that carries the code
// and message, and gives the peer a moment to read it before the close.
func (s *Server) refuseHello(conn transport.Conn, ctrl transport.Stream, e *handshakeError) *handshakeError {
	ctrl.SetWriteDeadline(time.Now().Add(writeTimeout)) //nolint:errcheck
	if err := wire.WriteFrame(ctrl, &wire.Welcome{Version: wire.Version, Code: e.code, Message: truncate(e.msg), EdgeID: s.edgeID}); err == nil {
		ctrl.Close()
		select {
		case <-conn.Context().Done():
		case <-time.After(refuseLinger):
		}
	}
	return e
}

// readControl handles frames the peer sends on the control stream after
// Welcome: Drain from a connector stops routing to it.
func (s *Server) readControl(p *peer) {
	for {
		f, err := wire.ReadFrame(p.ctrl)
		if err != nil {
			var ee *wire.Error
			switch {
			case errors.As(err, &ee):
				p.log.Warn("malformed control frame; closing the connection", "err", ee.Message)
				p.conn.CloseWithError(wire.CodeBadRequest, truncate("control stream: "+ee.Message)) //nolint:errcheck
			case errors.Is(err, io.EOF):
				close(p.ctrlEOF)
				if p.drain() {
					p.log.Info("peer closed its control stream; no new streams on this connection", "active_streams", p.active.Load())
				}
			}
			return
		}
		switch f := f.(type) {
		case *wire.Drain:
			if f.Serving && s.keepServing(p, f.Reason) {
				continue
			}
			if p.drain() {
				p.log.Info("peer is draining; no new streams on this connection", "reason", f.Reason, "active_streams", p.active.Load())
			}
		case *wire.Ping:
			// A liveness probe: when it came tells pick whether the
			// connector is still there (quiet.go).
			p.heard.ping(time.Now())
		default:
			p.log.Debug("ignoring frame on the control stream", "frame", f.FrameType().String())
		}
	}
}

// closeWhenDrained closes a connector connection with CodeGoingAway once the
// connector asked to drain it and its last stream has ended here, so that
// neither side waits on a timer to be sure nothing is still on its way.
//
// A close discards stream data not yet delivered and read, such as the last
// bytes of the stream that just ended. When the last stream ends here, the
// edge has read all the connector sent; the connector says it has read all
// the edge sent by ending its control stream (FIN) once its own streams have
// ended, and then the close is immediate. A connector that does not (an
// older one) gets a few round trips (lingerTime) instead.
func (s *Server) closeWhenDrained(p *peer) {
	select {
	case <-p.idle:
	case <-p.conn.Context().Done():
		return
	}
	select {
	case <-p.ctrlEOF:
	default:
		t := time.NewTimer(lingerTime(p.conn.Stats().SmoothedRTT, time.Second))
		defer t.Stop()
		select {
		case <-t.C:
		case <-p.ctrlEOF:
		case <-p.conn.Context().Done():
			return
		}
	}
	p.log.Info("drained connector connection has no stream left; closing it")
	p.conn.CloseWithError(wire.CodeGoingAway, "drained") //nolint:errcheck
}

// refuseConnectorStreams resets any stream a connector opens: streams go
// from the edge to connectors only. It returns when the connection closes.
func (s *Server) refuseConnectorStreams(p *peer) {
	for {
		str, err := p.conn.AcceptStream(context.Background())
		if err != nil {
			return
		}
		str.CancelRead(wire.CodeBadRequest)
		str.CancelWrite(wire.CodeBadRequest)
	}
}

func truncate(s string) string {
	if len(s) > wire.MaxTextLen {
		return s[:wire.MaxTextLen]
	}
	return s
}
