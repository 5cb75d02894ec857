package connector

import (
	"context"
	"errors"
	"net"
	"strings"
	"time"

	"github.com/airlockhq/airlock/connector/ingress"
	"github.com/airlockhq/airlock/internal/edgeclient"
	"github.com/airlockhq/airlock/internal/relay"
	"github.com/airlockhq/airlock/internal/token"
	"github.com/airlockhq/airlock/internal/wire"
	"github.com/prometheus/client_golang/prometheus"
)

// handle serves one stream the edge opened: read its Dial, check it, dial the
// rule's origin, answer, and splice until both sides are done or ctx ends.
func (c *Connector) handle(ctx context.Context, l *link, sc *edgeclient.StreamConn) {
	start := time.Now()
	sc.SetReadDeadline(start.Add(c.cfg.HeaderTimeout))
	d, err := wire.ReadFrameOf[*wire.Dial](sc)
	if err != nil {
		var e *wire.Error
		if errors.As(err, &e) {
			c.refuse(sc, e)
		} else {
			sc.Abort(wire.CodeBadRequest)
		}
		c.m.streams.WithLabelValues(wire.CodeBadRequest.Slug()).Inc()
		l.log.Warn("stream refused: bad dial header", "err", err)
		return
	}
	log := l.log.With("stream_id", d.StreamID, "app", d.App, "email", d.Email)

	rule, a, err := c.admit(l, d)
	if err != nil {
		c.refuse(sc, err)
		code := relay.CodeOf(err)
		c.m.streams.WithLabelValues(code.Slug()).Inc()
		log.Warn("stream refused", "outcome", code.Slug(), "err", err)
		return
	}
	log = log.With("token_kind", string(a.Kind))
	if d.Target != "" && !sameTarget(d.Target, rule.Origin()) {
		log.Info("client asked for another target: dialling only the rule's origin", "target", d.Target, "origin", rule.Origin(), "rule", rule.Name())
	}
	origin, err := c.dialOrigin(ctx, rule, d.App)
	if err != nil {
		c.refuse(sc, err)
		c.m.streams.WithLabelValues(wire.CodeOriginUnreachable.Slug()).Inc()
		log.Warn("stream refused", "outcome", wire.CodeOriginUnreachable.Slug(), "err", err)
		return
	}
	sc.SetWriteDeadline(time.Now().Add(c.cfg.HeaderTimeout))
	if err := wire.WriteFrame(sc, &wire.Result{}); err != nil {
		origin.Close()
		sc.Abort(wire.CodeInternal)
		c.m.streams.WithLabelValues(wire.CodeInternal.Slug()).Inc()
		log.Warn("stream lost before its answer", "err", err)
		return
	}
	sc.SetDeadline(time.Time{})
	c.m.streams.WithLabelValues(wire.CodeOK.Slug()).Inc()

	c.m.activeStreams.Inc()
	defer c.m.activeStreams.Dec()
	stop := context.AfterFunc(ctx, func() {
		sc.Abort(wire.CodeGoingAway)
		relay.AbortTCP(origin)
	})
	toOrigin, fromOrigin, err := relay.Splice(sc, &countedConn{TCPConn: origin, in: c.m.fromOrigin, out: c.m.toOrigin})
	stop()
	origin.Close()
	sc.Close()
	args := []any{"origin", rule.Origin(), "bytes_to_origin", toOrigin, "bytes_from_origin", fromOrigin, "duration", time.Since(start).Round(time.Millisecond)}
	if err != nil && ctx.Err() == nil {
		log.Info("stream ended with an error", append(args, "err", err)...)
		return
	}
	log.Info("stream done", args...)
}

// admit decides whether a stream may go on, and to which rule, and returns
// the edge's verified assertion of it.
func (c *Connector) admit(l *link, d *wire.Dial) (*ingress.Rule, *token.Assertion, error) {
	if l.draining.Load() || (c.draining.Load() && !l.servesLeaving()) {
		return nil, nil, wire.Errorf(wire.CodeGoingAway, "the connector is draining this connection")
	}
	a, err := l.checkIdentity(d)
	if err != nil {
		return nil, nil, err
	}
	rule := c.cfg.Rules.Match(d.App)
	if rule.Deny() {
		if rule.CatchAll() {
			return nil, nil, wire.Errorf(wire.CodeForbidden, "no ingress rule for app %s", d.App)
		}
		return nil, nil, wire.Errorf(wire.CodeForbidden, "ingress %s denies app %s", rule.Name(), d.App)
	}
	return rule, a, nil
}

// dialOrigin dials the rule's origin, never anything the client asked for.
func (c *Connector) dialOrigin(ctx context.Context, rule *ingress.Rule, app string) (*net.TCPConn, error) {
	ctx, cancel := context.WithTimeout(ctx, c.cfg.OriginDialTimeout)
	defer cancel()
	start := time.Now()
	var d net.Dialer // Go sets TCP_NODELAY and keepalives on TCP conns
	conn, err := d.DialContext(ctx, "tcp", rule.Origin())
	result := "ok"
	if err != nil {
		result = "error"
	}
	c.m.originDial.WithLabelValues(result).Observe(time.Since(start).Seconds())
	if err != nil {
		return nil, wire.Errorf(wire.CodeOriginUnreachable, "dial origin tcp://%s for app %s: %s", rule.Origin(), app, dialCause(err))
	}
	return conn.(*net.TCPConn), nil
}

// dialCause returns the useful end of a dial error, e.g. "connect:
// connection refused" or "i/o timeout".
func dialCause(err error) string {
	var op *net.OpError
	if errors.As(err, &op) && op.Err != nil {
		return op.Err.Error()
	}
	return err.Error()
}

// refuse answers the stream with err's code and message, then closes it.
func (c *Connector) refuse(sc *edgeclient.StreamConn, err error) {
	res := relay.ResultOf(err)
	res.Message = wire.TruncateText(res.Message)
	sc.SetWriteDeadline(time.Now().Add(c.cfg.HeaderTimeout))
	if werr := wire.WriteFrame(sc, res); werr != nil {
		sc.Abort(res.Code)
		return
	}
	sc.Close()
}

// sameTarget reports whether a client's host:port names the origin, for
// logging only: the connector dials the origin either way.
func sameTarget(target, origin string) bool {
	th, tp, err1 := net.SplitHostPort(target)
	oh, op, err2 := net.SplitHostPort(origin)
	if err1 != nil || err2 != nil {
		return strings.EqualFold(target, origin)
	}
	return tp == op && strings.EqualFold(strings.TrimSuffix(th, "."), strings.TrimSuffix(oh, "."))
}

// countedConn counts the bytes read from and written to an origin as they
// pass, so that long streams (kubectl get -w) show in the metrics live, and
// aborts it with a reset when Splice gives up on the stream.
type countedConn struct {
	*net.TCPConn
	in, out prometheus.Counter
}

// Abort resets the origin's connection (RST): a stream cut between the
// client and the connector must not reach the origin as a clean end.
func (c *countedConn) Abort(wire.Code) { relay.AbortTCP(c.TCPConn) }

func (c *countedConn) Read(p []byte) (int, error) {
	n, err := c.TCPConn.Read(p)
	c.in.Add(float64(n))
	return n, err
}

func (c *countedConn) Write(p []byte) (int, error) {
	n, err := c.TCPConn.Write(p)
	c.out.Add(float64(n))
	return n, err
}
