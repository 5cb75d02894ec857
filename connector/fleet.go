package connector

import (
	"cmp"
	"context"
	"errors"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/airlockhq/airlock/internal/wire"
)

// MaxFollowedEdges bounds the fleet members a connector follows besides
// the edges it was configured with; a longer list is cut (by edge id) and
// the cut logged.
const MaxFollowedEdges = 16

// errLeftFleet ends the connections of a member that is no longer in its
// fleet's list: they drain (Drain to the edge, open streams finish within
// the grace).
var errLeftFleet = errors.New("the edge left the fleet")

// followed is what the connector learned of its edges' fleets: the newest
// list of each fleet ([wire.Members], by its generation), told by any of
// its edges after their Welcome, and HA connections to each member that
// is not one of its configured edges. Members are dialled as configured
// edges are: the credentials' TLS server name and CA, the tunnel's
// secret, so an address told by an edge reaches nothing that does not
// hold the fleet's certificate.
type followed struct {
	c *Connector

	mu      sync.Mutex
	ctx     context.Context // Run's: members' slots end with it
	hardCtx context.Context // Run's hard stop
	closed  bool            // Run is ending: no new members
	lists   map[string]*wire.Members
	members map[string]*memberSet // edge id → the connections there
	leaving map[*memberSet]bool   // drained, still finishing
	indices map[int]bool          // Hello.ConnIndex values taken by members
	cut     string                // the last cut logged, to log each once
	wg      sync.WaitGroup
}

// memberSet is the HA connections to one member edge.
type memberSet struct {
	member   wire.Member
	slots    []*slot
	stop     context.CancelCauseFunc // drain
	hardStop context.CancelCauseFunc // cut what is still open
	done     chan struct{}           // every slot and its links have ended
}

func newFollowed(c *Connector) *followed {
	return &followed{c: c, lists: map[string]*wire.Members{}, members: map[string]*memberSet{},
		leaving: map[*memberSet]bool{}, indices: map[int]bool{}}
}

// start gives the members' slots Run's contexts.
func (f *followed) start(ctx, hardCtx context.Context) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.ctx, f.hardCtx = ctx, hardCtx
}

// close starts no member any more and waits for the members' slots,
// which end with Run's contexts.
func (f *followed) close() {
	f.mu.Lock()
	f.closed = true
	f.mu.Unlock()
	f.wg.Wait()
}

// told takes a list an edge sent; a newer list of its fleet replaces the
// one held. A list without a fleet (an edge on its own) names only that
// edge: nothing to follow. log is the telling link's.
func (f *followed) told(log *slog.Logger, m *wire.Members) {
	if m.Fleet == "" {
		return
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if old := f.lists[m.Fleet]; old != nil && old.Generation >= m.Generation {
		return
	}
	f.lists[m.Fleet] = m
	log.Info("the edge told the fleet's members", "fleet", m.Fleet, "generation", m.Generation, "members", len(m.Members))
	f.updateLocked()
}

// update follows the lists held again, e.g. once a configured edge says
// which member it is.
func (f *followed) update() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.updateLocked()
}

func (f *followed) updateLocked() {
	if f.ctx == nil || f.closed || f.ctx.Err() != nil {
		return
	}
	want := f.wanted()
	for id, ms := range f.members {
		if w, ok := want[id]; !ok || w.Addr != ms.member.Addr {
			f.drainLocked(ms)
		}
	}
	for id, m := range want {
		if _, ok := f.members[id]; !ok {
			f.followLocked(m)
		}
	}
}

