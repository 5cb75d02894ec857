package connector

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"time"

	"github.com/airlockhq/airlock/internal/backoff"
	"github.com/airlockhq/airlock/internal/edgeclient"
	"github.com/airlockhq/airlock/internal/relay"
	"github.com/airlockhq/airlock/internal/transport"
	"github.com/airlockhq/airlock/internal/wire"
	"github.com/quic-go/quic-go"
)

// slot is one of the connector's HA connections to one edge: it keeps a link
// up, re-dialling with backoff whenever it is lost.
type slot struct {
	c     *Connector
	edge  string
	index int // Hello.ConnIndex: unique among this process's connections
	// member is the edge id of a fleet member the connector follows
	// (fleet.go); "" for a configured edge.
	member string
	log    *slog.Logger
	// finishing counts the links the edge drained, still finishing their
	// streams after run moved on (Connector.links counts them too).
	finishing sync.WaitGroup

	mu      sync.Mutex
	state   string
	since   time.Time
	retryAt time.Time
	lastErr error
	cur     *link
	old     map[*link]time.Time // links the edge asked to drain, still finishing
	lastID  string              // the edge id the last Welcome named
}

func newSlot(c *Connector, edgeAddr string, index int) *slot {
	return &slot{
		c: c, edge: edgeAddr, index: index,
		log:   c.log.With("edge", edgeAddr, "conn_index", index),
		state: StateConnecting, since: time.Now(),
		old: map[*link]time.Time{},
	}
}

// run keeps a connection up until ctx ends, then drains it until hardCtx
// ends.
func (s *slot) run(ctx, hardCtx context.Context) {
	defer s.setState(StateStopped, nil)
	b := backoff.New(s.c.cfg.Backoff)
	wait := func(err error) bool {
		d := b.Next()
		if edgeSilent(err) || relay.CodeOf(err) == wire.CodeGoingAway {
			// Nothing answered: another dial costs the edge nothing, and
			// the dial's own handshake timeout paces the attempts. An edge
			// that was paused or cut off is thus rejoined as soon as it
			// answers again, not at the end of a long backoff. An edge
			// that answered "going away" (shutting down: caught between
			// its drain and its exit) is about to be silent or replaced
			// by its restart: the same pace rejoins the restarted one.
			b.Reset()
			d = min(d, silentRetry)
		}
		s.mu.Lock()
		s.retryAt = time.Now().Add(d)
		s.mu.Unlock()
		s.setState(StateBackoff, err)
		s.log.Warn("edge connection down; retrying", "err", err, "retry_in", d.Round(time.Millisecond), "attempt", b.Attempts())
		return b.Sleep(ctx, d) == nil
	}
	var next *link // a QUIC link that answered beside a TCP one
	for attempt := 0; ctx.Err() == nil; attempt++ {
		l := next
		next = nil
		if l == nil {
			if attempt > 0 {
				s.c.m.reconnects.Inc()
			}
			s.setState(StateConnecting, nil)
			var err error
			if l, err = s.dial(ctx, edgeclient.TransportAuto); err != nil {
				if ctx.Err() != nil || !wait(err) {
					return
				}
				continue
			}
		}
		up := b.Now()
		s.attach(l)
		w := l.conn.Welcome()
		l.log.Info("connected to the edge", "keys", keyIDs(l.verifier.Keys()), "edge_message", w.Message, "transport", l.conn.Transport())
		stopRetry := s.retryQUIC(ctx, l)
		err := l.serve(ctx, hardCtx)
		stopRetry()
		if next = l.successor; next == nil {
			select {
			case next = <-l.moved: // answered as l ended: use it
			default:
			}
		}
		b.Connected(up)
		s.detach(l)
		switch {
		case ctx.Err() != nil:
			if next != nil {
				next.conn.Close(wire.CodeGoingAway, "connector shutting down")
			}
			return
		case errors.Is(err, errMovedToQUIC):
			l.log.Info("UDP to the edge answers again: new streams go to a QUIC connection while this TCP one finishes its streams")
		case errors.Is(err, errEdgeDrained):
			l.log.Info("the edge asked to drain the connection; connecting a replacement while its streams finish")
			s.setState(StateConnecting, err)
		case next != nil:
			l.log.Warn("edge connection down; going on with the QUIC connection dialled beside it", "err", err)
		default:
			if !wait(err) {
				return
			}
		}
	}
}

// retryQUIC moves l, a link on TCP, back to QUIC when its network's retry
// is due (edgeclient's TransportMemo.UntilQUIC, the daemon's mechanism
// too): a QUIC link dialled beside it that answers is handed to l.serve,
// which drains l. The returned stop ends the retry and waits for it.
func (s *slot) retryQUIC(ctx context.Context, l *link) (stop func()) {
	if l.conn.Transport() != transport.NameTCP {
		return func() {}
	}
	ctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Go(func() {
		var nl *link
		conn := s.c.transports.UntilQUIC(ctx, l.conn, func(ctx context.Context) (*edgeclient.Conn, error) {
			n, err := s.dial(ctx, edgeclient.TransportQUIC)
			if err != nil {
				return nil, err
			}
			nl = n
			return n.conn, nil
		})
		if conn != nil {
			l.moved <- nl // the one send: moved has room for it
		}
	})
	return func() { cancel(); wg.Wait() }
}

