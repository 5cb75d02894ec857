package edge

import (
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// registry holds the live connections: all of them (for Drain on shutdown)
// and the connector ones per tunnel id (for routing), and counts each
// tunnel's connector instances (Hello.ConnectorID) for the operator.
type registry struct {
	mu        sync.RWMutex
	peers     map[*peer]struct{}
	tunnels   map[string][]*peer
	instances map[string]map[string]int // tunnel id → connector id → live connections
	rr        atomic.Uint32
}

func newRegistry() *registry {
	return &registry{peers: map[*peer]struct{}{}, tunnels: map[string][]*peer{}, instances: map[string]map[string]int{}}
}

func (r *registry) add(p *peer) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.peers[p] = struct{}{}
	if p.tunnel != nil {
		r.tunnels[p.tunnel.id] = append(r.tunnels[p.tunnel.id], p)
	}
}

// addConnector registers connector p unless its tunnel already holds its
// maximum of connections here; then it returns those connections instead.
// joined says p is the first live connection of its connector instance;
// instances is how many the tunnel has now.
func (r *registry) addConnector(p *peer) (full []*peer, joined bool, instances int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if ps := r.tunnels[p.tunnel.id]; len(ps) >= p.tunnel.maxConns {
		return slices.Clone(ps), false, len(r.instances[p.tunnel.id])
	}
	r.peers[p] = struct{}{}
	r.tunnels[p.tunnel.id] = append(r.tunnels[p.tunnel.id], p)
	ids := r.instances[p.tunnel.id]
	if ids == nil {
		ids = map[string]int{}
		r.instances[p.tunnel.id] = ids
	}
	ids[p.hello.ConnectorID]++
	return nil, ids[p.hello.ConnectorID] == 1, len(ids)
}

// remove forgets p. For a connector, left says it was the last live
// connection of its instance; instances is how many the tunnel has now.
func (r *registry) remove(p *peer) (left bool, instances int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if _, ok := r.peers[p]; !ok {
		return false, 0
	}
	delete(r.peers, p)
	if p.tunnel == nil {
		return false, 0
	}
	ps := slices.DeleteFunc(r.tunnels[p.tunnel.id], func(q *peer) bool { return q == p })
	if len(ps) == 0 {
		delete(r.tunnels, p.tunnel.id)
	} else {
		r.tunnels[p.tunnel.id] = ps
	}
	ids := r.instances[p.tunnel.id]
	if ids[p.hello.ConnectorID]--; ids[p.hello.ConnectorID] <= 0 {
		delete(ids, p.hello.ConnectorID)
		left = true
	}
	if len(ids) == 0 {
		delete(r.instances, p.tunnel.id)
	}
	return left, len(ids)
}

// connectorPeers returns the live connector connections per tunnel id.
func (r *registry) connectorPeers() map[string][]*peer {
	r.mu.RLock()
	defer r.mu.RUnlock()
	out := make(map[string][]*peer, len(r.tunnels))
	for id, ps := range r.tunnels {
		out[id] = slices.Clone(ps)
	}
	return out
}

// all returns every registered connection.
func (r *registry) all() []*peer {
	r.mu.RLock()
	defer r.mu.RUnlock()
	out := make([]*peer, 0, len(r.peers))
	for p := range r.peers {
		out = append(out, p)
	}
	return out
}

// connectors returns the number of live connector connections per tunnel id.
func (r *registry) connectors() map[string]int {
	r.mu.RLock()
	defer r.mu.RUnlock()
	out := make(map[string]int, len(r.tunnels))
	for id, ps := range r.tunnels {
		out[id] = len(ps)
	}
	return out
}

// hasHeard reports whether the tunnel has a live, non-draining connector
// connection outside skip that was heard at now (pick without its side
// effects, for answerWatch).
func (r *registry) hasHeard(tunnelID string, skip []*peer, now time.Time) bool {
	r.mu.RLock()
	defer r.mu.RUnlock()
	for _, p := range r.tunnels[tunnelID] {
		if c := p.candidate(now); c.usable && !c.quiet && p.conn.Context().Err() == nil && !slices.Contains(skip, p) {
			return true
		}
	}
	return false
}

// pick returns the live, non-draining connector connection of the tunnel
// that pick should route a stream to at now, outside skip: one heard lately
// before a quiet one (quiet.go), then the one with the fewest active
// streams, the scan starting at a rotating index so that ties spread
// round-robin; nil when there is none.
func (r *registry) pick(tunnelID string, skip []*peer, now time.Time) *peer {
	r.mu.RLock()
	defer r.mu.RUnlock()
	ps := r.tunnels[tunnelID]
	n := len(ps)
	if n == 0 {
		return nil
	}
	cs := make([]candidate, n)
	for i, p := range ps {
		cs[i] = p.candidate(now)
		if p.conn.Context().Err() != nil || slices.Contains(skip, p) {
			cs[i].usable = false
		}
	}
	if i := choose(cs, int(r.rr.Add(1)%uint32(n))); i >= 0 {
		return ps[i]
	}
	return nil
}
