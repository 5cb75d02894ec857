package edgeclient

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/airlockhq/airlock/internal/backoff"
	"github.com/airlockhq/airlock/internal/relay"
	"github.com/airlockhq/airlock/internal/transport"
	"github.com/airlockhq/airlock/internal/wire"
)

// Bounds and periods of a Fleet.
const (
	// MaxAddrsPerName bounds the addresses one name resolves to that a
	// Fleet dials (IPv4 ones first, then DNS order).
	MaxAddrsPerName = 8
	// maxMembers bounds the addresses a Fleet keeps a Client for: names
	// that resolve to ever new addresses lose the stale ones beyond it.
	maxMembers = 64
	// maxApps bounds the apps a Fleet remembers a carrier and a "no
	// connector" for (the daemon's clusters name them).
	maxApps = 256
	// BadBase and BadMax bound how long an address that failed is tried
	// last: BadBase after one failure, doubling to BadMax, forgotten once
	// it carries a stream again.
	BadBase = time.Second
	BadMax  = time.Minute
)

// FleetConfig says which edges of one fleet to dial.
type FleetConfig struct {
	// Config is what every address shares: ServerName (empty means the
	// host of each configured address, never an address it resolved to),
	// RootCAs, Hello, QUIC, OnControl, Logger, PingInterval. Its Addr is
	// not used.
	Config
	// Addrs are the fleet's UDP addresses, host:port each; a name may
	// resolve to several addresses (resolved again whenever a stream
	// needs a connection that is not up), each one edge.
	Addrs []string
	// Resolve returns host's IP addresses. Nil means the system resolver.
	Resolve func(ctx context.Context, host string) ([]netip.Addr, error)
	// Clock tells the time of the bad-address periods. Nil means the real
	// clock.
	Clock backoff.Clock
}

// Fleet is a daemon's link to an edge fleet: edges that are
// interchangeable (one sign-in server and keys), any of which carries any
// stream. It keeps a [Client] per edge address and opens each stream at one
// of them: first the one that carried the app's last stream, then the one
// that carried any last, then the others in their configured order;
// addresses that failed lately come last. A stream goes to another address
// when one cannot be dialled, loses its connection, goes quiet while the
// stream waits for its answer, is going away, or refuses the stream with
// "no connector" (once per stream: that edge has no connector for the app
// now, another may). A stream refused for what it is (unauthenticated,
// forbidden, unknown app, ...) is not tried elsewhere: every edge of the
// fleet would say the same. No stream is retried once Open has returned
// it, so none is retried after bytes were relayed.
type Fleet struct {
	cfg     FleetConfig
	log     *slog.Logger
	resolve func(ctx context.Context, host string) ([]netip.Addr, error)
	clock   backoff.Clock

	mu        sync.Mutex
	members   map[string]*member   // by dialled address, ip:port
	order     []*member            // the last resolution's, in preference order
	byName    map[string][]*member // each configured address's last resolution that worked
	carrier   map[string]*member   // by app: what carried its last stream
	last      *member              // what carried the last stream
	lastErr   error                // the last failure, for State
	resolving *lookupCall          // non-nil while a resolution is in flight
}

type member struct {
	addr   string // ip:port dialled
	client *Client
	down   mark             // unreachable, lost, quiet or going away
	noConn map[string]*mark // by app: refused with "no connector"
}

// mark is an address's bad period: until when it is tried last.
type mark struct {
	bo    *backoff.Backoff
	until time.Time
}

func (k *mark) set(now time.Time, clock backoff.Clock) { // clock nil: the real one
	if k.bo == nil {
		k.bo = backoff.New(backoff.Config{Base: BadBase, Max: BadMax, NoJitter: true, Clock: clock})
	}
	k.until = now.Add(k.bo.Next())
}

func (k *mark) bad(now time.Time) bool { return k != nil && now.Before(k.until) }

