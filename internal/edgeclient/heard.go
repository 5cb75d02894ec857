package edgeclient

import (
	"sync/atomic"
	"time"

	"github.com/airlockhq/airlock/internal/transport"
)

// QuietAfter is how long a connection may hear nothing from its edge
// before it counts as quiet: not "connected" in State, and probed on a
// fresh path (migrate.go). Keep-alives (DefaultKeepAlive) and their
// acknowledgements make a live idle connection hear its edge about once a
// second.
const QuietAfter = 2500 * time.Millisecond

// heard tracks when a packet last arrived on a connection, from quic-go's
// packet counter sampled by the connection's watcher.
type heard struct {
	qc      transport.Conn
	packets atomic.Uint64
	at      atomic.Int64 // Unix nanoseconds of the last sample that saw a new packet
}

func (h *heard) start(qc transport.Conn) {
	h.qc = qc
	h.packets.Store(qc.Stats().Received)
	h.at.Store(time.Now().UnixNano())
}

// sample notes whether packets arrived since the last sample and returns
// how long the connection has heard nothing.
func (h *heard) sample(now time.Time) time.Duration {
	if n := h.qc.Stats().Received; n != h.packets.Load() {
		h.packets.Store(n)
		h.at.Store(now.UnixNano())
	}
	return now.Sub(h.last())
}

func (h *heard) last() time.Time { return time.Unix(0, h.at.Load()) }

// Quiet returns how long the connection has heard nothing from the edge,
// as of its watcher's last look (every watchTick).
func (c *Conn) Quiet() time.Duration { return time.Since(c.heard.last()) }

// Dropped returns how many packets the kernel refused to send on this
// connection (counted as lost, not as a failure of the connection).
func (c *Conn) Dropped() uint64 {
	if c.paths == nil {
		return 0
	}
	return c.paths.dropped.Load()
}
