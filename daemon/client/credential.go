package client

import (
	"context"
	"net/http"

	"github.com/airlockhq/airlock/daemon/apitype"
)

// ClusterCredential returns cluster name's credential for its Kubernetes
// API server, waiting while the daemon waits for a sign-in (ctx bounds the
// wait too).
func (c *Client) ClusterCredential(ctx context.Context, name string) (apitype.ClusterCredential, error) {
	var out apitype.ClusterCredential
	err := c.callBody(ctx, http.MethodPost, apitype.CredentialPath(name), nil, &out)
	return out, err
}
