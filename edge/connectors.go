package edge

import (
	"github.com/airlockhq/airlock/internal/wire"
)

// register puts a peer that passed the handshake in the registry. A
// connector whose tunnel already holds its max_connections here is refused
// with CodeTunnelFull, and the refusal is logged with the connectors that
// hold the tunnel, so that the operator can tell which one is a stranger.
func (s *Server) register(p *peer) *handshakeError {
	if p.tunnel == nil {
		s.registry.add(p)
		return nil
	}
	full := s.registry.addConnector(p)
	if full == nil {
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
