package edgeclient

import (
	"context"
	"errors"
	"fmt"
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
	DefaultRetryQUICAfter = 5 * time.Minute
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

// retryEvery calls try, which must end with p.probed, each time key's
// QUIC retry is due, on its own timer (so a link nobody uses also goes
// back to QUIC), until ctx ends or key is no longer on TCP.
func (p *picker) retryEvery(ctx context.Context, key string, try func()) {
	for {
		wait, ok := p.untilDue(key)
		if !ok || p.sleep(ctx, wait) != nil {
			return
		}
		if p.probe(key) {
			try()
		}
	}
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
			c.why = p.reason(key)
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
	tc.why = p.reason(key)
	tc.log.Info("UDP to the edge got no answer; using TLS on TCP", "after", p.after, "retry_quic_in", p.retry)
	return tc, nil
}

// DialAuto is Dial with the automatic choice of transport of a [Client],
// for a caller that keeps its own connections (the connector): QUIC, and
// TLS on TCP when UDP gets no answer within cfg.FallbackAfter, remembered
// in memo for the network; once the network's RetryQUICAfter has passed,
// the next dial tries QUIC first again (a connection already up stays
// on TCP: unlike Client, nothing moves it). memo is shared by the
// caller's dials; make one with NewTransportMemo.
func DialAuto(ctx context.Context, cfg Config, memo *TransportMemo) (*Conn, error) {
	return dialAuto(ctx, cfg, memo.p, networkKey(cfg.Addr))
}

// TransportMemo remembers, per network, which transport reaches an edge.
type TransportMemo struct{ p *picker }

// NewTransportMemo returns a memo with cfg's FallbackAfter and
// RetryQUICAfter; a network on TCP is tried on QUIC again by the next dial
// after RetryQUICAfter.
func NewTransportMemo(cfg Config) *TransportMemo {
	return &TransportMemo{p: newPicker(cfg.FallbackAfter, cfg.RetryQUICAfter, nil)}
}

// TransportReason says why the connection uses its transport: "" for
// QUIC chosen automatically.
func (c *Conn) TransportReason() string { return c.why }

// retire closes conn, which a better one replaced, once it carries no
// stream of ours (its control stream aside), so that no open stream is cut.
func retire(conn *Conn, reason string) {
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
// trying QUIC again in 5m"), or ("", "") without a connection.
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
		c.probeLocked()
	}
	return name, reason
}

// probeLocked tries QUIC again in the background when the connection is on
// TCP and its network's retry is due. c.mu is held.
func (c *Client) probeLocked() {
	if c.conn == nil || c.conn.Transport() != transport.NameTCP || c.cfg.Transport == TransportTCP || !c.pick.probe(c.key) {
		return
	}
	old, key := c.conn, c.key
	go c.probeQUIC(old, key)
}

// retryQUIC tries QUIC again each time the retry of conn's network is
// due, while conn (on TCP) lives: the retry does not wait for a stream or
// a status query. It ends with conn, which a QUIC connection that
// answers replaces.
func (c *Client) retryQUIC(conn *Conn, key string) {
	c.pick.retryEvery(conn.Context(), key, func() { c.probeQUIC(conn, key) })
}

// probeQUIC dials QUIC beside old, a TCP connection; when UDP answers,
// new streams go to the QUIC connection and old is closed once its last
// stream has ended.
func (c *Client) probeQUIC(old *Conn, key string) {
	cfg := c.cfg
	cfg.Transport = TransportQUIC
	ctx, cancel := context.WithTimeout(old.Context(), c.pick.after)
	conn, err := Dial(ctx, cfg)
	cancel()
	c.pick.probed(key, err == nil)
	if err != nil {
		old.log.Info("UDP to the edge still gets no answer; staying on TCP", "retry_quic_in", c.pick.retry, "err", err)
		return
	}
	c.mu.Lock()
	if c.conn != old {
		c.mu.Unlock()
		conn.Close(wire.CodeOK, "not needed")
		return
	}
	c.conn, c.since = conn, time.Now()
	c.mu.Unlock()
	conn.log.Info("UDP to the edge answers again; new streams go over QUIC")
	retire(old, "moved to QUIC")
}
