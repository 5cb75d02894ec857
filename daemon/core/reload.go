package core

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/airlockhq/airlock/daemon/apitype"
	"github.com/airlockhq/airlock/daemon/config"
	"golang.org/x/sync/errgroup"
)

// Changes is what a Reload changed, by cluster and edge name.
type Changes struct {
	// Added clusters are new; Removed ones are gone (their listeners
	// closed, their kubeconfig entries given back).
	Added, Removed []string
	// Restarted clusters changed their app, edge, listen address or token
	// (or their edge changed): a listening one was closed and opened anew.
	Restarted []string
	// Updated clusters changed only in place (autoconnect, kubeconfig
	// mapping): their listeners and streams were left alone.
	Updated []string
	// Edges added, removed, and changed (address, CA or server name: a new
	// link).
	EdgesAdded, EdgesRemoved, EdgesChanged []string
}

// Empty reports whether nothing changed.
func (ch Changes) Empty() bool {
	return len(ch.Added)+len(ch.Removed)+len(ch.Restarted)+len(ch.Updated)+
		len(ch.EdgesAdded)+len(ch.EdgesRemoved)+len(ch.EdgesChanged) == 0
}

// Reload validates cfg and makes it the core's configuration, changing
// only what differs: new clusters are added (and connected when they
// autoconnect), removed ones disconnected (kubeconfig given back), a
// cluster whose app, edge, listen address or token changed is restarted if
// it was listening, and one that changed only its autoconnect or
// kubeconfig mapping is updated in place. A new or changed edge gets a new
// link; a removed or replaced link is closed once no cluster uses it.
// Clusters that did not change keep their listeners and open streams. A
// successful Reload clears the configuration error (SetConfigError) and
// publishes a full EventStatus besides each cluster's events. An invalid
// cfg changes nothing and returns its *config.Error.
func (c *Core) Reload(ctx context.Context, cfg *config.Config) (Changes, error) {
	if cfg == nil {
		return Changes{}, fmt.Errorf("core: no configuration")
	}
	if err := cfg.Validate(); err != nil {
		return Changes{}, err
	}
	res, err := c.send(ctx, request{reload: cfg})
	if err != nil {
		return Changes{}, err
	}
	return res.changes, res.err
}

