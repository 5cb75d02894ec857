package edgeclient

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"time"

	"github.com/quic-go/quic-go"

	"github.com/airlockhq/airlock/internal/transport"
	"github.com/airlockhq/airlock/internal/wire"
)

// Transports of Config.Transport.
const (
	TransportAuto = "auto" // the default (also ""): QUIC, else TLS on TCP
	TransportQUIC = "quic"
	TransportTCP  = "tcp"
)

// Defaults of the automatic choice of transport, like cloudflared's
// `--protocol auto`: QUIC first; when UDP to the edge gets no answer
// within DefaultFallbackAfter, TLS on TCP, remembered for the network (the
// local address that routes to the edge) for DefaultRetryQUICAfter, after
// which QUIC is tried again in the background while TCP carries on.
const (
	DefaultFallbackAfter  = 1500 * time.Millisecond
	DefaultRetryQUICAfter = 30 * time.Second
)

// maxNetworks bounds the networks a picker remembers.
const maxNetworks = 16

// retireEvery is how often a connection left for a better one checks
// whether its last stream has ended.
const retireEvery = time.Second

// picker remembers, per network, that QUIC got no answer there and TCP
// did. The zero value is not usable; use newPicker.
type picker struct {
	after, retry time.Duration
	now          func() time.Time
	// sleep waits d or until ctx ends (its error then): the clock's
	// timer, injected by tests with now.
	sleep func(ctx context.Context, d time.Duration) error

	mu   sync.Mutex
	nets map[string]*netChoice
}

// netChoice is one network's: on TCP since, QUIC to be tried at retryAt.
type netChoice struct {
	since, retryAt time.Time
	probing        bool
}

func newPicker(after, retry time.Duration, now func() time.Time) *picker {
	if after <= 0 {
		after = DefaultFallbackAfter
	}
	if retry <= 0 {
		retry = DefaultRetryQUICAfter
	}
	if now == nil {
		now = time.Now
	}
	return &picker{after: after, retry: retry, now: now, sleep: sleepCtx, nets: map[string]*netChoice{}}
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return context.Cause(ctx)
	}
}

// untilDue is how long until key's QUIC retry is due (a try under way
// counts as due in p.after, the most it takes), and false when key is
// not on TCP.
func (p *picker) untilDue(key string) (time.Duration, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	n := p.nets[key]
	switch {
	case n == nil:
		return 0, false
	case n.probing:
		return p.after, true
	}
	return max(0, n.retryAt.Sub(p.now())), true
}

// retryEvery calls try each time key's QUIC retry is due, on p's own
// timer (so a link nobody uses also goes back to QUIC), one try at a
// time per network (probe, then probed with try's answer). It returns
// true once a try answers or key is no longer on TCP (another link's try
// answered there), false once ctx ends.
func (p *picker) retryEvery(ctx context.Context, key string, try func() bool) bool {
	for {
		wait, ok := p.untilDue(key)
		if !ok {
			return true
		}
		if p.sleep(ctx, wait) != nil {
			return false
		}
		if p.probe(key) {
			ok := try()
			p.probed(key, ok)
			if ok {
				return true
			}
		}
	}
}

// untilQUIC is the one home of the move back to QUIC, for the daemon's
// Client and the connector alike: while old, a connection on TCP, lives
// and ctx lasts, each time the QUIC retry of old's network is due, dial
// (which dials QUIC) is tried beside old within p.after. It returns the
// first QUIC connection that answers, or nil once ctx or old has ended.
// The caller moves new streams to it and retires old (retire), so that
// nothing open is cut.
func (p *picker) untilQUIC(ctx context.Context, old *Conn, dial func(context.Context) (*Conn, error)) *Conn {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	defer context.AfterFunc(old.Context(), cancel)()
	var conn *Conn
	level := slog.LevelInfo // the first failed retry of this connection; later ones at Debug (one every retry otherwise)
	try := func() bool {
		dctx, dcancel := context.WithTimeout(ctx, p.after)
		defer dcancel()
		c, err := dial(dctx)
		if err != nil {
			if ctx.Err() == nil {
				old.log.Log(ctx, level, "UDP to the edge still gets no answer; staying on TCP", "retry_quic_in", p.retry, "err", err)
				level = slog.LevelDebug
			}
			return false
		}
		conn = c
		return true
	}
	if p.retryEvery(ctx, old.key, try) && conn == nil && ctx.Err() == nil {
		try() // QUIC answered on this network for another link: move this one too
	}
	return conn
}

