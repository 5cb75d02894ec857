package connector

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/airlockhq/airlock/internal/edgeclient"
	"github.com/airlockhq/airlock/internal/inflight"
	"github.com/airlockhq/airlock/internal/token"
	"github.com/airlockhq/airlock/internal/wire"
)

// errEdgeDrained ends a link's service when the edge asked us to drain it:
// the slot dials a replacement while the old link finishes its streams.
var errEdgeDrained = errors.New("the edge asked to drain the connection")

// errMovedToQUIC ends a TCP link's service when a QUIC link beside it
// answered (slot.retryQUIC): the slot goes on with that one while the old
// link finishes its streams.
var errMovedToQUIC = errors.New("moved to QUIC: UDP to the edge answers again")

// link is one QUIC connection to an edge, from its Welcome until it closes.
// Each link verifies the edge's stream assertions with the keys its edge
// announced.
type link struct {
	c        *Connector
	slot     *slot
	conn     *edgeclient.Conn
	log      *slog.Logger
	verifier *token.Verifier
	streams  inflight.Tracker // the streams in progress: a drain waits for none
	draining atomic.Bool      // no new streams: we or the edge asked
	lastEnd  atomic.Int64     // when a stream last ended, in Unix nanoseconds

	keysMu        sync.Mutex
	keysFromFrame bool // a Keys frame arrived: it is newer than the Welcome's keys

	edgeDrainOnce sync.Once
	edgeDrain     chan struct{} // closed when the edge sends Drain

	// moved receives the QUIC link that replaces this one on TCP
	// (slot.retryQUIC); successor is it once serve took it.
	moved     chan *link
	successor *link
}

func newLink(s *slot) (*link, error) {
	v, err := token.NewVerifier(nil, token.VerifierOptions{Now: s.c.cfg.Now, Replay: s.c.replay})
	if err != nil {
		return nil, err
	}
	return &link{c: s.c, slot: s, log: s.log, verifier: v, edgeDrain: make(chan struct{}), moved: make(chan *link, 1)}, nil
}

// onControl handles the edge's control frames. It may run before Dial
// returns, so it touches only what exists before the dial.
func (l *link) onControl(f wire.Frame) {
	switch f := f.(type) {
	case *wire.Keys:
		l.keysMu.Lock()
		defer l.keysMu.Unlock()
		if err := l.verifier.SetKeys(f.Keys); err != nil {
			l.log.Warn("the edge sent unusable token keys; keeping the previous ones", "err", err)
			return
		}
		l.keysFromFrame = true
		l.log.Info("token verification keys updated", "keys", keyIDs(f.Keys))
	case *wire.Drain:
		l.edgeDrainOnce.Do(func() { close(l.edgeDrain) })
	case *wire.Members:
		// It comes right after the Welcome, maybe while welcomed is
		// still installing it (and the logger that names the edge).
		l.keysMu.Lock()
		log := l.log
		l.keysMu.Unlock()
		l.c.fleet.told(log, f)
	}
}

// welcomed installs the Welcome's keys unless a Keys frame overtook them.
func (l *link) welcomed(conn *edgeclient.Conn) error {
	l.conn = conn
	w := conn.Welcome()
	l.keysMu.Lock() // onControl may be running: it logs under keysMu
	defer l.keysMu.Unlock()
	l.log = l.log.With("edge_id", w.EdgeID, "conn_id", w.ConnID)
	if l.keysFromFrame {
		return nil
	}
	if err := l.verifier.SetKeys(w.Keys); err != nil {
		return wire.Errorf(wire.CodeBadRequest, "the edge's welcome carries unusable token keys: %v", err)
	}
	if len(w.Keys) == 0 {
		l.log.Warn("the edge sent no token verification keys: every stream will be refused until it does")
	}
	return nil
}

func keyIDs(keys []wire.PublicKey) []string {
	ids := make([]string, len(keys))
	for i, k := range keys {
		ids[i] = k.ID
	}
	return ids
}

// serve accepts streams until the connection dies (its cause is returned),
// the edge asks us to drain (errEdgeDrained; the link finishes in the
// background) or ctx ends (we drain, wait for the streams until hardCtx
// ends, close, and return nil).
func (l *link) serve(ctx, hardCtx context.Context) error {
	accepted := make(chan error, 1)
	go func() { accepted <- l.accept(hardCtx) }()
	select {
	case err := <-accepted:
		l.conn.Close(wire.CodeGoingAway, "connection failed")
		return err
	case <-l.edgeDrain:
		l.slot.detach(l)
		l.slot.finishing.Add(1)
		l.c.links.Go(func() {
			defer l.slot.finishing.Done()
			l.finish(hardCtx, accepted, "")
			l.slot.forget(l)
		})
		return errEdgeDrained
	case nl := <-l.moved:
		// Ours to drain: the edge routes new streams to the QUIC link,
		// and this one closes after its last stream.
		l.successor = nl
		l.slot.detach(l)
		l.slot.finishing.Add(1)
		l.c.links.Go(func() {
			defer l.slot.finishing.Done()
			l.finish(hardCtx, accepted, "the connector moved to QUIC")
			l.slot.forget(l)
		})
		return errMovedToQUIC
	case <-ctx.Done():
		l.slot.setState(StateDraining, nil)
		if cause := context.Cause(ctx); errors.Is(cause, errLeftFleet) {
			l.finish(hardCtx, accepted, "the connector drains its connections to an edge that left the fleet")
			return nil
		}
		if l.servesLeaving() {
			l.leave(hardCtx, accepted)
			return nil
		}
		l.finish(hardCtx, accepted, "connector shutting down")
		return nil
	}
}