// NewFleet returns a Fleet for cfg; nothing is dialled or resolved until a
// stream or Connect needs it.
func NewFleet(cfg FleetConfig) *Fleet {
	cfg.Hello.Role = wire.RoleClient
	f := &Fleet{cfg: cfg, resolve: cfg.Resolve, clock: cfg.Clock, log: cfg.Logger,
		members: map[string]*member{}, byName: map[string][]*member{}, carrier: map[string]*member{}}
	if f.resolve == nil {
		f.resolve = func(ctx context.Context, host string) ([]netip.Addr, error) {
			return net.DefaultResolver.LookupNetIP(ctx, "ip", host)
		}
	}
	if f.log == nil {
		f.log = slog.New(slog.DiscardHandler)
	}
	return f
}

// Open opens a stream for open at one of the fleet's edges (see [Fleet]).
// Its errors are those of [Client.Open]; when every address failed, the
// "no connector" refusal if one edge gave it, else the last address's
// error.
func (f *Fleet) Open(ctx context.Context, open *wire.Open) (*StreamConn, error) {
	tried := map[*member]bool{}
	var lastErr, refusal error // refusal: the first "no connector"
	var lost *member           // the first whose live connection failed under the stream
	noConnRetried := false
	attempt := func(m *member, others bool) (*StreamConn, error, bool) {
		tried[m] = true
		retries := 1
		if others {
			retries = 0 // the next address rather than this one again
		}
		s, err := f.try(ctx, m, open, retries, others)
		if err == nil {
			f.carried(m, open.App)
			return s, nil, true
		}
		if ctx.Err() != nil {
			return nil, err, true
		}
		switch failover(err) {
		case moveOn:
			f.markDown(m, err)
			var ce *ConnError
			if lost == nil && errors.As(err, &ce) && !errors.Is(err, ErrQuiet) {
				lost = m
			}
		case noConnector:
			f.markNoConnector(m, open.App)
			if noConnRetried {
				return nil, err, true
			}
			noConnRetried, refusal = true, err
		default:
			return nil, err, true
		}
		lastErr = err
		return nil, err, false
	}
	// A live connection to the address that carried this app last needs
	// no resolution.
	if m, others := f.preferred(open.App); m != nil {
		if s, err, done := attempt(m, others); done {
			return s, err
		}
	}
	cands, err := f.candidates(ctx, open.App)
	if err != nil && len(cands) == 0 {
		return nil, errors.Join(lastErr, err)
	}
	cands = slices.DeleteFunc(cands, func(m *member) bool { return tried[m] })
	for i, m := range cands {
		if i > 0 || len(tried) > 0 {
			f.log.Info("opening the stream at another edge", "app", open.App, "edge_addr", m.addr, "after", lastErr)
		}
		if s, err, done := attempt(m, i < len(cands)-1); done {
			return s, err
		}
	}
	if lost != nil && refusal == nil {
		// Every other address failed too: the edge whose connection
		// failed under the stream (restarted: a stateless reset) gets the
		// one fresh dial a single edge would.
		s, err := f.try(ctx, lost, open, 0, false)
		if err == nil {
			f.carried(lost, open.App)
			return s, nil
		}
		return nil, err
	}
	if refusal != nil {
		// An edge that answered says more than those that did not.
		return nil, refusal
	}
	return nil, lastErr
}

// Connect dials the fleet's first address that answers, unless a live
// connection exists. Its errors are those of [Client.Connect].
func (f *Fleet) Connect(ctx context.Context) error {
	if m, _ := f.preferred(""); m != nil {
		return nil
	}
	cands, err := f.candidates(ctx, "")
	if len(cands) == 0 {
		return err
	}
	for _, m := range cands {
		err = m.client.Connect(ctx)
		if err == nil {
			f.mu.Lock()
			if f.last == nil {
				f.last = m
			}
			f.mu.Unlock()
			return nil
		}
		if ctx.Err() != nil || failover(err) != moveOn {
			return err
		}
		f.markDown(m, err)
	}
	return err
}

// failoverKind says what a failed stream open means for its address.
type failoverKind int

const (
	stay        failoverKind = iota // the stream's own refusal: no other edge will differ
	moveOn                          // the address is unreachable, lost or leaving
	noConnector                     // the edge has no connector for the app now
)

