package edge

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/airlockhq/airlock/edge/oauth"
	"github.com/airlockhq/airlock/edge/store/postgres"
	"github.com/airlockhq/airlock/internal/wire"
)

// The fleet's membership as this edge keeps it: with store: it records
// itself in the shared database (postgres.Store.Beat every fleetBeat,
// alive for fleetTTL), follows the list there (WatchFleet's NOTIFY, and a
// reread at each heartbeat) and tells every connector that follows
// members the list right after its Welcome and whenever it changes; it
// leaves the list first thing at shutdown, before its Drain, so that
// connectors learn from the other edges that it is gone. Without store:
// the list is this edge alone and never changes.
const (
	fleetBeat = 5 * time.Second
	fleetTTL  = 15 * time.Second
	// fleetCall bounds one membership call, within the store's own
	// query timeout.
	fleetCall = 5 * time.Second
)

// fleet is this edge's view of its fleet.
type fleet struct {
	store    *postgres.Store // nil: an edge on its own
	self     wire.Member
	instance string
	log      *slog.Logger
	send     func(*wire.Members) // tells the connectors (Server.tellMembers)
	list     atomic.Pointer[wire.Members]
	reread   chan struct{} // a change may have happened: read the list

	mu   sync.Mutex // orders Beat and Leave: no Beat after the Leave
	left bool
}

// newFleet makes the fleet of an edge whose store (nil without one) is
// st: the shared database of store:, else an edge on its own. bound is
// the QUIC listener's address, advertised when neither advertise nor
// public_addrs names a port (a listen address of port 0).
func newFleet(cfg *Config, edgeID string, st oauth.Store, bound string, log *slog.Logger, send func(*wire.Members)) (*fleet, error) {
	addr := cfg.Advertise
	if addr == "" {
		addr = firstPublic(cfg)
		if wire.CheckTarget(addr) != nil {
			addr = bound
		}
	}
	if edgeID == "" || len(edgeID) > wire.MaxEdgeIDLen {
		return nil, fmt.Errorf("edge_id: %d bytes, want 1 to %d", len(edgeID), wire.MaxEdgeIDLen)
	}
	if err := wire.CheckTarget(addr); err != nil && cfg.Store != nil {
		return nil, fmt.Errorf("advertise: the address connectors of the fleet dial: %w", err)
	}
	var b [8]byte
	rand.Read(b[:]) //nolint:errcheck // crypto/rand.Read does not fail
	f := &fleet{
		self: wire.Member{ID: edgeID, Addr: addr}, instance: hex.EncodeToString(b[:]),
		log: log.With("part", "fleet"), send: send, reread: make(chan struct{}, 1),
	}
	f.list.Store(&wire.Members{Members: []wire.Member{f.self}})
	f.store, _ = st.(*postgres.Store)
	return f, nil
}

// members is the list to tell a connector now; nil for an edge on its
// own, which tells none, and before the first read of the store.
func (f *fleet) members() *wire.Members {
	if m := f.list.Load(); f.store != nil && m.Fleet != "" {
		return m
	}
	return nil
}

// run keeps this edge in the fleet and follows the list until ctx ends.
func (f *fleet) run(ctx context.Context) error {
	if f.store == nil {
		return nil
	}
	f.beat(ctx)
	var wg sync.WaitGroup
	defer wg.Wait()
	wctx, stop := context.WithCancel(ctx)
	defer stop()
	wg.Go(func() {
		err := f.store.WatchFleet(wctx, f.changed, nil)
		if errors.Is(err, postgres.ErrNoNotify) {
			f.log.Warn("the database has no LISTEN/NOTIFY: fleet changes reach this edge at its next heartbeat", "heartbeat", fleetBeat)
		}
	})
	t := time.NewTicker(fleetBeat)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
			f.beat(ctx)
		case <-f.reread:
			f.read(ctx)
		}
	}
}

// changed schedules a reread; it never blocks (the watch's goroutine).
func (f *fleet) changed() {
	select {
	case f.reread <- struct{}{}:
	default:
	}
}

// beat records this edge as alive, then rereads the list (which also
// catches what a database without NOTIFY did not push).
func (f *fleet) beat(ctx context.Context) {
	f.mu.Lock()
	if f.left {
		f.mu.Unlock()
		return
	}
	cctx, cancel := context.WithTimeout(ctx, fleetCall)
	b, err := f.store.Beat(cctx, f.self, f.instance, time.Now(), fleetTTL)
	cancel()
	f.mu.Unlock()
	switch {
	case err != nil:
		f.log.Warn("fleet heartbeat failed; connectors keep the list they have", "err", err)
		return
	case b.TookOver:
		f.log.Warn("this edge's id was held in the fleet by another process until now: if two running edges share an edge_id, give each its own", "edge_id", f.self.ID)
	case b.Joined:
		f.log.Info("joined the fleet", "edge_id", f.self.ID, "advertise", f.self.Addr)
	}
	if b.Expired > 0 {
		f.log.Info("removed edges whose heartbeat expired from the fleet", "expired", b.Expired, "ttl", fleetTTL)
	}
	f.read(ctx)
}

