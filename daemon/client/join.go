package client

import (
	"context"
	"encoding/json"
	"net/http"

	"github.com/airlockhq/airlock/daemon/apitype"
)

// Join joins an edge (see apitype.JoinRequest): the daemon writes its
// configuration, signs the person in (the call waits for that: give ctx
// room), fetches the catalogue and writes the kubeconfig entries.
func (c *Client) Join(ctx context.Context, req apitype.JoinRequest) (*apitype.JoinResult, error) {
	var out apitype.JoinResult
	return &out, c.post(ctx, apitype.PathJoin, req, &out)
}

// Sync re-fetches the joined edges' catalogues now (req.Edge: one).
func (c *Client) Sync(ctx context.Context, req apitype.SyncRequest) (*apitype.SyncResult, error) {
	var out apitype.SyncResult
	return &out, c.post(ctx, apitype.PathSync, req, &out)
}

// Leave leaves a joined edge: its kubeconfig entries, sign-in, catalogue
// and configuration go.
func (c *Client) Leave(ctx context.Context, req apitype.LeaveRequest) (*apitype.LeaveResult, error) {
	var out apitype.LeaveResult
	return &out, c.post(ctx, apitype.PathLeave, req, &out)
}

func (c *Client) post(ctx context.Context, path string, req, out any) error {
	body, err := json.Marshal(req)
	if err != nil {
		return err
	}
	return c.callBody(ctx, http.MethodPost, path, body, out)
}
