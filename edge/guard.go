package edge

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/quic-go/quic-go"
	"golang.org/x/time/rate"

	"github.com/airlockhq/airlock/internal/token"
	"github.com/airlockhq/airlock/internal/transport"
	"github.com/airlockhq/airlock/internal/wire"
)

// drainedIdle is how long a client connection the edge asked to drain (so
// that the daemon dials one with the full stream limit) may stay without a
// stream before the edge closes it.
const drainedIdle = 10 * time.Second

// logSweepEvery is how often, at most, a full table of refusal log lines
// is swept for sources whose line is due again.
const logSweepEvery = time.Second

// Bounds, as metric labels and in log lines.
const (
	boundHandshakes           = "handshakes"
	boundConns                = "conns"
	boundConnsPerSource       = "conns_per_source"
	boundUnauthConns          = "unauthenticated_conns"
	boundUnauthConnsPerSource = "unauthenticated_conns_per_source"
	boundPendingStreams       = "pending_streams"
	boundPendingPerConn       = "pending_streams_per_conn"
	boundUnauthRefusals       = "unauthenticated_refusals"
	boundUnauthTimeout        = "unauthenticated_timeout"
	boundFirstFrame           = "first_frame_timeout"
)

// errRefused refuses a connection attempt at its first packet.
var errRefused = errors.New("edge: connection refused by a limit")

// guard is the edge's admission control: it counts what peers that have
// not authenticated hold (handshakes, connections, streams waiting for
// their first frame), per connection, per source and in all, and refuses
// what is over a [Limits] bound. It hooks into the QUIC transport
// (VerifySourceAddress, GetConfigForClient, ConnContext) so that a refusal
// costs no connection state.
type guard struct {
	lim           Limits
	log           *slog.Logger
	m             *metrics
	full, low     *quic.Config // for trusted and for untrusted sources
	handshakeRate *rate.Limiter
	logRate       *rate.Limiter // refusal lines in all, whatever the sources
	pending       atomic.Int64  // streams waiting for their Open frame

	mu         sync.Mutex
	admitted   map[*quic.ClientInfo]*connState // from GetConfigForClient to ConnContext
	sources    map[netip.Addr]*sourceCount
	trusted    map[netip.Addr]time.Time // source → trusted until
	logs       map[netip.Addr]*refusalLog
	logsSwept  time.Time // when logs was last swept for lapsed sources
	handshakes int
	conns      int
	unauth     int // unauthenticated connections of untrusted sources
}

type sourceCount struct{ conns, unauth int }

type refusalLog struct {
	last    time.Time
	refused int // since last
}

// connState is one connection's admission state, from its first packet
// to its close. It rides in the connection's context.
type connState struct {
	g         *guard
	src       netip.Addr
	fullLimit bool // the connection got the full stream limit
	conn      transport.Conn

	mu          sync.Mutex
	handshaking bool
	unauth      bool // counted as unauthenticated in its source
	unauthTotal bool // and in the untrusted total
	closed      bool
	timer       *time.Timer // the unauthenticated timeout, or the drained idle close

	authenticated atomic.Bool
	drained       atomic.Bool  // sent Drain so the daemon dials a full-limit connection
	pending       atomic.Int64 // streams waiting for their Open frame
	pendingTotal  atomic.Int64 // of which counted in the edge-wide cap
	streams       atomic.Int64 // client streams being served
	refusals      atomic.Int64
}

type connStateKey struct{}

func newGuard(lim Limits, base *quic.Config, log *slog.Logger, m *metrics) *guard {
	lim.setDefaults() // a Config made by hand may have none
	g := &guard{
		lim: lim, log: log, m: m,
		handshakeRate: rate.NewLimiter(rate.Limit(lim.HandshakeRate), lim.HandshakeRate),
		logRate:       rate.NewLimiter(10, 50),
		admitted:      map[*quic.ClientInfo]*connState{},
		sources:       map[netip.Addr]*sourceCount{},
		trusted:       map[netip.Addr]time.Time{},
		logs:          map[netip.Addr]*refusalLog{},
	}
	g.full = base.Clone()
	g.full.GetConfigForClient = nil
	g.full.AllowConnectionWindowIncrease = allowWindowIncrease
	g.low = g.full.Clone()
	g.low.MaxIncomingStreams = int64(lim.UnauthenticatedStreams) + 1 // and the control stream
	w := uint64(lim.UnauthenticatedWindow)
	g.low.InitialStreamReceiveWindow = min(w, g.low.InitialStreamReceiveWindow)
	g.low.InitialConnectionReceiveWindow = min(w, g.low.InitialConnectionReceiveWindow)
	return g
}

