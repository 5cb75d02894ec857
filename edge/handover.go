package edge

import (
	"slices"
	"time"

	"github.com/airlockhq/airlock/internal/wire"
)

// A lone connector restarting costs no failed stream. A connector told by
// the Welcome that this edge hands over (Welcome.Handover) drains on
// shutdown with a Serving Drain: it is leaving, but takes new streams
// until its grace period ends. The edge keeps it as the tunnel's last
// resort (pick prefers every connection not leaving, quiet.go's choose)
// and tells it to hand over (a plain Drain, after which it takes nothing
// new and finishes as any draining connection) as soon as another
// connection of its tunnel can take the streams: at once when one is
// connected already, else when its successor connects.

// keepServing handles a connector's Serving Drain: it reports whether p
// stays the tunnel's last resort. When another connection here can take
// the tunnel's streams it tells p to hand over and returns false (the
// caller drains p).
func (s *Server) keepServing(p *peer, reason string) bool {
	if p.tunnel == nil {
		return false
	}
	// Leaving first, then look: a successor that registers meanwhile
	// finds p leaving (handOverTo), or p finds it here.
	first := p.leaving.CompareAndSwap(false, true)
	if s.registry.hasOther(p.tunnel.id, p, time.Now()) {
		p.log.Info("connector is leaving; another connection of its tunnel here takes its new streams",
			"reason", reason, "active_streams", p.active.Load())
		s.handOver(p, "another connector of the tunnel is connected here: hand over")
		return false
	}
	if first {
		p.log.Info("the tunnel's only connector here is leaving: it keeps taking new streams until a successor connects or its grace period ends",
			"reason", reason, "active_streams", p.active.Load())
	}
	return true
}

// handOverTo drains every leaving connection of p's tunnel: p, which
// just joined and takes streams, is their successor.
func (s *Server) handOverTo(p *peer) {
	if p.tunnel == nil {
		return
	}
	for _, q := range s.registry.leavingPeers(p.tunnel.id) {
		if q.hello.ConnectorID == p.hello.ConnectorID || !q.drain() {
			continue
		}
		q.log.Info("a successor connected: the leaving connector hands over its new streams",
			"successor", p.id, "successor_connector_id", p.hello.ConnectorID, "active_streams", q.active.Load())
		s.handOver(q, "a successor connector is connected here: hand over")
	}
}

// handOver tells leaving connector p to take no new streams.
func (s *Server) handOver(p *peer, why string) {
	if err := p.send(&wire.Drain{Reason: why}); err != nil {
		p.log.Debug("could not tell the leaving connector to hand over", "err", err)
	}
}

// hasOther reports whether the tunnel has a connection of another
// connector than p's (whose other connections leave with it) that takes
// new streams now: live, neither draining nor leaving, not quiet.
func (r *registry) hasOther(tunnelID string, p *peer, now time.Time) bool {
	r.mu.RLock()
	defer r.mu.RUnlock()
	return slices.ContainsFunc(r.tunnels[tunnelID], func(q *peer) bool {
		c := q.candidate(now)
		return q.hello.ConnectorID != p.hello.ConnectorID && c.usable && !c.leaving && !c.quiet && q.conn.Context().Err() == nil
	})
}

// leavingPeers returns the tunnel's leaving connections not yet drained.
func (r *registry) leavingPeers(tunnelID string) []*peer {
	r.mu.RLock()
	defer r.mu.RUnlock()
	var out []*peer
	for _, q := range r.tunnels[tunnelID] {
		if q.leaving.Load() && !q.draining.Load() {
			out = append(out, q)
		}
	}
	return out
}
