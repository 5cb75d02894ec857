package edge

import (
	"strings"
	"sync"

	"github.com/airlockhq/airlock/internal/transport"
)

// connsByTransport counts the live client and connector connections by
// transport, for /healthz (airlock_edge_connections has the same).
type connsByTransport struct {
	mu sync.Mutex
	n  map[string]map[string]int // role → transport → connections
}

// countConn counts p's connection in (delta +1) or out (-1).
func (s *Server) countConn(p *peer, delta int) {
	role := "client"
	if p.tunnel != nil {
		role = "connector"
	}
	tr := strings.ToLower(p.conn.Name())
	s.m.connsByTransport.WithLabelValues(role, tr).Add(float64(delta))
	c := &s.byTrans
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.n == nil {
		c.n = map[string]map[string]int{}
	}
	if c.n[role] == nil {
		c.n[role] = map[string]int{}
	}
	c.n[role][tr] += delta
}

// snapshot returns the counts, every role and transport present (0 for
// none).
func (c *connsByTransport) snapshot() map[string]map[string]int {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := map[string]map[string]int{}
	for _, role := range []string{"client", "connector"} {
		out[role] = map[string]int{}
		for _, tr := range []string{transport.NameQUIC, transport.NameTCP} {
			out[role][strings.ToLower(tr)] = c.n[role][strings.ToLower(tr)]
		}
	}
	return out
}