func failover(err error) failoverKind {
	var de *DialError
	var ce *ConnError
	var we *wire.Error
	switch {
	case errors.As(err, &ce) && (relay.CodeOf(ce) == wire.CodeUnauthenticated || relay.CodeOf(ce) == wire.CodeForbidden):
		// The edge closed the whole connection for who the client is
		// (too many refused streams, no valid token in time): every
		// edge of the fleet would say the same.
		return stay
	case errors.As(err, &de), errors.As(err, &ce), errors.Is(err, ErrQuiet):
		return moveOn
	case errors.As(err, &we) && we.Code == wire.CodeGoingAway:
		return moveOn
	case errors.As(err, &we) && we.Code == wire.CodeNoConnector:
		return noConnector
	}
	return stay
}

// errQuietOpen ends a stream open whose connection went quiet while
// another address could take the stream.
var errQuietOpen = fmt.Errorf("%w while the stream waited for its answer", ErrQuiet)

// try opens the stream at m. With others (another address to go to), an
// open on a connection that receives nothing from its edge for
// OpenQuietAfter after the open began (or goes quiet) is given up, so that
// the stream goes elsewhere at once rather than when the connection times
// out.
func (f *Fleet) try(ctx context.Context, m *member, open *wire.Open, retries int, others bool) (*StreamConn, error) {
	if !others {
		return m.client.open(ctx, open, retries)
	}
	actx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	type result struct {
		s   *StreamConn
		err error
	}
	sent := time.Now()
	conn0, heard0 := m.client.received() // before the Open is sent
	done := make(chan result, 1)
	go func() {
		s, err := m.client.open(actx, open, retries)
		done <- result{s, err}
	}()
	tick := time.NewTicker(watchTick)
	defer tick.Stop()
	for {
		select {
		case r := <-done:
			if r.err != nil && ctx.Err() == nil && errors.Is(context.Cause(actx), errQuietOpen) {
				r.err = &ConnError{Err: errQuietOpen}
			}
			return r.s, r.err
		case now := <-tick.C:
			if m.client.unanswered(conn0, heard0, now.Sub(sent)) {
				cancel(errQuietOpen)
			}
		}
	}
}

// OpenQuietAfter is how long a stream open on a connection may receive
// nothing at all from its edge before a Fleet moves the stream to another
// address. The edge acknowledges the Open frame's packet within a round
// trip, however long its answer takes (a connector dialling a slow
// origin), so a second of silence is a dead edge, not a slow one.
const OpenQuietAfter = time.Second

// preferred returns the member to try first without resolving: a live,
// not lately failed connection that carried app's last stream (any
// stream, for app ""), or else the last stream; and whether there are
// other addresses to go to.
func (f *Fleet) preferred(app string) (*member, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	now := f.now()
	others := len(f.order) > 1
	for _, m := range []*member{f.carrier[app], f.last} {
		if m != nil && m.client.live() && !m.down.bad(now) && !m.noConn[app].bad(now) {
			return m, others
		}
	}
	return nil, others
}

// candidates resolves the fleet's addresses and returns the members to try
// for app, best first: not lately failed (for app), then by health (a
// live connection, then none yet or a drained one, then a failed one),
// then app's carrier, then the last carrier, then in configured order.
// Those that failed lately come last, the one whose period ends first
// first. An error means
// some name did not resolve; the members of the others are still given.
func (f *Fleet) candidates(ctx context.Context, app string) ([]*member, error) {
	order, err := f.resolveShared(ctx)
	f.mu.Lock()
	defer f.mu.Unlock()
	if err != nil {
		f.lastErr = err
	}
	if len(order) > 0 {
		f.order = order
		f.prune()
	}
	now := f.now()
	type ranked struct {
		m        *member
		badUntil time.Time // zero when not bad
		key      [5]int
	}
	rs := make([]ranked, len(f.order))
	for i, m := range f.order {
		r := ranked{m: m}
		for _, k := range []*mark{&m.down, m.noConn[app]} {
			if k.bad(now) && k.until.After(r.badUntil) {
				r.badUntil = k.until
			}
		}
		r.key = [5]int{int(m.client.health()), 0, b2i(f.carrier[app] != m), b2i(f.last != m), i}
		rs[i] = r
	}
	slices.SortStableFunc(rs, func(a, b ranked) int {
		if c := cmp.Compare(b2i(!a.badUntil.IsZero()), b2i(!b.badUntil.IsZero())); c != 0 {
			return c
		}
		if c := a.badUntil.Compare(b.badUntil); c != 0 {
			return c
		}
		return slices.Compare(a.key[:], b.key[:])
	})
	out := make([]*member, len(rs))
	for i, r := range rs {
		out[i] = r.m
	}
	return out, err
}