// quicConfig is the listener's configuration: base, with the guard choosing
// each connection's.
func (g *guard) quicConfig() *quic.Config {
	c := g.full.Clone()
	c.GetConfigForClient = g.admit
	return c
}

// allowWindowIncrease lets a connection's receive window grow only once it
// has authenticated: until then a peer can make the edge buffer no more
// than the initial window.
func allowWindowIncrease(conn *quic.Conn, _ uint64) bool {
	st := stateOf(conn)
	return st == nil || st.authenticated.Load()
}

// sourceOf is the source a limit counts by: the IPv4 address, or the IPv6
// /64 (one host's share of a network).
func sourceOf(a net.Addr) netip.Addr {
	var ip netip.Addr
	switch a := a.(type) {
	case *net.UDPAddr:
		ip = a.AddrPort().Addr().Unmap()
	default:
		if ap, err := netip.ParseAddrPort(a.String()); err == nil {
			ip = ap.Addr().Unmap()
		}
	}
	if ip.Is6() {
		if p, err := ip.Prefix(64); err == nil {
			return p.Addr()
		}
	}
	return ip
}

// verifySourceAddress is quic.Transport.VerifySourceAddress: under load (many
// handshakes in progress, or new connections coming faster than the
// handshake rate) a new connection must first prove it can receive at its
// address (a QUIC Retry), which spoofed floods cannot. A connection that
// admit will refuse anyway gets no Retry: its CONNECTION_REFUSED then comes
// at its first packet, not after a Retry round trip that costs the edge a
// token to seal and open and a second Initial to read (under a flood of
// refused dials, a fifth of the edge's CPU). Refusing costs no state either
// way, and the refusal is smaller than the packet that drew it.
func (g *guard) verifySourceAddress(a net.Addr) bool {
	src := sourceOf(a)
	g.mu.Lock()
	doomed := g.overLocked(src, g.trustedLocked(src, time.Now())) != ""
	busy := g.handshakes >= g.lim.RetryAbove
	g.mu.Unlock()
	if doomed {
		return false
	}
	if busy || !g.handshakeRate.Allow() {
		g.m.addressValidations.Inc()
		return true
	}
	return false
}

// overLocked returns the bound a new connection from src is over, or "".
func (g *guard) overLocked(src netip.Addr, trusted bool) string {
	var sc sourceCount
	if c := g.sources[src]; c != nil {
		sc = *c
	}
	switch {
	case g.handshakes >= g.lim.Handshakes:
		return boundHandshakes
	case g.conns >= g.lim.Conns:
		return boundConns
	case sc.conns >= g.lim.ConnsPerSource:
		return boundConnsPerSource
	case sc.unauth >= g.lim.UnauthenticatedConnsPerSource:
		return boundUnauthConnsPerSource
	case !trusted && g.unauth >= g.lim.UnauthenticatedConns:
		return boundUnauthConns
	}
	return ""
}

// admit is quic.Config.GetConfigForClient: it counts a new connection, or
// refuses it (quic-go answers CONNECTION_REFUSED, statelessly) when a bound
// is reached, and gives untrusted sources the low stream limit.
func (g *guard) admit(info *quic.ClientInfo) (*quic.Config, error) {
	st, err := g.count(sourceOf(info.RemoteAddr))
	if err != nil {
		return nil, err
	}
	g.mu.Lock()
	g.admitted[info] = st
	g.mu.Unlock()
	if st.fullLimit {
		return g.full, nil
	}
	return g.low, nil
}

// count counts a new connection from src, QUIC or TCP, as handshaking and
// unauthenticated, or refuses it when a bound is reached. Its counts are
// given back by the connState's release.
func (g *guard) count(src netip.Addr) (*connState, error) {
	now := time.Now()
	g.mu.Lock()
	trusted := g.trustedLocked(src, now)
	if bound := g.overLocked(src, trusted); bound != "" {
		g.mu.Unlock()
		g.refused(src, bound)
		return nil, fmt.Errorf("%w: %s", errRefused, bound)
	}
	sc := g.sources[src]
	if sc == nil {
		sc = &sourceCount{}
	}
	st := &connState{g: g, src: src, fullLimit: trusted, handshaking: true, unauth: true, unauthTotal: !trusted}
	g.sources[src] = sc
	sc.conns++
	sc.unauth++
	g.conns++
	g.handshakes++
	if !trusted {
		g.unauth++
	}
	g.gaugesLocked()
	g.mu.Unlock()
	return st, nil
}