// onTCP reports whether network key is remembered as needing TCP.
func (p *picker) onTCP(key string) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.nets[key] != nil
}

// fellBack remembers that QUIC got no answer on key and TCP did.
func (p *picker) fellBack(key string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	now := p.now()
	if p.nets[key] == nil && len(p.nets) >= maxNetworks {
		for k := range p.nets { // forget one: the next dial there tries QUIC first
			delete(p.nets, k)
			break
		}
	}
	p.nets[key] = &netChoice{since: now, retryAt: now.Add(p.retry)}
}

// quicWorks forgets key's TCP: QUIC answered there.
func (p *picker) quicWorks(key string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	delete(p.nets, key)
}

// due reports whether key is on TCP and its QUIC retry is due (a dial then
// tries QUIC first again).
func (p *picker) due(key string) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	n := p.nets[key]
	return n != nil && !n.probing && !p.now().Before(n.retryAt)
}

// probe reports whether QUIC is due to be tried again on key, and marks
// the try begun (until probed).
func (p *picker) probe(key string) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	n := p.nets[key]
	if n == nil || n.probing || p.now().Before(n.retryAt) {
		return false
	}
	n.probing = true
	return true
}

// probed ends a try begun by probe: QUIC answered (forget TCP) or not (try
// again after retry).
func (p *picker) probed(key string, ok bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if ok {
		delete(p.nets, key)
		return
	}
	if n := p.nets[key]; n != nil {
		n.probing = false
		n.retryAt = p.now().Add(p.retry)
	}
}

// reason says why a connection on key uses TCP, as status shows it.
func (p *picker) reason(key string) string {
	p.mu.Lock()
	defer p.mu.Unlock()
	n := p.nets[key]
	if n == nil {
		return fmt.Sprintf("UDP to the edge got no answer within %s when this connection was dialled", secondsText(p.after))
	}
	next := "trying QUIC again now"
	if d := n.retryAt.Sub(p.now()); d > 0 && !n.probing {
		next = "trying QUIC again in " + roundWait(d)
	}
	return fmt.Sprintf("UDP to the edge got no answer within %s; %s", secondsText(p.after), next)
}

// roundWait says d as status does: "5m", "40s", "1s".
func roundWait(d time.Duration) string {
	if d >= time.Minute {
		return fmt.Sprintf("%dm", int((d+30*time.Second)/time.Minute))
	}
	return fmt.Sprintf("%ds", max(1, int((d+time.Second/2)/time.Second)))
}

func secondsText(d time.Duration) string {
	return fmt.Sprintf("%g s", d.Seconds())
}

// noAnswer reports whether a QUIC dial failed for want of an answer over
// UDP (its deadline, a handshake or idle timeout) rather than an answer
// (a refusal, a TLS failure): only then is TCP worth trying.
func noAnswer(err error, dialCtx, callerCtx context.Context) bool {
	if callerCtx.Err() != nil {
		return false
	}
	var hs *quic.HandshakeTimeoutError
	var idle *quic.IdleTimeoutError
	return errors.Is(dialCtx.Err(), context.DeadlineExceeded) || errors.As(err, &hs) || errors.As(err, &idle)
}

