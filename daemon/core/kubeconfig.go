package core

import (
	"context"
	"slices"
	"time"

	"github.com/airlockhq/airlock/daemon/apitype"
	"github.com/airlockhq/airlock/daemon/config"
)

// KubeconfigSync is told when a cluster's SOCKS5 listener comes up and goes
// down, so that the user's kubeconfig follows it (the daemon's
// implementation drives daemon/kubeconfig's Syncer). It is called only for
// clusters whose configuration maps kubeconfig entries, on the core's own
// goroutine, without the core's lock; it reports back through
// [Core.SetKubeconfig].
type KubeconfigSync interface {
	// Up is called once the cluster's listener is bound and serving, with
	// its full proxy-url (socks5://USER:PASS@HOST:PORT).
	Up(ctx context.Context, c config.Cluster, proxyURL string)
	// Down is called once Disconnect has closed the listener. It is not
	// called when Run ends: the owner gives every entry back then.
	Down(ctx context.Context, name string)
}

// mapsKubeconfig reports whether the configuration maps kubeconfig entries
// to the cluster. A cluster without a kubeconfig block maps none, and the
// daemon leaves kubeconfig alone for it.
func mapsKubeconfig(c *config.Cluster) bool {
	return len(c.Kubeconfig.Clusters) > 0 || len(c.Kubeconfig.Servers) > 0
}

// kubeUp tells the kubeconfig sync that cl listens on addr, and returns the
// cluster's state after it answered.
func (c *Core) kubeUp(ctx context.Context, cl *cluster, snap apitype.Cluster) apitype.Cluster {
	if c.kube == nil || !mapsKubeconfig(&cl.cfg) || snap.ProxyURL == "" {
		return snap
	}
	c.kube.Up(ctx, cl.cfg, snap.ProxyURL)
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.snapshotLocked(cl)
}

// kubeDown tells the kubeconfig sync that cl no longer listens, and returns
// the cluster's state after it answered.
func (c *Core) kubeDown(ctx context.Context, cl *cluster, snap apitype.Cluster) apitype.Cluster {
	if c.kube == nil || !mapsKubeconfig(&cl.cfg) {
		return snap
	}
	c.kube.Down(ctx, cl.cfg.Name)
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.snapshotLocked(cl)
}

// SetKubeconfig records what the kubeconfig sync reports for cluster name
// (its Applied entries, Missing names and Problem; the mapping comes from
// the configuration) and publishes the change. It never blocks on I/O and
// ignores unknown clusters and clusters that map no kubeconfig entry.
func (c *Core) SetKubeconfig(name string, k apitype.Kubeconfig) {
	k.Clusters, k.Servers = nil, nil
	k.Applied, k.Missing, k.Problem = slices.Clone(k.Applied), slices.Clone(k.Missing), cloneProblem(k.Problem)
	c.mu.Lock()
	defer c.mu.Unlock()
	cl, ok := c.byName[name]
	if !ok || !mapsKubeconfig(&cl.cfg) {
		return
	}
	if sameKubeconfig(cl.kube, k) {
		return
	}
	cl.kube = k
	snap := c.snapshotLocked(cl)
	c.publishLocked(apitype.Event{Type: apitype.EventCluster, Time: time.Now(), Cluster: &snap})
}

func sameKubeconfig(a, b apitype.Kubeconfig) bool {
	return slices.Equal(a.Applied, b.Applied) && slices.Equal(a.Missing, b.Missing) && sameProblem(a.Problem, b.Problem)
}

// kubeconfigLocked is the cluster's kubeconfig status for a snapshot; nil
// when it maps no entry.
func kubeconfigLocked(cl *cluster) *apitype.Kubeconfig {
	if !mapsKubeconfig(&cl.cfg) {
		return nil
	}
	k := apitype.Kubeconfig{
		Clusters: slices.Clone(cl.cfg.Kubeconfig.Clusters),
		Servers:  slices.Clone(cl.cfg.Kubeconfig.Servers),
		Applied:  slices.Clone(cl.kube.Applied),
		Missing:  slices.Clone(cl.kube.Missing),
		Problem:  cloneProblem(cl.kube.Problem),
	}
	return &k
}