// connContext is quic.Transport.ConnContext: it puts the admission state of
// the connection admit counted into its context and releases the counts
// when the connection ends, however it ends.
func (g *guard) connContext(ctx context.Context, info *quic.ClientInfo) (context.Context, error) {
	g.mu.Lock()
	st := g.admitted[info]
	delete(g.admitted, info)
	g.mu.Unlock()
	if st == nil {
		return ctx, errors.New("edge: connection not admitted")
	}
	context.AfterFunc(ctx, st.release)
	return context.WithValue(ctx, connStateKey{}, st), nil
}

func stateOf(conn interface{ Context() context.Context }) *connState {
	st, _ := conn.Context().Value(connStateKey{}).(*connState)
	return st
}

func (g *guard) trustedLocked(src netip.Addr, now time.Time) bool {
	until, ok := g.trusted[src]
	if ok && now.After(until) {
		delete(g.trusted, src)
		return false
	}
	return ok
}

// trust marks src trusted for TrustedSourceTTL, forgetting expired sources
// (or, when all are live, any one) to stay within TrustedSources.
func (g *guard) trust(src netip.Addr) {
	now := time.Now()
	g.mu.Lock()
	defer g.mu.Unlock()
	if _, ok := g.trusted[src]; !ok && len(g.trusted) >= g.lim.TrustedSources {
		for s, until := range g.trusted {
			if now.After(until) {
				delete(g.trusted, s)
			}
		}
		for s := range g.trusted {
			if len(g.trusted) < g.lim.TrustedSources {
				break
			}
			delete(g.trusted, s)
		}
	}
	g.trusted[src] = now.Add(time.Duration(g.lim.TrustedSourceTTL))
	g.m.trustedSources.Set(float64(len(g.trusted)))
}

func (g *guard) gaugesLocked() {
	g.m.handshakes.Set(float64(g.handshakes))
	g.m.unauthConns.Set(float64(g.unauth))
}

// refused counts a refusal and logs it, at most once per source every
// RefusalLogEvery (and a few lines a second in all), with the number
// refused since the source's last line.
func (g *guard) refused(src netip.Addr, bound string) {
	g.m.refused.WithLabelValues(bound).Inc()
	now := time.Now()
	g.mu.Lock()
	l := g.logs[src]
	if l == nil {
		// Full, the table is swept at most once per logSweepEvery: a
		// flood from ever new (spoofed) sources must not make every
		// refusal walk it under the lock.
		if len(g.logs) >= g.lim.TrustedSources && now.Sub(g.logsSwept) >= logSweepEvery {
			g.logsSwept = now
			for s, o := range g.logs {
				if now.Sub(o.last) >= time.Duration(g.lim.RefusalLogEvery) {
					delete(g.logs, s)
				}
			}
		}
		if len(g.logs) >= g.lim.TrustedSources {
			g.mu.Unlock()
			return // too many sources to track: the metric still counts
		}
		l = &refusalLog{}
		g.logs[src] = l
	}
	l.refused++
	due := l.last.IsZero() || now.Sub(l.last) >= time.Duration(g.lim.RefusalLogEvery)
	n := l.refused
	if due && g.logRate.Allow() {
		l.last, l.refused = now, 0
	} else {
		due = false
	}
	g.mu.Unlock()
	if due {
		g.log.Warn("refused by a limit", "source", src.String(), "bound", bound, "refused_since_last_line", n)
	}
}

// handshakeDone moves an accepted connection out of the handshakes count.
func (st *connState) handshakeDone(conn transport.Conn) {
	st.mu.Lock()
	st.conn = conn
	was := st.handshaking
	st.handshaking = false
	st.mu.Unlock()
	if was {
		st.g.mu.Lock()
		st.g.handshakes--
		st.g.gaugesLocked()
		st.g.mu.Unlock()
	}
}