func (f *Fleet) now() time.Time {
	if f.clock == nil {
		return time.Now()
	}
	return f.clock.Now()
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}

// lookupCall is one resolution in flight, shared by the streams that need
// one meanwhile: twenty kubectl connections at once cost one lookup.
type lookupCall struct {
	done   chan struct{}
	order  []*member
	err    error
	shared bool // not ended by its starter's context: waiters take it
}

// resolveShared is resolveAll, joined to the one in flight if any. A
// caller whose context ends stops waiting; one whose resolution its own
// context ended leaves the waiters to start another.
func (f *Fleet) resolveShared(ctx context.Context) ([]*member, error) {
	for {
		f.mu.Lock()
		call := f.resolving
		if call == nil {
			call = &lookupCall{done: make(chan struct{})}
			f.resolving = call
			f.mu.Unlock()
			call.order, call.err = f.resolveAll(ctx)
			call.shared = ctx.Err() == nil
			f.mu.Lock()
			f.resolving = nil
			f.mu.Unlock()
			close(call.done)
			return call.order, call.err
		}
		f.mu.Unlock()
		select {
		case <-call.done:
			if call.shared {
				return call.order, call.err
			}
		case <-ctx.Done():
			return nil, context.Cause(ctx)
		}
	}
}

// resolveAll resolves every configured address, each name to at most
// MaxAddrsPerName addresses (IPv4 first). A name that does not resolve
// keeps its last resolution.
func (f *Fleet) resolveAll(ctx context.Context) ([]*member, error) {
	var order []*member
	var errs []error
	seen := map[string]bool{}
	for _, name := range f.cfg.Addrs {
		addrs, err := f.lookup(ctx, name)
		f.mu.Lock()
		var ms []*member
		if err != nil {
			errs = append(errs, &DialError{Addr: name, Err: err})
			ms = f.byName[name]
		} else {
			for _, a := range addrs {
				ms = append(ms, f.memberLocked(name, a))
			}
			f.byName[name] = ms
		}
		f.mu.Unlock()
		for _, m := range ms {
			if !seen[m.addr] {
				seen[m.addr] = true
				order = append(order, m)
			}
		}
	}
	return order, errors.Join(errs...)
}

// lookup resolves one configured host:port.
func (f *Fleet) lookup(ctx context.Context, name string) ([]netip.AddrPort, error) {
	host, portStr, err := net.SplitHostPort(name)
	if err != nil {
		return nil, err
	}
	port, err := strconv.ParseUint(portStr, 10, 16)
	if err != nil {
		p, perr := net.DefaultResolver.LookupPort(ctx, "udp", portStr)
		if perr != nil {
			return nil, fmt.Errorf("port %q: %w", portStr, perr)
		}
		port = uint64(p)
	}
	if ip, err := netip.ParseAddr(host); err == nil {
		return []netip.AddrPort{netip.AddrPortFrom(ip.Unmap(), uint16(port))}, nil
	}
	ips, err := f.resolve(ctx, host)
	if err != nil {
		return nil, err
	}
	if len(ips) == 0 {
		return nil, fmt.Errorf("no address for %s", host)
	}
	seen := map[netip.Addr]bool{}
	ips = slices.DeleteFunc(ips, func(ip netip.Addr) bool {
		dup := seen[ip.Unmap()]
		seen[ip.Unmap()] = true
		return dup
	})
	for i := range ips {
		ips[i] = ips[i].Unmap()
	}
	// IPv4 first, as a single address is dialled (resolveUDP): a name such
	// as localhost that also has an IPv6 address the edge does not listen
	// on is not a handshake timeout away.
	slices.SortStableFunc(ips, func(a, b netip.Addr) int { return cmp.Compare(b2i(!a.Is4()), b2i(!b.Is4())) })
	out := make([]netip.AddrPort, 0, min(len(ips), MaxAddrsPerName))
	for _, ip := range ips[:min(len(ips), MaxAddrsPerName)] {
		out = append(out, netip.AddrPortFrom(ip, uint16(port)))
	}
	return out, nil
}

