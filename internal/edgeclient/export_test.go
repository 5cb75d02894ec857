package edgeclient

import (
	"context"
	"time"
)

// PacketLost exposes packetLost to the external tests.
var PacketLost = packetLost

// RememberTCP makes c's next dial go over TCP first, as on a network
// where UDP got no answer, so that its QUIC retry runs; sleep replaces the
// retry's timer.
func RememberTCP(c *Client, sleep func(ctx context.Context, d time.Duration) error) {
	c.pick.sleep = sleep
	c.pick.fellBack(networkKey(c.cfg.Addr))
}
