package daemon

import (
	"context"
	"fmt"

	"github.com/airlockhq/airlock/daemon/apitype"
	"github.com/airlockhq/airlock/daemon/config"
	"github.com/airlockhq/airlock/daemon/core"
)

// clustersByName indexes cfg's clusters.
func clustersByName(cfg *config.Config) map[string]config.Cluster {
	m := make(map[string]config.Cluster, len(cfg.Clusters))
	for _, c := range cfg.Clusters {
		m[c.Name] = c
	}
	return m
}

// ClusterCredential implements controlapi.Credentials: the credential of
// cluster name's Kubernetes API server from its edge's sign-in
// (signin.Manager.ClusterCredential), never the token its streams carry.
func (p *signInPart) ClusterCredential(ctx context.Context, name string) (apitype.ClusterCredential, error) {
	p.mu.Lock()
	c, ok := p.clusters[name]
	p.mu.Unlock()
	switch {
	case !ok:
		return apitype.ClusterCredential{}, fmt.Errorf("%w: %q", core.ErrUnknownCluster, name)
	case !c.UsesSignIn():
		return apitype.ClusterCredential{}, fmt.Errorf("cluster %s uses a service token, not a sign-in: it has no credential of the person's own", name)
	}
	m := p.manager(c.Edge)
	if m == nil {
		return apitype.ClusterCredential{}, fmt.Errorf("edge %s of cluster %s has no sign-in (the configuration changed?)", c.Edge, name)
	}
	cred, err := m.ClusterCredential(ctx, c.App)
	if err != nil {
		return apitype.ClusterCredential{}, fmt.Errorf("cluster %s: %w", name, err)
	}
	return apitype.ClusterCredential{Cluster: name, Edge: c.Edge, Token: cred.Token, Expires: cred.Expires}, nil
}