// wanted is the members to hold connections to: those of every fleet's
// list, less the configured edges (by the edge id their Welcome named, or
// by address), at most MaxFollowedEdges by edge id.
func (f *followed) wanted() map[string]wire.Member {
	cfg := f.c.cfg
	served := map[string]bool{}
	for _, s := range f.c.slots {
		if id := s.edgeID(); id != "" {
			served[id] = true
		}
	}
	var all []wire.Member
	seen := map[string]bool{}
	for _, l := range f.lists {
		for _, m := range l.Members {
			if served[m.ID] || seen[m.ID] || slices.Contains(cfg.Edges, m.Addr) {
				continue
			}
			seen[m.ID] = true
			all = append(all, m)
		}
	}
	slices.SortFunc(all, func(a, b wire.Member) int { return cmp.Compare(a.ID, b.ID) })
	if len(all) > MaxFollowedEdges {
		left := all[MaxFollowedEdges:]
		ids := make([]string, len(left))
		for i, m := range left {
			ids[i] = m.ID
		}
		if cut := strings.Join(ids, ","); f.cut != cut {
			f.cut = cut
			f.c.log.Warn("the fleet has more edges than a connector follows; not connecting to the rest",
				"max_followed", MaxFollowedEdges, "members", len(all), "not_followed", ids)
		}
		all = all[:MaxFollowedEdges]
	}
	out := make(map[string]wire.Member, len(all))
	for _, m := range all {
		out[m.ID] = m
	}
	return out
}

// followLocked opens the HA connections to member m.
func (f *followed) followLocked(m wire.Member) {
	ctx, stop := context.WithCancelCause(f.ctx)
	hard, hardStop := context.WithCancelCause(f.hardCtx)
	ms := &memberSet{member: m, stop: stop, hardStop: hardStop, done: make(chan struct{})}
	for range f.c.cfg.HAConnections {
		s := newSlot(f.c, m.Addr, f.takeIndex())
		s.member = m.ID
		s.log = s.log.With("fleet_member", m.ID)
		ms.slots = append(ms.slots, s)
	}
	f.members[m.ID] = ms
	f.c.log.Info("following a fleet member: connecting to it", "edge_id", m.ID, "edge", m.Addr, "ha_connections", len(ms.slots))
	var slots sync.WaitGroup
	for _, s := range ms.slots {
		slots.Go(func() { s.run(ctx, hard) })
	}
	f.wg.Go(func() {
		slots.Wait()
		for _, s := range ms.slots {
			s.finishing.Wait() // their streams end within the grace
		}
		hardStop(nil)
		close(ms.done)
		f.mu.Lock()
		defer f.mu.Unlock()
		delete(f.leaving, ms)
		if f.members[m.ID] == ms {
			delete(f.members, m.ID)
		}
		for _, s := range ms.slots {
			delete(f.indices, s.index)
		}
	})
}

// drainLocked ends the connections to a member that left: no new streams,
// open ones finish within the grace.
func (f *followed) drainLocked(ms *memberSet) {
	delete(f.members, ms.member.ID)
	f.leaving[ms] = true
	f.c.log.Info("a fleet member left: draining its connections", "edge_id", ms.member.ID, "edge", ms.member.Addr, "grace", f.c.cfg.Grace)
	ms.stop(errLeftFleet)
	f.wg.Go(func() {
		t := time.NewTimer(f.c.cfg.Grace)
		defer t.Stop()
		select {
		case <-ms.done:
		case <-t.C:
			ms.hardStop(errors.New("grace period over"))
		}
	})
}

// takeIndex is the lowest connection index no slot holds.
func (f *followed) takeIndex() int {
	for i := len(f.c.slots); ; i++ {
		if !f.indices[i] {
			f.indices[i] = true
			return i
		}
	}
}

// followedCount is how many members are followed now (not the leaving).
func (f *followed) followedCount() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.members)
}

// slots returns the members' slots, the leaving ones included.
func (f *followed) slots() []*slot {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []*slot
	for _, ms := range f.members {
		out = append(out, ms.slots...)
	}
	for ms := range f.leaving {
		out = append(out, ms.slots...)
	}
	slices.SortFunc(out, func(a, b *slot) int { return cmp.Compare(a.index, b.index) })
	return out
}