// memberLocked returns the member for a, made with a Client whose server
// name is the configured name's host, unless the config names one.
func (f *Fleet) memberLocked(name string, a netip.AddrPort) *member {
	key := a.String()
	if m := f.members[key]; m != nil {
		return m
	}
	cfg := f.cfg.Config
	cfg.Addr = key
	if cfg.ServerName == "" {
		cfg.ServerName, _, _ = net.SplitHostPort(name)
	}
	cfg.Logger = f.log.With("edge_addr", key)
	m := &member{addr: key, client: NewClient(cfg), noConn: map[string]*mark{}}
	f.members[key] = m
	return m
}

// prune closes and forgets members beyond maxMembers that the last
// resolution no longer gave and that carry nothing.
func (f *Fleet) prune() {
	if len(f.members) <= maxMembers {
		return
	}
	keep := map[*member]bool{f.last: true}
	for _, m := range f.order {
		keep[m] = true
	}
	for _, m := range f.carrier {
		keep[m] = true
	}
	for k, m := range f.members {
		if !keep[m] {
			delete(f.members, k)
			m.client.Close()
		}
	}
	for name, ms := range f.byName {
		f.byName[name] = slices.DeleteFunc(ms, func(m *member) bool { return f.members[m.addr] != m })
	}
}

func (f *Fleet) carried(m *member, app string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	m.down = mark{}
	delete(m.noConn, app)
	if _, ok := f.carrier[app]; ok || len(f.carrier) < maxApps {
		f.carrier[app] = m
	}
	f.last = m
}

func (f *Fleet) markDown(m *member, err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	m.down.set(f.now(), f.clock)
	f.lastErr = err
	f.log.Warn("edge address failed; trying it last for a while", "edge_addr", m.addr, "for", m.down.until.Sub(f.now()), "err", err)
}

func (f *Fleet) markNoConnector(m *member, app string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	k := m.noConn[app]
	if k == nil {
		if len(m.noConn) >= maxApps {
			return
		}
		k = &mark{}
		m.noConn[app] = k
	}
	k.set(f.now(), f.clock)
	f.log.Info("edge has no connector for the app; trying it last for it a while", "edge_addr", m.addr, "app", app, "for", k.until.Sub(f.now()))
}

// Carrier returns the address (ip:port) that carried app's last stream
// while its connection is up, else "".
func (f *Fleet) Carrier(app string) string {
	f.mu.Lock()
	m := f.carrier[app]
	f.mu.Unlock()
	if m == nil {
		return ""
	}
	if up, _, _ := m.client.State(); !up {
		return ""
	}
	return m.addr
}

// Current returns the address (ip:port) of the connection that carries the
// fleet's streams now: the last carrier's while it is up, else any that
// is up, else "".
func (f *Fleet) Current() string {
	m, _, _ := f.current()
	if m == nil {
		return ""
	}
	return m.addr
}

func (f *Fleet) current() (*member, time.Time, error) {
	f.mu.Lock()
	last, order, lastErr := f.last, slices.Clone(f.order), f.lastErr
	f.mu.Unlock()
	for _, m := range append([]*member{last}, order...) {
		if m == nil {
			continue
		}
		if up, since, _ := m.client.State(); up {
			return m, since, nil
		}
	}
	if last != nil {
		if _, _, err := last.client.State(); err != nil {
			lastErr = err
		}
	}
	return nil, time.Time{}, lastErr
}