// read rereads the list and tells the connectors when it changed.
func (f *fleet) read(ctx context.Context) {
	cctx, cancel := context.WithTimeout(ctx, fleetCall)
	m, more, err := f.store.Members(cctx)
	cancel()
	if err != nil {
		f.log.Warn("reading the fleet's members failed; connectors keep the list they have", "err", err)
		return
	}
	if more {
		f.log.Warn("the fleet has more edges than a connector is told", "told", wire.MaxMembers)
	}
	old := f.list.Load()
	if old.Fleet == m.Fleet && old.Generation >= m.Generation && old.Generation > 0 {
		return // an older snapshot, or the same
	}
	f.list.Store(m)
	f.log.Info("fleet members", "generation", m.Generation, "members", memberIDs(m.Members))
	if old.Fleet != m.Fleet || !slices.Equal(old.Members, m.Members) {
		f.send(m)
	}
}

// leave takes this edge out of the fleet (once, at shutdown): the other
// edges tell the connectors, which drain their connections here.
func (f *fleet) leave() {
	if f.store == nil {
		return
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.left {
		return
	}
	f.left = true
	ctx, cancel := context.WithTimeout(context.Background(), fleetCall)
	defer cancel()
	if _, err := f.store.Leave(ctx, f.self.ID, f.instance); err != nil {
		f.log.Warn("leaving the fleet failed: the other edges drop this one when its heartbeat expires", "err", err, "ttl", fleetTTL)
		return
	}
	f.log.Info("left the fleet", "edge_id", f.self.ID)
}

func memberIDs(ms []wire.Member) []string {
	out := make([]string, len(ms))
	for i, m := range ms {
		out[i] = m.ID + "=" + m.Addr
	}
	return out
}

// fleetChange says what a reload cannot apply of the fleet's settings
// ("" if they are the same): the fleet knows the edge by its id and
// address from the start.
func fleetChange(old, next *Config) string {
	if old.EdgeID != next.EdgeID || old.Advertise != next.Advertise || firstPublic(old) != firstPublic(next) {
		return "edge_id, advertise: or public_addrs changed: the fleet and its connectors know this edge by the ones it started with until it restarts"
	}
	return ""
}

// FleetHealth is the fleet in /healthz: its name, the generation of the
// list and its members, edge id → the address connectors dial.
type FleetHealth struct {
	Name       string            `json:"name"`
	Generation uint64            `json:"generation"`
	Members    map[string]string `json:"members"`
}

// health is the list as /healthz shows it; nil for an edge on its own.
func (f *fleet) health() *FleetHealth {
	m := f.members()
	if m == nil {
		return nil
	}
	h := &FleetHealth{Name: m.Fleet, Generation: m.Generation, Members: make(map[string]string, len(m.Members))}
	for _, e := range m.Members {
		h.Members[e.ID] = e.Addr
	}
	return h
}

// firstPublic is the first of public_addrs ("" for none).
func firstPublic(c *Config) string {
	if len(c.PublicAddrs) == 0 {
		return ""
	}
	return c.PublicAddrs[0]
}

// welcome sends w and then, to a connector that follows members, the
// fleet's list, both under p's send lock; only then does p get the lists
// tellMembers broadcasts, so nothing overtakes the Welcome and no change
// between the two is missed.
func (s *Server) welcome(p *peer, w *wire.Welcome) error {
	p.sendMu.Lock()
	defer p.sendMu.Unlock()
	p.ctrl.SetWriteDeadline(time.Now().Add(writeTimeout)) //nolint:errcheck // never fails
	if err := wire.WriteFrame(p.ctrl, w); err != nil {
		return err
	}
	if p.tunnel == nil || !p.hello.Members || s.fleet.store == nil {
		return nil
	}
	p.followsMembers.Store(true)
	if m := s.fleet.members(); m != nil {
		return wire.WriteFrame(p.ctrl, m)
	}
	return nil
}

// tellMembers sends m to every connector that follows members.
func (s *Server) tellMembers(m *wire.Members) {
	var to []*peer
	for _, p := range s.registry.all() {
		if p.followsMembers.Load() {
			to = append(to, p)
		}
	}
	broadcast(to, m)
}
