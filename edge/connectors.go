package edge

import (
	"cmp"
	"slices"
	"time"

	"github.com/airlockhq/airlock/internal/wire"
)

// register puts a peer that passed the handshake in the registry. A
// connector whose tunnel already holds its max_connections here is refused
// with CodeTunnelFull, and the refusal is logged with the connectors that
// hold the tunnel, so that the operator can tell which one is a stranger.
// The first connection of a connector instance (Hello.ConnectorID) is
// logged with its address and software, and counted per tunnel.
func (s *Server) register(p *peer) *handshakeError {
	if p.tunnel == nil {
		s.registry.add(p)
		return nil
	}
	full, joined, instances := s.registry.addConnector(p)
	if full == nil {
		if joined {
			s.m.connectorInsts.WithLabelValues(p.tunnel.name).Set(float64(instances))
			p.log.Info("connector joined the tunnel", "software", p.hello.Software, "instances", instances)
		}
		s.handOverTo(p)
		return nil
	}
	holders := make([]string, 0, len(full))
	for _, q := range full {
		holders = append(holders, q.hello.ConnectorID+"@"+q.addr)
	}
	p.log.Warn("connector refused: its tunnel holds its maximum of connections at this edge",
		"max_connections", p.tunnel.maxConns, "software", p.hello.Software, "held_by", holders)
	return refuse(wire.CodeTunnelFull, "tunnel_full",
		"tunnel %s already holds its %d connector connections at this edge (max_connections); connector %q refused",
		p.tunnel.name, p.tunnel.maxConns, p.hello.ConnectorID)
}

// unregister takes p out of the registry; the last connection of a
// connector instance logs that it left.
func (s *Server) unregister(p *peer) {
	left, instances := s.registry.remove(p)
	if p.tunnel != nil && left {
		s.m.connectorInsts.WithLabelValues(p.tunnel.name).Set(float64(instances))
		p.log.Info("connector left the tunnel", "instances", instances)
	}
}

// TunnelHealth is one tunnel in /healthz: its connector connections at
// this edge, by connector instance.
type TunnelHealth struct {
	ID             string            `json:"id"`
	Connections    int               `json:"connections"`
	MaxConnections int               `json:"max_connections"`
	Connectors     []ConnectorHealth `json:"connectors"` // by connector id
}

// ConnectorHealth is one connector instance of a tunnel (one process, by
// the id in its Hello) and its connections to this edge.
type ConnectorHealth struct {
	ConnectorID string                `json:"connector_id"`
	Software    string                `json:"software,omitempty"`
	Connections []ConnectorConnection `json:"connections"`
}

// ConnectorConnection is one connector connection in /healthz.
type ConnectorConnection struct {
	ConnID        string    `json:"conn_id"`
	Index         uint64    `json:"index"`
	Remote        string    `json:"remote"` // the connector's address
	Since         time.Time `json:"since"`
	ActiveStreams int64     `json:"active_streams"`
	Draining      bool      `json:"draining"`
	// Leaving: its connector is shutting down but still takes new streams,
	// as the tunnel's last resort, until a successor connects here.
	Leaving bool `json:"leaving,omitempty"`
	// Quiet: the connection pings and was not heard lately (quiet.go);
	// new streams go to the tunnel's other connections first.
	Quiet bool `json:"quiet"`
	// HeardAt is when a connection that pings was last heard (its last
	// Ping or packet); absent for a connector that does not ping.
	HeardAt *time.Time `json:"heard_at,omitempty"`
}

// tunnelHealth describes every tunnel of snap and its live connectors.
func (s *Server) tunnelHealth(snap *snapshot) map[string]TunnelHealth {
	live := s.registry.connectorPeers()
	now := time.Now()
	out := make(map[string]TunnelHealth, len(snap.tunnels))
	for id, t := range snap.tunnels {
		th := TunnelHealth{ID: id, MaxConnections: t.maxConns, Connectors: []ConnectorHealth{}}
		byID := map[string]int{} // connector id → index in th.Connectors
		for _, p := range live[id] {
			i, ok := byID[p.hello.ConnectorID]
			if !ok {
				i = len(th.Connectors)
				byID[p.hello.ConnectorID] = i
				th.Connectors = append(th.Connectors, ConnectorHealth{ConnectorID: p.hello.ConnectorID, Software: p.hello.Software})
			}
			cc := ConnectorConnection{
				ConnID: p.id, Index: p.hello.ConnIndex, Remote: p.addr, Since: p.since.UTC(),
				ActiveStreams: p.active.Load(), Draining: p.draining.Load(), Leaving: p.leaving.Load(), Quiet: p.heard.quietAt(now),
			}
			if at, ok := p.heard.last(); ok {
				at = at.UTC()
				cc.HeardAt = &at
			}
			th.Connectors[i].Connections = append(th.Connectors[i].Connections, cc)
			th.Connections++
		}
		slices.SortFunc(th.Connectors, func(a, b ConnectorHealth) int { return cmp.Compare(a.ConnectorID, b.ConnectorID) })
		for _, c := range th.Connectors {
			slices.SortFunc(c.Connections, func(a, b ConnectorConnection) int {
				return cmp.Or(cmp.Compare(a.Index, b.Index), cmp.Compare(a.ConnID, b.ConnID))
			})
		}
		out[t.name] = th
	}
	return out
}