// SetConfigError records that the configuration file does not load (nil:
// it does again) for Status, and publishes a full EventStatus when that
// changes.
func (c *Core) SetConfigError(e *apitype.ConfigError) {
	if e != nil {
		cp := *e
		cp.Problems = slices.Clone(e.Problems)
		e = &cp
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if sameConfigError(c.configErr, e) {
		return
	}
	c.configErr = e
	c.publishStatusLocked()
}

func sameConfigError(a, b *apitype.ConfigError) bool {
	if a == nil || b == nil {
		return a == b
	}
	return a.Path == b.Path && a.Message == b.Message
}

// publishStatusLocked sends every subscriber the full status.
func (c *Core) publishStatusLocked() {
	st := c.statusLocked()
	c.publishLocked(apitype.Event{Type: apitype.EventStatus, Time: time.Now(), Status: &st})
}

// sameEdgeLink reports whether a and b make the same link.
func sameEdgeLink(a, b *config.Edge) bool {
	return slices.Equal(a.Addresses, b.Addresses) && a.Address == b.Address && a.CA == b.CA && a.ServerName == b.ServerName
}

// needsRestart reports whether a cluster's listener must be reopened to
// serve b instead of a.
func needsRestart(a, b *config.Cluster) bool {
	return a.App != b.App || a.Edge != b.Edge || a.Listen != b.Listen || a.ListenFallback != b.ListenFallback ||
		a.Token != b.Token || a.TokenFile != b.TokenFile
}

// sameInPlace reports whether what can change without a restart is equal.
func sameInPlace(a, b *config.Cluster) bool {
	return a.AutoconnectEnabled() == b.AutoconnectEnabled() && sameMapping(a, b)
}

func sameMapping(a, b *config.Cluster) bool {
	return slices.Equal(a.Kubeconfig.Clusters, b.Kubeconfig.Clusters) && slices.Equal(a.Kubeconfig.Servers, b.Kubeconfig.Servers)
}

// apply runs on Run's goroutine: it is the only writer of the cluster set.
func (c *Core) apply(ctx context.Context, g *errgroup.Group, cfg *config.Config) (Changes, error) {
	var ch Changes
	old := c.cfg

	// Edges: keep the links whose settings are unchanged.
	edges := map[string]Edge{}
	var closing []Edge
	changedEdge := map[string]bool{}
	for i := range cfg.Edges {
		e := &cfg.Edges[i]
		oe := old.Edge(e.Name)
		switch {
		case oe != nil && sameEdgeLink(oe, e):
			edges[e.Name] = c.edges[e.Name]
		case oe != nil:
			ch.EdgesChanged = append(ch.EdgesChanged, e.Name)
			changedEdge[e.Name] = true
			closing = append(closing, c.edges[e.Name])
			edges[e.Name] = c.newEdge(*e, c.log.With("edge", e.Name))
		default:
			ch.EdgesAdded = append(ch.EdgesAdded, e.Name)
			edges[e.Name] = c.newEdge(*e, c.log.With("edge", e.Name))
		}
	}
	for _, oe := range old.Edges {
		if cfg.Edge(oe.Name) == nil {
			ch.EdgesRemoved = append(ch.EdgesRemoved, oe.Name)
			closing = append(closing, c.edges[oe.Name])
		}
	}

	// Clusters: what becomes of each old one.
	type plan struct {
		old     *cluster
		restart bool // a new cluster object replaces old
		update  bool // old's configuration changes in place
		wasUp   bool
	}
	plans := map[string]*plan{}
	for _, cl := range c.clusters {
		nc := cfg.Cluster(cl.cfg.Name)
		p := &plan{old: cl, wasUp: c.listening(cl)}
		switch {
		case nc == nil:
			ch.Removed = append(ch.Removed, cl.cfg.Name)
			if p.wasUp {
				c.kubeDown(ctx, cl, c.disconnect(cl))
			}
			continue
		case needsRestart(&cl.cfg, nc) || changedEdge[nc.Edge]:
			p.restart = true
			ch.Restarted = append(ch.Restarted, nc.Name)
			if p.wasUp {
				c.log.Info("configuration changed: restarting the cluster's listener", "cluster", nc.Name)
				c.kubeDown(ctx, cl, c.disconnect(cl))
			}
		case !sameInPlace(&cl.cfg, nc):
			p.update = true
			ch.Updated = append(ch.Updated, nc.Name)
			if p.wasUp && !mapsKubeconfig(nc) {
				c.kubeDown(ctx, cl, c.snapshot(cl))
			}
		}
		plans[nc.Name] = p
	}

	// The new set, swapped in under the lock.
	c.mu.Lock()
	hadErr := c.configErr != nil
	c.cfg, c.edges = cfg, edges
	var clusters []*cluster
	byName := map[string]*cluster{}
	var start []*cluster // to connect once swapped in
	var remap []*cluster // listening, with a new kubeconfig mapping
	var errs []error
	for _, cc := range cfg.Clusters {
		p := plans[cc.Name]
		var cl *cluster
		switch {
		case p == nil:
			ch.Added = append(ch.Added, cc.Name)
			n, err := c.newCluster(cc, "", "")
			if err != nil {
				errs = append(errs, fmt.Errorf("cluster %s: %w", cc.Name, err))
				continue
			}
			cl = n
			if cc.AutoconnectEnabled() {
				start = append(start, cl)
			}
		case p.restart:
			// The same SOCKS credentials: a proxy-url a user copied keeps
			// working when only the app or token changed.
			n, _ := c.newCluster(cc, p.old.user, p.old.pass)
			cl = n
			if p.wasUp {
				start = append(start, cl)
			}
		default:
			cl = p.old
			if !p.update {
				cl.cfg = cc // line numbers may have moved
			} else {
				if !sameMapping(&cl.cfg, &cc) {
					cl.kube = apitype.Kubeconfig{}
					if p.wasUp && mapsKubeconfig(&cc) {
						remap = append(remap, cl)
					}
				}
				cl.cfg = cc
				snap := c.snapshotLocked(cl)
				c.publishLocked(apitype.Event{Type: apitype.EventCluster, Time: time.Now(), Cluster: &snap})
			}
		}
		clusters = append(clusters, cl)
		byName[cc.Name] = cl
	}
	c.clusters, c.byName = clusters, byName
	c.configErr = nil
	c.mu.Unlock()

	for _, e := range closing {
		e.Close()
	}
	for _, cl := range remap {
		c.kubeUp(ctx, cl, c.snapshot(cl))
	}
	for _, cl := range start {
		if _, err := c.connect(ctx, g, cl); err != nil {
			c.log.Warn("connecting a cluster after a configuration change failed", "cluster", cl.cfg.Name, "err", err)
		}
	}
	if !ch.Empty() || hadErr {
		c.mu.Lock()
		c.publishStatusLocked()
		c.mu.Unlock()
	}
	if !ch.Empty() {
		c.log.Info("configuration reloaded", "added", ch.Added, "removed", ch.Removed, "restarted", ch.Restarted,
			"updated", ch.Updated, "edges_added", ch.EdgesAdded, "edges_removed", ch.EdgesRemoved, "edges_changed", ch.EdgesChanged)
	}
	if len(errs) > 0 {
		return ch, fmt.Errorf("reload: %w", errors.Join(errs...))
	}
	return ch, nil
}

// snapshot is snapshotLocked with the lock.
func (c *Core) snapshot(cl *cluster) apitype.Cluster {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.snapshotLocked(cl)
}