// servesLeaving reports whether the link keeps taking streams while the
// connector shuts down: its edge hands over (Welcome.Handover), so it
// routes here only while the tunnel has nothing else there.
func (l *link) servesLeaving() bool { return l.conn.Welcome().Handover }

// leave tells the edge the connector is leaving and keeps taking new
// streams until the edge says to hand over (at once when another
// connector of the tunnel is there, else when a successor connects), the
// connection dies or the grace period ends; then it finishes as any
// drained link. A lone connector restarting so costs no failed stream.
func (l *link) leave(hardCtx context.Context, accepted <-chan error) {
	if err := l.conn.Leave("connector shutting down"); err != nil {
		l.log.Debug("could not tell the edge we are leaving", "err", err)
		l.finish(hardCtx, accepted, "connector shutting down")
		return
	}
	l.log.Info("leaving: taking new streams until the edge hands them to another connector or the grace period ends")
	select {
	case <-l.edgeDrain:
		l.log.Info("the edge handed this connection's new streams to another connector", "active_streams", l.streams.Count())
	case <-l.conn.Context().Done():
	case <-hardCtx.Done():
	}
	l.finish(hardCtx, accepted, "")
}

// finish stops new streams (telling the edge why, if reason is set), waits
// for the open ones to end, the connection to die or hardCtx to end, then
// closes the connection and waits for the accept loop.
func (l *link) finish(hardCtx context.Context, accepted <-chan error, reason string) {
	l.draining.Store(true)
	if reason != "" {
		if err := l.conn.Drain(reason); err != nil {
			l.log.Debug("could not send drain", "err", err)
		}
	}
	n := l.streams.Count()
	if n > 0 {
		l.log.Info("draining the connection", "active_streams", n)
	}
	select {
	case <-l.streams.Idle():
		// We have read all the edge sent: say so (FIN on the control
		// stream), and the edge closes the connection once its side of
		// the streams has ended too. linger covers an edge that does not.
		if err := l.conn.CloseControl(); err != nil {
			l.log.Debug("could not end the control stream", "err", err)
		}
		l.linger(hardCtx)
	case <-l.conn.Context().Done():
	case <-hardCtx.Done():
		if n := l.streams.Count(); n > 0 {
			l.log.Warn("grace period over: closing streams still open", "active_streams", n)
		}
	}
	l.conn.Close(wire.CodeGoingAway, "connector shutting down")
	<-accepted
}

// closeLinger is how long a drained connection stays open after its last
// stream ended, unless the edge closes it first (it does as soon as its side
// of the streams has ended too): closing a QUIC connection discards stream
// data not yet sent, such as the last bytes and FIN of a stream that has just
// finished. The full second is only for an edge that does not close.
const closeLinger = time.Second

func (l *link) linger(hardCtx context.Context) {
	last := l.lastEnd.Load()
	if last == 0 {
		return
	}
	wait := time.Until(time.Unix(0, last).Add(closeLinger))
	if wait <= 0 {
		return
	}
	t := time.NewTimer(wait)
	defer t.Stop()
	select {
	case <-t.C:
	case <-l.conn.Context().Done():
	case <-hardCtx.Done():
	}
}

// accept serves each stream the edge opens in its own goroutine until the
// connection ends, and returns why it ended.
func (l *link) accept(hardCtx context.Context) error {
	for {
		sc, err := l.conn.AcceptStream(hardCtx)
		if err != nil {
			if cause := context.Cause(l.conn.Context()); cause != nil {
				return cause
			}
			return err
		}
		l.streams.Add()
		l.c.streams.Go(func() {
			defer l.streams.Done()
			l.c.handle(hardCtx, l, sc)
			l.lastEnd.Store(time.Now().UnixNano())
		})
	}
}

// checkIdentity verifies the edge's assertion of the stream before
// anything is dialled: signed by one of the edge's keys, for this
// connector's tunnel and the Dial's app and stream, within its lifetime,
// never seen before (the replay cache), and vouching for the forwarded
// email and subject. It returns the assertion for the logs.
func (l *link) checkIdentity(d *wire.Dial) (*token.Assertion, error) {
	if d.Assertion == "" {
		return nil, wire.Errorf(wire.CodeUnauthenticated, "the edge sent no stream assertion (an edge older than this connector forwards users' tokens instead, which this connector does not accept: upgrade the edge)")
	}
	a, err := l.verifier.VerifyAssertion(d.Assertion, token.AssertionTarget{
		TunnelID: l.c.cfg.Credentials.TunnelID, App: d.App, StreamID: d.StreamID,
	})
	switch {
	case errors.Is(err, token.ErrReplayCacheFull):
		return nil, wire.Errorf(wire.CodeOverloaded, "the connector refused the stream: %v", err)
	case err != nil:
		return nil, wire.Errorf(wire.CodeUnauthenticated, "the connector refused the edge's stream assertion: %v", err)
	case a.Email != d.Email:
		return nil, wire.Errorf(wire.CodeUnauthenticated, "the forwarded email %q is not the one the edge asserted", d.Email)
	case d.Subject != "" && a.Subject != d.Subject:
		return nil, wire.Errorf(wire.CodeUnauthenticated, "the forwarded subject %q is not the one the edge asserted", d.Subject)
	}
	return a, nil
}
