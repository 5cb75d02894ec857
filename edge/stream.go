package edge

import (
	"context"
	"errors"
	"os"
	"strings"
	"time"

	"github.com/airlockhq/airlock/internal/relay"
	"github.com/airlockhq/airlock/internal/token"
	"github.com/airlockhq/airlock/internal/transport"
	"github.com/airlockhq/airlock/internal/wire"
	"github.com/quic-go/quic-go"
)

// acceptClientStreams serves a daemon's streams until its connection closes.
func (s *Server) acceptClientStreams(p *peer) {
	for {
		str, err := p.conn.AcceptStream(context.Background())
		if err != nil {
			return
		}
		if !s.admitStream(p, str) {
			continue
		}
		s.streamWG.Go(func() { s.serveStream(p, str) })
	}
}

// serveStream checks one client stream, routes it to a connector and
// relays it, and writes its audit line.
func (s *Server) serveStream(p *peer, str transport.Stream) {
	start := time.Now()
	s.active.Add()
	s.m.activeStreams.Inc()
	rec := &AuditRecord{StreamID: s.nextID("s"), ClientConn: p.id, ClientAddr: p.addr, ClientTransport: strings.ToLower(p.conn.Name())}
	defer func() {
		rec.DurationMS = float64(time.Since(start).Microseconds()) / 1000
		s.writeAudit(rec)
		s.m.streams.WithLabelValues(rec.Code.Slug()).Inc()
		s.m.activeStreams.Dec()
		s.active.Done()
		p.adm.streamDone()
	}()

	open, err := s.readOpen(p, str)
	if err != nil {
		rec.Code, rec.Message = wire.CodeBadRequest, "reading the open frame: "+err.Error()
		var ee *wire.Error
		if errors.As(err, &ee) {
			rec.Message = ee.Message
		}
		abort(str, wire.CodeBadRequest)
		return
	}
	rec.App, rec.Target = open.App, open.Target

	if s.stopping.Load() || p.draining.Load() {
		s.refuseStream(str, rec, wire.Errorf(wire.CodeGoingAway, "edge shutting down; retry on a new connection"))
		return
	}
	rt, claims, err := s.check(open)
	s.m.checkSeconds.Observe(time.Since(start).Seconds())
	s.checked(p, claims)
	rec.identify(claims)
	if rt != nil {
		rec.App = rt.app
		if rt.tunnel != nil {
			rec.Tunnel = rt.tunnel.name
		}
	}
	if err != nil {
		s.refuseStream(str, rec, err)
		return
	}
	up, cp, err := s.dialConnector(rt, open, claims, rec.StreamID)
	if err != nil {
		s.refuseStream(str, rec, err)
		return
	}
	defer cp.release()
	rec.ConnectorConn = cp.id

	str.SetWriteDeadline(time.Now().Add(writeTimeout)) //nolint:errcheck
	if err := wire.WriteFrame(str, &wire.Result{}); err != nil {
		rec.RelayError = "writing the result: " + err.Error()
		abort(str, wire.CodeGoingAway)
		abort(up, wire.CodeGoingAway)
		return
	}
	str.SetWriteDeadline(time.Time{}) //nolint:errcheck
	s.m.setupSeconds.Observe(time.Since(start).Seconds())
	fromClient, toClient, err := relay.Splice(spliceStream{str}, spliceStream{up})
	rec.BytesFromClient, rec.BytesToClient = fromClient, toClient
	s.m.bytes.WithLabelValues("from_client").Add(float64(fromClient))
	s.m.bytes.WithLabelValues("to_client").Add(float64(toClient))
	if err != nil {
		rec.RelayError = err.Error()
	}
}

// refuseStream answers a stream with a refusal and closes it.
func (s *Server) refuseStream(str transport.Stream, rec *AuditRecord, err error) {
	res := relay.ResultOf(err)
	res.Message = wire.TruncateText(res.Message)
	rec.Code, rec.Message = res.Code, res.Message
	str.SetWriteDeadline(time.Now().Add(writeTimeout)) //nolint:errcheck
	if wire.WriteFrame(str, res) != nil {
		abort(str, res.Code)
		return
	}
	str.Close()
	str.CancelRead(res.Code)
}

// retryable marks a failure to get a stream going on a connector
// connection before any of the client's bytes went there: another
// connection of the tunnel may do.
type retryable struct{ err error }

func (r retryable) Error() string { return r.err.Error() }
func (r retryable) Unwrap() error { return r.err }