// authenticate marks the connection authenticated (a valid token on a
// stream, or a connector's secret): it leaves the unauthenticated counts
// and its source becomes trusted. It reports whether this was the first
// time.
func (st *connState) authenticate() bool {
	if st.authenticated.Swap(true) {
		return false
	}
	st.g.trust(st.src)
	// The guard's lock is taken first and held while the connection's
	// flags move, so that release (which may run at the same time, the
	// connection closing) cannot give the source back in between: it
	// deletes a source whose last connection ended.
	st.g.mu.Lock()
	defer st.g.mu.Unlock()
	st.mu.Lock()
	was, total := st.unauth, st.unauthTotal
	st.unauth, st.unauthTotal = false, false
	if st.timer != nil {
		st.timer.Stop()
		st.timer = nil
	}
	if st.conn != nil {
		transport.Unlimit(st.conn) // a TCP connection's read budget (allowWindowIncrease on QUIC)
	}
	st.mu.Unlock()
	if sc := st.g.sources[st.src]; was && sc != nil {
		sc.unauth--
	}
	if total {
		st.g.unauth--
	}
	st.g.gaugesLocked()
	return true
}

// release gives back every count the connection still holds; it runs once
// the connection's context ends.
func (st *connState) release() {
	st.mu.Lock()
	if st.closed {
		st.mu.Unlock()
		return
	}
	st.closed = true
	hs, un, total := st.handshaking, st.unauth, st.unauthTotal
	st.handshaking, st.unauth, st.unauthTotal = false, false, false
	if st.timer != nil {
		st.timer.Stop()
	}
	st.mu.Unlock()
	g := st.g
	g.mu.Lock()
	defer g.mu.Unlock()
	if hs {
		g.handshakes--
	}
	if total {
		g.unauth--
	}
	g.conns--
	if sc := g.sources[st.src]; sc != nil {
		sc.conns--
		if un {
			sc.unauth--
		}
		if sc.conns <= 0 {
			delete(g.sources, st.src)
		}
	}
	g.gaugesLocked()
}

// closeWith closes the connection with code, counting the bound.
func (st *connState) closeWith(code wire.Code, bound, msg string) {
	st.g.refused(st.src, bound)
	st.conn.CloseWithError(code, msg) //nolint:errcheck
}

// armUnauthenticated closes a client connection from an untrusted source
// that has not authenticated within UnauthenticatedTimeout.
func (st *connState) armUnauthenticated() {
	d := time.Duration(st.g.lim.UnauthenticatedTimeout)
	st.mu.Lock()
	defer st.mu.Unlock()
	if st.closed || !st.unauth {
		return
	}
	st.timer = time.AfterFunc(d, func() {
		if !st.authenticated.Load() {
			st.closeWith(wire.CodeUnauthenticated, boundUnauthTimeout, fmt.Sprintf("no valid token within %s", d))
		}
	})
}

// admitStream counts a new client stream as waiting for its Open frame,
// or reports the bound it is over. The edge-wide cap counts the streams of
// connections that got the full stream limit (their source is trusted)
// and have not authenticated: those of untrusted sources are bounded by
// their low stream limit, so that their flood cannot fill the cap and
// refuse a trusted source's new connection, and an authenticated
// daemon's streams are never held up by it.
func (st *connState) admitStream() (string, bool) {
	if st.pending.Add(1) > int64(st.g.lim.PendingStreamsPerConn) {
		st.pending.Add(-1)
		return boundPendingPerConn, false
	}
	if st.fullLimit && !st.authenticated.Load() {
		if st.g.pending.Add(1) > int64(st.g.lim.PendingStreams) {
			st.g.pending.Add(-1)
			st.pending.Add(-1)
			return boundPendingStreams, false
		}
		st.pendingTotal.Add(1)
	}
	st.g.m.pendingStreams.Inc()
	st.streams.Add(1)
	return "", true
}

// opened ends a stream's wait for its Open frame.
func (st *connState) opened() {
	st.pending.Add(-1)
	if st.pendingTotal.Add(-1) >= 0 {
		st.g.pending.Add(-1)
	} else {
		st.pendingTotal.Add(1)
	}
	st.g.m.pendingStreams.Dec()
}

// streamDone ends a stream admitted by admitStream. On a drained
// connection the last one starts the idle close.
func (st *connState) streamDone() {
	if st.streams.Add(-1) == 0 && st.drained.Load() {
		st.idleClose()
	}
}