// networkKey names the network toward addr: the local address the kernel
// routes it from now ("" when there is none, or addr does not resolve
// without a lookup).
func networkKey(addr string) string {
	raddr, err := net.ResolveUDPAddr("udp", addr)
	if err != nil || raddr.IP == nil {
		return ""
	}
	src, err := routeSource(raddr)
	if err != nil {
		return ""
	}
	return src.IP.String()
}

// dialAuto dials cfg's edge with the transport cfg and p choose: TCP on a
// network p remembers as needing it (QUIC if TCP fails there), else QUIC
// within p.after and, when UDP got no answer, TCP. It returns the
// connection and the network's key.
func dialAuto(ctx context.Context, cfg Config, p *picker, key string) (*Conn, error) {
	switch cfg.Transport {
	case TransportQUIC, TransportTCP:
		return Dial(ctx, cfg)
	}
	tcpCfg, quicCfg := cfg, cfg
	tcpCfg.Transport, quicCfg.Transport = TransportTCP, TransportQUIC
	if p.onTCP(key) && !p.due(key) {
		c, err := Dial(ctx, tcpCfg)
		if err == nil {
			c.key, c.why = key, p.reason(key)
			return c, nil
		}
		if ctx.Err() != nil {
			return nil, err
		}
	}
	qctx, cancel := context.WithTimeout(ctx, p.after)
	c, err := Dial(qctx, quicCfg)
	fallback := err != nil && noAnswer(err, qctx, ctx)
	cancel()
	if err == nil {
		p.quicWorks(key)
		c.key = key
		return c, nil
	}
	if !fallback {
		return nil, err
	}
	tc, terr := Dial(ctx, tcpCfg)
	if terr != nil {
		return nil, fmt.Errorf("%w (and over TCP: %w)", err, terr)
	}
	p.fellBack(key)
	tc.key, tc.why = key, p.reason(key)
	tc.log.Info("UDP to the edge got no answer; using TLS on TCP", "after", p.after, "retry_quic_in", p.retry)
	return tc, nil
}

// DialAuto is Dial with the automatic choice of transport of a [Client],
// for a caller that keeps its own connections (the connector): QUIC, and
// TLS on TCP when UDP gets no answer within cfg.FallbackAfter, remembered
// in memo for the network. A connection on TCP is moved back to QUIC by
// [TransportMemo.UntilQUIC] when its network's retry is due. memo is
// shared by the caller's dials; make one with NewTransportMemo.
func DialAuto(ctx context.Context, cfg Config, memo *TransportMemo) (*Conn, error) {
	return dialAuto(ctx, cfg, memo.p, networkKey(cfg.Addr))
}

// TransportMemo remembers, per network, which transport reaches an edge.
type TransportMemo struct{ p *picker }

// NewTransportMemo returns a memo with cfg's FallbackAfter and
// RetryQUICAfter: a network on TCP is tried on QUIC again after
// RetryQUICAfter, by UntilQUIC and by the next dial.
func NewTransportMemo(cfg Config) *TransportMemo {
	return &TransportMemo{p: newPicker(cfg.FallbackAfter, cfg.RetryQUICAfter, nil)}
}

// UntilQUIC waits while old, a connection DialAuto made on TCP, lives and
// ctx lasts; each time the QUIC retry of old's network is due (on the
// memo's timer, whether or not old carries streams), it dials QUIC beside
// old with dial (within FallbackAfter; dial must dial QUIC, e.g. Dial with
// Transport: TransportQUIC). It returns the first QUIC connection that
// answers, or nil once ctx or old has ended (or old is not on TCP). The
// caller moves new streams to it and drains old, closing it after its last
// stream. The daemon's Client does the same.
func (m *TransportMemo) UntilQUIC(ctx context.Context, old *Conn, dial func(context.Context) (*Conn, error)) *Conn {
	if old.Transport() != transport.NameTCP {
		return nil
	}
	return m.p.untilQUIC(ctx, old, dial)
}

