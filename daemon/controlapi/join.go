package controlapi

import (
	"context"
	"errors"
	"net/http"

	"github.com/airlockhq/airlock/daemon/apitype"
)

// Join is the daemon's joining of edges, served at /v1/join, /v1/sync and
// /v1/leave.
type Join interface {
	Join(ctx context.Context, req apitype.JoinRequest) (apitype.JoinResult, error)
	Sync(ctx context.Context, req apitype.SyncRequest) (apitype.SyncResult, error)
	Leave(ctx context.Context, req apitype.LeaveRequest) (apitype.LeaveResult, error)
}

type joinAPI struct {
	j         Join
	notJoined error
	toggle    func(ctx context.Context, cluster string, on bool) error
}

// SetJoin serves joining through j; notJoined is j's error for an edge
// that is not joined (404). When j also has SetEnabled(ctx, cluster, on),
// connect and disconnect call it: the person's toggle of a joined edge's
// cluster is remembered. Call it before Serve.
func (s *Server) SetJoin(j Join, notJoined error) {
	s.join = &joinAPI{j: j, notJoined: notJoined}
	if t, ok := j.(interface {
		SetEnabled(ctx context.Context, cluster string, on bool) error
	}); ok {
		s.join.toggle = t.SetEnabled
	}
}

func (s *Server) joinHandler(w http.ResponseWriter, r *http.Request) {
	serveJoin(s, w, r, func(ctx context.Context, req apitype.JoinRequest) (apitype.JoinResult, error) {
		return s.join.j.Join(ctx, req)
	})
}

func (s *Server) syncHandler(w http.ResponseWriter, r *http.Request) {
	serveJoin(s, w, r, func(ctx context.Context, req apitype.SyncRequest) (apitype.SyncResult, error) {
		return s.join.j.Sync(ctx, req)
	})
}

func (s *Server) leaveHandler(w http.ResponseWriter, r *http.Request) {
	serveJoin(s, w, r, func(ctx context.Context, req apitype.LeaveRequest) (apitype.LeaveResult, error) {
		return s.join.j.Leave(ctx, req)
	})
}

// JoinFailure is the error body of a join, sync or leave that did part of
// its work: Result is what was done.
type JoinFailure[Res any] struct {
	Error  apitype.ErrorDetail `json:"error"`
	Result Res                 `json:"result"`
}

func serveJoin[Req, Res any](s *Server, w http.ResponseWriter, r *http.Request, call func(context.Context, Req) (Res, error)) {
	if s.join == nil {
		writeError(w, http.StatusConflict, apitype.CodeConflict, "this daemon does not join edges")
		return
	}
	var req Req
	if err := decodeBody(r, &req); err != nil {
		writeError(w, http.StatusBadRequest, apitype.CodeBadRequest, err.Error())
		return
	}
	res, err := call(r.Context(), req)
	switch {
	case err == nil:
		writeJSON(w, http.StatusOK, res)
	case s.join.notJoined != nil && errors.Is(err, s.join.notJoined):
		writeError(w, http.StatusNotFound, apitype.CodeNotFound, err.Error())
	default:
		writeJSON(w, http.StatusConflict, JoinFailure[Res]{Error: apitype.ErrorDetail{Code: apitype.CodeConflict, Message: err.Error()}, Result: res})
	}
}