// refusedStream counts a stream refused on a client connection that has
// not authenticated, and closes the connection when it has had
// UnauthenticatedRefusals of them.
func (st *connState) refusedStream() {
	if st.authenticated.Load() {
		return
	}
	if st.refusals.Add(1) == int64(st.g.lim.UnauthenticatedRefusals) {
		st.closeWith(wire.CodeUnauthenticated, boundUnauthRefusals,
			fmt.Sprintf("%d streams refused without a valid token", st.g.lim.UnauthenticatedRefusals))
	}
}

// idleClose closes a drained client connection once it has had no stream
// for drainedIdle.
func (st *connState) idleClose() {
	st.mu.Lock()
	defer st.mu.Unlock()
	if st.closed {
		return
	}
	if st.timer != nil {
		st.timer.Stop()
	}
	st.timer = time.AfterFunc(drainedIdle, func() {
		if st.streams.Load() == 0 {
			// CodeOK, not CodeGoingAway: the edge is not leaving, and a
			// fleet client that sees going-away gives the edge up.
			st.conn.CloseWithError(wire.CodeOK, "drained: use the connection with the full stream limit") //nolint:errcheck
		}
	})
}

// readOpen reads a stream's Open frame within the first-frame timeout,
// holding only as much memory as the peer has sent: a frame header that
// announces 16 KiB and stalls costs 3 bytes, not 16 KiB. The errors are
// wire.ReadFrameOf's.
func readOpen(str transport.Stream, timeout time.Duration) (*wire.Open, error) {
	str.SetReadDeadline(time.Now().Add(timeout)) //nolint:errcheck // never fails
	defer str.SetReadDeadline(time.Time{})       //nolint:errcheck
	hdr := make([]byte, 3)
	if _, err := io.ReadFull(str, hdr); err != nil {
		return nil, err
	}
	if n := int(binary.BigEndian.Uint16(hdr[1:])); n <= wire.MaxFrameSize {
		b, err := io.ReadAll(io.LimitReader(str, int64(n)))
		if err != nil {
			return nil, err
		}
		hdr = append(hdr, b...)
	}
	// Decoded from memory: the decoder names what is wrong (an unknown
	// type, a frame too large, a truncated one).
	return wire.ReadFrameOf[*wire.Open](bytes.NewReader(hdr))
}

// timedOut reports whether err is a missed read deadline.
func timedOut(err error) bool { return errors.Is(err, os.ErrDeadlineExceeded) }

// admitStream counts a new client stream as waiting for its Open frame. A
// stream over a bound is reset with CodeOverloaded at once, costing no
// goroutine, and reported false.
func (s *Server) admitStream(p *peer, str transport.Stream) bool {
	bound, ok := p.adm.admitStream()
	if ok {
		return true
	}
	abort(str, wire.CodeOverloaded)
	s.m.streams.WithLabelValues(wire.CodeOverloaded.Slug()).Inc()
	s.guard.refused(p.adm.src, bound)
	p.adm.refusedStream()
	return false
}

// readOpen reads an admitted stream's Open frame within the first-frame
// timeout. A stream that sent none counts as refused.
func (s *Server) readOpen(p *peer, str transport.Stream) (*wire.Open, error) {
	open, err := readOpen(str, time.Duration(s.guard.lim.FirstFrameTimeout))
	p.adm.opened()
	if err != nil {
		if timedOut(err) {
			s.guard.refused(p.adm.src, boundFirstFrame)
		}
		p.adm.refusedStream()
	}
	return open, err
}

// checked notes a stream's check on its connection: a token that verified
// (claims, even with a refusal) authenticates the connection, and anything
// else counts as refused. A connection that authenticates on the low
// stream limit of an untrusted source is asked to drain, so that the daemon
// dials a new one, which its now trusted source gets with the full limit.
func (s *Server) checked(p *peer, claims *token.Claims) {
	if claims == nil {
		p.adm.refusedStream()
		return
	}
	if !p.adm.authenticate() || p.adm.fullLimit {
		return
	}
	p.adm.drained.Store(true)
	if err := p.send(&wire.Drain{Reason: "authenticated: reconnect for the full stream limit"}); err != nil {
		p.log.Debug("drain not sent", "err", err)
		return
	}
	p.log.Info("client authenticated on the unauthenticated stream limit; asked it to reconnect for the full one")
}