// dialConnector opens a stream on one of the tunnel's connector
// connections, sends Dial and waits for the connector's Result. When a
// connection cannot take the stream (it is closed, has no free stream, or
// its connector answers CodeGoingAway because it is draining) it tries the
// next, at most once each, so that a rolling restart of the connectors costs
// the client nothing.
func (s *Server) dialConnector(rt *route, open *wire.Open, claims *token.Claims, streamID string) (transport.Stream, *peer, error) {
	dial := &wire.Dial{
		App: rt.app, Target: open.Target,
		Email: claims.Email, Subject: claims.Subject, StreamID: streamID,
	}
	var tried []*peer
	var lastErr error
	for {
		cp := s.registry.pick(rt.tunnel.id, tried, time.Now())
		if cp == nil {
			break
		}
		tried = append(tried, cp)
		if !cp.acquire() {
			continue // it began to drain since pick
		}
		var err error
		if dial.Assertion, err = s.streamAssertion(rt, claims, streamID); err != nil {
			cp.release()
			return nil, nil, err
		}
		up, err := s.openUpstream(cp, dial, func(now time.Time) bool {
			return s.registry.hasHeard(rt.tunnel.id, tried, now)
		})
		if err == nil {
			return up, cp, nil
		}
		cp.release()
		lastErr = err
		var r retryable
		if !errors.As(err, &r) {
			return nil, nil, err
		}
		cp.log.Info("connector connection could not take a stream; trying another", "err", err)
	}
	if lastErr != nil {
		if relay.CodeOf(lastErr) == wire.CodeGoingAway {
			// To the client, going away means this edge is: here every
			// connector connection was.
			return nil, nil, wire.Errorf(wire.CodeNoConnector, "every connector connection of tunnel %s is draining (app %s): %v", rt.tunnel.name, rt.app, lastErr)
		}
		return nil, nil, lastErr
	}
	return nil, nil, wire.Errorf(wire.CodeNoConnector, "no connector of tunnel %s is connected to this edge (app %s)", rt.tunnel.name, rt.app)
}

// openUpstream opens a stream on cp, sends dial and waits for the Result;
// alternative reports whether the tunnel has another connection heard at
// now, for when cp goes quiet meanwhile (answerWatch).
func (s *Server) openUpstream(cp *peer, dial *wire.Dial, alternative func(now time.Time) bool) (transport.Stream, error) {
	// At once when the connection has a free stream, else within a little.
	ctx, cancel := context.WithTimeout(cp.conn.Context(), openStreamTimeout)
	up, err := cp.conn.OpenStream(ctx)
	cancel()
	if err != nil {
		if cp.conn.Context().Err() != nil {
			return nil, retryable{wire.Errorf(wire.CodeNoConnector, "connector connection %s closed", cp.id)}
		}
		return nil, retryable{wire.Errorf(wire.CodeOverloaded, "connector connection %s has no free stream: %v", cp.id, err)}
	}
	up.SetDeadline(time.Now().Add(resultTimeout)) //nolint:errcheck
	if err := wire.WriteFrame(up, dial); err != nil {
		abort(up, wire.CodeGoingAway)
		return nil, retryable{wire.Errorf(wire.CodeNoConnector, "connector connection %s: %v", cp.id, err)}
	}
	watch := watchAnswer(cp, up, alternative)
	res, err := wire.ReadFrameOf[*wire.Result](up)
	quiet := watch.stop()
	if err != nil {
		abort(up, wire.CodeGoingAway)
		if quiet && errors.Is(err, os.ErrDeadlineExceeded) {
			s.m.quietMoved.Inc()
			return nil, retryable{wire.Errorf(wire.CodeNoConnector, "connector connection %s went quiet before it answered (unheard for over %s)", cp.id, answerQuietAfter)}
		}
		var ee *wire.Error
		code := relay.CodeOf(err)
		switch {
		case errors.As(err, &ee):
			return nil, wire.Errorf(wire.CodeInternal, "connector %s sent a bad answer: %s", cp.id, ee.Message)
		case cp.conn.Context().Err() != nil || connGone(err):
			// Nothing but our Dial went there: another connection may do.
			// (A stateless reset or an idle timeout reaches the stream
			// before the connection's context ends: a connector that
			// forgot the connection while this edge was stopped answers
			// the Dial with a reset.)
			return nil, retryable{wire.Errorf(wire.CodeNoConnector, "connector connection %s closed before it answered: %v", cp.id, context.Cause(cp.conn.Context()))}
		case errors.Is(err, os.ErrDeadlineExceeded):
			return nil, wire.Errorf(wire.CodeOriginUnreachable, "connector %s did not answer within %s", cp.id, resultTimeout)
		case code == wire.CodeGoingAway:
			cp.drain()
			return nil, retryable{wire.Errorf(wire.CodeGoingAway, "connector %s reset the stream: it is going away", cp.id)}
		case code != wire.CodeInternal && code != wire.CodeOK:
			return nil, wire.Errorf(code, "connector %s reset the stream", cp.id)
		}
		return nil, wire.Errorf(wire.CodeOriginUnreachable, "connector %s: %v", cp.id, err)
	}
	up.SetDeadline(time.Time{}) //nolint:errcheck
	if res.Code != wire.CodeOK {
		up.Close()
		up.CancelRead(res.Code)
		if res.Code == wire.CodeGoingAway {
			// The connector drains this connection and refused the stream
			// before any bytes flowed: route no more here, try another.
			if cp.drain() {
				cp.log.Info("connector answered going away; no new streams on this connection", "reason", res.Message)
			}
			return nil, retryable{res.Err()}
		}
		return nil, res.Err()
	}
	return up, nil
}

// spliceStream adapts a stream to relay.Splice: CloseWrite sends FIN,
// Abort resets both directions.
type spliceStream struct{ transport.Stream }

func (s spliceStream) CloseWrite() error { return s.Stream.Close() }
func (s spliceStream) Abort(c wire.Code) { abort(s.Stream, c) }

func abort(str transport.Stream, c wire.Code) { transport.Abort(str, c) }

// connGone reports whether err says the QUIC connection itself is gone.
func connGone(err error) bool {
	var reset *quic.StatelessResetError
	var idle *quic.IdleTimeoutError
	return errors.As(err, &reset) || errors.As(err, &idle)
}