// silentRetry bounds the wait before dialling again an edge that gave no
// answer at all.
const silentRetry = 250 * time.Millisecond

// edgeSilent reports whether a dial or connection failed because nothing
// came back from the edge (a handshake or idle timeout, or the dial's own
// deadline), as opposed to an edge that answered with a refusal or an
// error: only the latter is worth backing off from.
func edgeSilent(err error) bool {
	var (
		hs   *quic.HandshakeTimeoutError
		idle *quic.IdleTimeoutError
	)
	return errors.As(err, &hs) || errors.As(err, &idle) || errors.Is(err, context.DeadlineExceeded)
}

// dial connects to the edge and completes the handshake: with
// TransportAuto over QUIC, or over TLS on TCP where UDP to the edge gets
// no answer (remembered for the network; retryQUIC moves the link back);
// with TransportQUIC over QUIC only.
func (s *slot) dial(ctx context.Context, via string) (*link, error) {
	l, err := newLink(s)
	if err != nil {
		return nil, err
	}
	cfg := s.c.cfg
	ctx, cancel := context.WithTimeout(ctx, cfg.EdgeDialTimeout)
	defer cancel()
	ecfg := edgeclient.Config{
		Addr:       s.edge,
		ServerName: cfg.Credentials.ServerName,
		RootCAs:    s.c.caPool,
		Hello: wire.Hello{
			Role:        wire.RoleConnector,
			TunnelID:    cfg.Credentials.TunnelID,
			Secret:      cfg.Credentials.Secret,
			ConnectorID: cfg.ConnectorID,
			ConnIndex:   uint64(s.index),
			Software:    cfg.Software,
			Assertions:  true, // link.checkIdentity
			Members:     true, // followed
		},
		QUIC:      cfg.QUIC,
		OnControl: l.onControl,
		Logger:    s.log,
		Transport: via,
	}
	var conn *edgeclient.Conn
	if via == edgeclient.TransportQUIC {
		conn, err = edgeclient.Dial(ctx, ecfg)
	} else {
		conn, err = edgeclient.DialAuto(ctx, ecfg, s.c.transports)
	}
	if err != nil {
		return nil, err
	}
	if err := l.welcomed(conn); err != nil {
		conn.Close(relay.CodeOf(err), "unusable welcome")
		return nil, err
	}
	return l, nil
}

func (s *slot) setState(state string, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.state != state {
		s.state, s.since = state, time.Now()
	}
	if err != nil {
		s.lastErr = err
	}
	if state != StateBackoff {
		s.retryAt = time.Time{}
	}
}

func (s *slot) attach(l *link) {
	id := l.conn.Welcome().EdgeID
	s.mu.Lock()
	s.cur = l
	changed := s.lastID != id
	s.lastID = id
	s.mu.Unlock()
	s.setState(StateConnected, nil)
	if changed && s.member == "" {
		// A configured edge that is also in a fleet's list is held
		// once, by its configured slots.
		s.c.fleet.update()
	}
}

// edgeID is the edge id the slot's last Welcome named ("" before one).
func (s *slot) edgeID() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.lastID
}

// detach stops showing l as the slot's connection; if it is still finishing
// its streams it is listed apart until forget.
func (s *slot) detach(l *link) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cur == l {
		s.cur = nil
		if l.conn.Context().Err() == nil && l.streams.Count() > 0 {
			s.old[l] = time.Now()
		}
	}
}

func (s *slot) forget(l *link) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.old, l)
}

// status returns the slot's connection and any it is still draining.
func (s *slot) status() []ConnStatus {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := ConnStatus{Edge: s.edge, Index: s.index, State: s.state, Since: s.since, FleetMember: s.member != ""}
	if s.lastErr != nil {
		st.LastError = s.lastErr.Error()
	}
	if !s.retryAt.IsZero() {
		t := s.retryAt
		st.RetryAt = &t
	}
	if l := s.cur; l != nil {
		w := l.conn.Welcome()
		st.EdgeID, st.ConnID = w.EdgeID, w.ConnID
		st.Transport = l.conn.Transport()
		st.ActiveStreams = l.streams.Count()
		st.Healthy = s.state == StateConnected && !l.draining.Load() && l.conn.Alive()
	}
	out := []ConnStatus{st}
	for l, since := range s.old {
		w := l.conn.Welcome()
		out = append(out, ConnStatus{
			Edge: s.edge, Index: s.index, State: StateDraining, Since: since, EdgeID: w.EdgeID, ConnID: w.ConnID, FleetMember: s.member != "",
			ActiveStreams: l.streams.Count(), LastError: errEdgeDrained.Error(),
		})
	}
	return out
}