// Transport names the transport of the connection that carries the
// fleet's streams now and why it is used (see Client.Transport).
func (f *Fleet) Transport() (name, reason string) {
	m, _, _ := f.current()
	if m == nil {
		return "", ""
	}
	return m.client.Transport()
}

// State reports whether a connection to one of the fleet's edges is up
// (the current one's since), and otherwise the last failure.
func (f *Fleet) State() (connected bool, since time.Time, lastErr error) {
	m, since, err := f.current()
	return m != nil, since, err
}

// Close closes every connection. Later calls to Open dial again.
func (f *Fleet) Close() error {
	f.mu.Lock()
	ms := make([]*member, 0, len(f.members))
	for _, m := range f.members {
		ms = append(ms, m)
	}
	f.mu.Unlock()
	var errs []error
	for _, m := range ms {
		errs = append(errs, m.client.Close())
	}
	return errors.Join(errs...)
}

// live reports whether the client has a connection that takes streams now
// (open, not draining, not quiet): using it needs no dial.
func (c *Client) live() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.conn != nil && c.conn.Alive() && c.conn.Quiet() <= QuietAfter
}

// health ranks a client for a new stream: live (a connection that takes
// streams now), then fresh (never dialled, or a connection the edge asked
// to drain that is still open: the edge is there, a new connection will
// do), then failed (the connection closed or went quiet, or the last dial
// failed).
type health int

const (
	healthLive health = iota
	healthFresh
	healthFailed
)

func (c *Client) health() health {
	c.mu.Lock()
	defer c.mu.Unlock()
	switch {
	case c.conn == nil && c.lastErr == nil:
		return healthFresh
	case c.conn == nil, c.conn.Context().Err() != nil, c.conn.Quiet() > QuietAfter:
		return healthFailed
	case c.conn.Draining():
		return healthFresh
	}
	return healthLive
}

// received returns the client's connection and how many packets it has
// received so far (nil, 0 without one).
func (c *Client) received() (*Conn, uint64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.conn == nil {
		return nil, 0
	}
	return c.conn, c.conn.tc.Stats().Received
}

// unanswered reports whether conn0 was closed by its edge going away
// with no connection since, or the client's connection is quiet, or is
// conn0 and has received no packet since it had received heard0, elapsed
// ago or more than OpenQuietAfter. A connection dialled since is judged
// by its quiet alone: its handshake was an answer.
func (c *Client) unanswered(conn0 *Conn, heard0 uint64, elapsed time.Duration) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	switch {
	case conn0 != nil && (c.conn == nil || c.conn == conn0) && conn0.Context().Err() != nil &&
		relay.CodeOf(context.Cause(conn0.Context())) == wire.CodeGoingAway:
		// The edge closed the connection going away (shutting down) and
		// no new one is up yet: a dial to it now is a dial to an edge
		// that is leaving.
		return true
	case c.conn == nil:
		return false
	case c.conn.Quiet() > QuietAfter:
		return true
	}
	st := c.conn.tc.Stats()
	return c.conn == conn0 && elapsed >= openQuietAfter(st) && st.Received == heard0
}

// openQuietAfter is how long an open may hear nothing on a connection
// with these stats: OpenQuietAfter, or on a slow link the time for the
// Open's packet to be lost once and sent again and its acknowledgement to
// come back (two probe timeouts, RFC 9002 §6.2.1, and a round trip), so
// that one lost packet on a 500 ms path does not move a stream off a
// healthy edge.
func openQuietAfter(st transport.Stats) time.Duration {
	const maxAckDelay = 25 * time.Millisecond // quic-go's default
	pto := st.SmoothedRTT + max(4*st.MeanDeviation, time.Millisecond) + maxAckDelay
	return max(OpenQuietAfter, 2*pto+st.SmoothedRTT)
}