// TransportReason says why the connection uses its transport: "" for
// QUIC chosen automatically.
func (c *Conn) TransportReason() string { return c.why }

// retire closes conn, which a better one replaced, once it carries no
// stream of ours (its control stream aside), so that no open stream is
// cut; at once when ctx ends (the Client closed).
func retire(ctx context.Context, conn *Conn, reason string) {
	if err := conn.Drain(reason); err != nil {
		conn.log.Debug("drain not sent", "err", err)
	}
	t := time.NewTicker(retireEvery)
	defer t.Stop()
	for {
		if conn.tc.Stats().Streams <= 1 {
			conn.log.Info("closing the connection it replaced", "reason", reason)
			conn.Close(wire.CodeOK, reason)
			return
		}
		select {
		case <-conn.Context().Done():
			return
		case <-ctx.Done():
			conn.Close(wire.CodeGoingAway, "client closed")
			return
		case <-t.C:
		}
	}
}

// watchTCP samples the TCP connection's activity (for Quiet) and closes it
// when the local address that routes to the edge changes: a TCP
// connection cannot migrate, and the next stream dials on the new network
// at once (QUIC first).
func (c *Conn) watchTCP() {
	ctx := c.tc.Context()
	tick := time.NewTicker(watchTick)
	defer tick.Stop()
	local, _ := c.tc.LocalAddr().(*net.TCPAddr)
	remote, _ := c.tc.RemoteAddr().(*net.TCPAddr)
	var lastRoute time.Time
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-tick.C:
			c.heard.sample(now)
			if local == nil || remote == nil || now.Sub(lastRoute) < routeRecheck {
				continue
			}
			lastRoute = now
			src, err := routeSource(&net.UDPAddr{IP: remote.IP, Port: remote.Port})
			if err == nil && !src.IP.Equal(local.IP) {
				c.log.Info("the network changed; closing the TCP connection so that the next stream dials on the new one", "from", local.IP.String(), "to", src.IP.String())
				c.Close(wire.CodeGoingAway, "network changed")
				return
			}
		}
	}
}

// Transport names the transport of the client's connection and why it is
// used: ("QUIC", ""), ("TCP", "UDP to the edge got no answer within 1.5 s;
// trying QUIC again in 30s"), or ("", "") without a connection.
func (c *Client) Transport() (name, reason string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.conn == nil || c.conn.Context().Err() != nil {
		return "", ""
	}
	name = c.conn.Transport()
	if name == transport.NameTCP {
		if c.cfg.Transport == TransportTCP {
			return name, "transport: tcp in the configuration"
		}
		reason = c.pick.reason(c.key)
	}
	return name, reason
}

// retryQUIC moves the client from old, a connection on TCP, back to QUIC
// when its network's retry is due (untilQUIC): new streams go to the QUIC
// connection, and old is closed once its last stream has ended. It runs
// in c's retries, which Close ends and waits for.
func (c *Client) retryQUIC(ctx context.Context, old *Conn) {
	conn := c.pick.untilQUIC(ctx, old, func(ctx context.Context) (*Conn, error) {
		cfg := c.cfg
		cfg.Transport = TransportQUIC
		return Dial(ctx, cfg)
	})
	if conn == nil {
		return
	}
	c.mu.Lock()
	if c.conn != old || ctx.Err() != nil {
		c.mu.Unlock()
		conn.Close(wire.CodeOK, "not needed")
		return
	}
	c.conn, c.since = conn, time.Now()
	c.mu.Unlock()
	conn.log.Info("UDP to the edge answers again; new streams go over QUIC")
	retire(ctx, old, "moved to QUIC")
}

// group owns goroutines: each runs under its context until stop cancels
// it, and stop waits for them all.
type group struct {
	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup
}

func newGroup() *group {
	g := &group{}
	g.ctx, g.cancel = context.WithCancel(context.Background())
	return g
}

func (g *group) stop() {
	g.cancel()
	g.wg.Wait()
}
