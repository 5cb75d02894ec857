package edgeclient

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/airlockhq/airlock/internal/wire"
)

const (
	// watchTick is how often a connection's watcher samples its packet
	// counter and asks the kernel which local address routes to the edge.
	watchTick = 250 * time.Millisecond
	// routeRecheck is how often the watcher asks the kernel for the route
	// without a netlink event (every tick would cost a socket each time).
	routeRecheck = time.Second
	// probeTimeout bounds the validation of a new path: quic-go sends
	// PATH_CHALLENGE at 0, 200, 600, 1400 and 3000 ms. Five tries, not
	// four: a network that just came up may lose the first ones (neighbour
	// discovery, a Wi-Fi association finishing, a loaded machine), and a
	// failed probe closes the connection with every stream on it. Still
	// inside the idle timeout, which ends a connection that has no path.
	probeTimeout = 3500 * time.Millisecond
)

// errPathLost closes a connection whose migration failed: the next stream
// dials a new connection at once rather than waiting out the idle timeout.
var errPathLost = errors.New("no working path to the edge")

// watch follows the machine's network for the connection's lifetime: when
// the local address that routes to the edge changes (a netlink event on
// Linux, a periodic check anywhere) or the current path goes quiet, it
// probes a path from the address the kernel now picks and moves the
// connection to it (QUIC connection migration), so that open streams carry
// on. When the probe fails the connection is closed so that the next
// stream dials afresh.
func (c *Conn) watch(log *slog.Logger) {
	ctx := c.qc.Context()
	events := watchNetwork(ctx, log)
	tick := time.NewTicker(watchTick)
	defer tick.Stop()
	var lastRoute time.Time
	probedQuiet := false // a quiet path is probed once until it is heard again
	for {
		reason := ""
		select {
		case <-ctx.Done():
			return
		case <-events:
			reason = "network changed"
		case now := <-tick.C:
			quiet := c.heard.sample(now) > QuietAfter
			switch {
			case quiet && !probedQuiet:
				reason, probedQuiet = "path quiet", true
			case !quiet:
				probedQuiet = false
			}
			if reason == "" && now.Sub(lastRoute) >= routeRecheck {
				reason = "route check"
			}
		}
		lastRoute = time.Now()
		if err := c.follow(ctx, reason); err != nil {
			c.log.Warn("connection migration failed; closing the connection so that the next stream dials again", "reason", reason, "err", err)
			c.Close(wire.CodeGoingAway, "no working path")
			return
		}
	}
}

// follow migrates the connection when the kernel now routes the edge from
// another local address, or when the path is quiet (a fresh socket from the
// same address: a NAT that forgot us answers there). It returns an error
// only when the connection should be given up.
func (c *Conn) follow(ctx context.Context, reason string) error {
	src, err := routeSource(c.paths.raddr)
	if err != nil {
		// No route at all for now: the path will go quiet, and the idle
		// timeout ends the connection if no route comes back.
		return nil
	}
	cur := c.paths.current()
	if src.IP.Equal(cur.IP) && reason != "path quiet" {
		return nil
	}
	if c.paths.count() >= maxPaths {
		return fmt.Errorf("%w: %d paths used", errPathLost, maxPaths)
	}
	tr, local, err := c.paths.add()
	if err != nil {
		return fmt.Errorf("%w: %w", errPathLost, err)
	}
	path, err := c.qc.AddPath(tr)
	if err != nil {
		return fmt.Errorf("%w: %w", errPathLost, err)
	}
	start := time.Now()
	pctx, cancel := context.WithTimeout(ctx, probeTimeout)
	err = path.Probe(pctx)
	cancel()
	if err == nil {
		err = path.Switch()
	}
	if err != nil {
		path.Close()
		return fmt.Errorf("%w: probe from %s: %w", errPathLost, local, err)
	}
	c.paths.switched(local)
	c.migrations.Add(1)
	c.log.Info("connection migrated", "reason", reason, "from", cur.String(), "to", local.String(),
		"probe", time.Since(start).Round(time.Millisecond))
	return nil
}

// Migrations returns how many times the connection moved to a new path.
func (c *Conn) Migrations() uint64 { return c.migrations.Load() }
