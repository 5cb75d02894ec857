package edgeclient

import "github.com/airlockhq/airlock/internal/wire"

// Leave tells the edge this connector is shutting down but still takes new
// streams (a Serving Drain): an edge whose Welcome says Handover routes to
// it only while its tunnel has nothing else there, and answers with a
// plain Drain once another connection can take the streams. Other edges
// take it for a plain Drain.
func (c *Conn) Leave(reason string) error {
	c.ctrlMu.Lock()
	defer c.ctrlMu.Unlock()
	return wire.WriteFrame(c.ctrl, &wire.Drain{Reason: reason, Serving: true})
}
