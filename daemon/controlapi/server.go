// Package controlapi serves the daemon's control API: HTTP+JSON over the
// per-user unix socket, versioned paths (see apitype), handlers by name.
// Every request is checked before it reaches a handler: the peer's uid must
// be the daemon's own (403 otherwise), requests carrying Origin or Referer
// are refused (a browser cannot be tricked into driving the daemon), and so
// is any Host other than apitype.Host or localhost. Every error has the one
// shape apitype.ErrorBody.
package controlapi

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"time"

	"github.com/airlockhq/airlock/daemon/apitype"
	"github.com/airlockhq/airlock/daemon/core"
	"github.com/airlockhq/airlock/daemon/safesocket"
)

// Server is the control API over one core.
type Server struct {
	core *core.Core
	log  *slog.Logger
	uid  int
	// peerUID returns a connection's peer uid; safesocket.PeerUID.
	peerUID func(net.Conn) (int, error)
	// signIn serves /v1/login and /v1/logout; nil: no sign-in.
	signIn *signInAPI
	creds  *credentialAPI
	join   *joinAPI
}

// New returns a Server for c. Only peers running as the current user are
// served.
func New(c *core.Core, log *slog.Logger) *Server {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Server{core: c, log: log, uid: os.Getuid(), peerUID: safesocket.PeerUID}
}

type peerKey struct{}

type peer struct {
	uid int
	err error
}

// Serve serves the API on ln until ctx ends, then shuts down: open event
// streams end at once, other requests get a few seconds to finish.
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	base, cancelBase := context.WithCancel(context.Background())
	defer cancelBase()
	hs := &http.Server{
		Handler:           s.Handler(),
		ReadHeaderTimeout: 10 * time.Second,
		BaseContext:       func(net.Listener) context.Context { return base },
		ConnContext: func(ctx context.Context, c net.Conn) context.Context {
			uid, err := s.peerUID(c)
			return context.WithValue(ctx, peerKey{}, peer{uid: uid, err: err})
		},
		ErrorLog: slog.NewLogLogger(s.log.Handler(), slog.LevelDebug),
	}
	errc := make(chan error, 1)
	go func() { errc <- hs.Serve(ln) }()
	select {
	case err := <-errc:
		return fmt.Errorf("control API: %w", err)
	case <-ctx.Done():
	}
	cancelBase() // ends event streams
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	err := hs.Shutdown(sctx)
	if serr := <-errc; !errors.Is(serr, http.ErrServerClosed) && err == nil {
		err = serr
	}
	return err
}

// Handler returns the API's handler with its checks. A request whose
// connection carries no verified peer uid is refused.
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc(apitype.PathStatus, s.only(http.MethodGet, s.status))
	mux.HandleFunc(apitype.PathEvents, s.only(http.MethodGet, s.events))
	mux.HandleFunc(apitype.PathClusters+"{name}/connect", s.only(http.MethodPost, s.connect))
	mux.HandleFunc(apitype.PathClusters+"{name}/disconnect", s.only(http.MethodPost, s.disconnect))
	mux.HandleFunc(apitype.PathClusters+"{name}/credential", s.only(http.MethodPost, s.credential))
	mux.HandleFunc(apitype.PathLogin, s.only(http.MethodPost, s.login))
	mux.HandleFunc(apitype.PathLogout, s.only(http.MethodPost, s.logout))
	mux.HandleFunc(apitype.PathJoin, s.only(http.MethodPost, s.joinHandler))
	mux.HandleFunc(apitype.PathSync, s.only(http.MethodPost, s.syncHandler))
	mux.HandleFunc(apitype.PathLeave, s.only(http.MethodPost, s.leaveHandler))
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, http.StatusNotFound, apitype.CodeNotFound, "no such API path: "+r.URL.Path)
	})
	return s.check(mux)
}

// check refuses other users, browsers and unexpected hosts.
func (s *Server) check(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p, ok := r.Context().Value(peerKey{}).(peer)
		switch {
		case !ok || p.err != nil:
			s.log.Warn("control API: refused a peer whose uid is unknown", "err", p.err)
			writeError(w, http.StatusForbidden, apitype.CodeForbidden, "cannot verify the caller's user id")
			return
		case p.uid != s.uid:
			s.log.Warn("control API: refused another user", "peer_uid", p.uid, "uid", s.uid)
			writeError(w, http.StatusForbidden, apitype.CodeForbidden, fmt.Sprintf("uid %d may not use the daemon of uid %d", p.uid, s.uid))
			return
		case r.Header.Get("Origin") != "" || r.Header.Get("Referer") != "":
			s.log.Warn("control API: refused a browser-style request", "origin", r.Header.Get("Origin"))
			writeError(w, http.StatusForbidden, apitype.CodeForbidden, "requests with Origin or Referer are refused")
			return
		case r.Host != apitype.Host && r.Host != "localhost":
			writeError(w, http.StatusForbidden, apitype.CodeForbidden, fmt.Sprintf("unexpected Host %q", r.Host))
			return
		}
		s.log.Debug("control API request", "method", r.Method, "path", r.URL.Path)
		next.ServeHTTP(w, r)
	})
}

func (s *Server) only(method string, h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if r.Method != method {
			w.Header().Set("Allow", method)
			writeError(w, http.StatusMethodNotAllowed, apitype.CodeMethodNotAllowed, r.Method+" is not allowed here; use "+method)
			return
		}
		h(w, r)
	}
}

func (s *Server) status(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, s.core.Status())
}

func (s *Server) connect(w http.ResponseWriter, r *http.Request) {
	cl, err := s.core.Connect(r.Context(), r.PathValue("name"))
	s.toggled(r, cl, err, true)
	s.clusterReply(w, cl, err)
}

func (s *Server) disconnect(w http.ResponseWriter, r *http.Request) {
	cl, err := s.core.Disconnect(r.Context(), r.PathValue("name"))
	s.toggled(r, cl, err, false)
	s.clusterReply(w, cl, err)
}

// toggled tells the join part that the person turned a cluster on or off,
// so that a joined edge's cluster stays so across syncs and restarts.
func (s *Server) toggled(r *http.Request, cl apitype.Cluster, err error, on bool) {
	if s.join == nil || s.join.toggle == nil || (err != nil && cl.Name == "") {
		return
	}
	if terr := s.join.toggle(r.Context(), r.PathValue("name"), on); terr != nil {
		s.log.Warn("cannot remember the cluster's toggle", "cluster", r.PathValue("name"), "err", terr)
	}
}

func (s *Server) clusterReply(w http.ResponseWriter, cl apitype.Cluster, err error) {
	switch {
	case err == nil:
		writeJSON(w, http.StatusOK, cl)
	case errors.Is(err, core.ErrUnknownCluster):
		writeError(w, http.StatusNotFound, apitype.CodeNotFound, err.Error())
	case errors.Is(err, core.ErrNotRunning):
		writeError(w, http.StatusServiceUnavailable, apitype.CodeUnavailable, err.Error())
	case cl.State == apitype.StateError:
		writeError(w, http.StatusConflict, apitype.CodeConflict, err.Error())
	default:
		writeError(w, http.StatusInternalServerError, apitype.CodeInternal, err.Error())
	}
}

// events streams JSON lines: a full status first, then each change.
func (s *Server) events(w http.ResponseWriter, r *http.Request) {
	sub := s.core.Subscribe()
	defer sub.Close()
	w.Header().Set("Content-Type", "application/x-ndjson")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusOK)
	rc := http.NewResponseController(w)
	enc := json.NewEncoder(w)
	for {
		ev, err := sub.Next(r.Context())
		if err != nil {
			return
		}
		if err := enc.Encode(ev); err != nil {
			return
		}
		if err := rc.Flush(); err != nil {
			return
		}
	}
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}

func writeError(w http.ResponseWriter, status int, code, msg string) {
	writeJSON(w, status, apitype.ErrorBody{Error: apitype.ErrorDetail{Code: code, Message: msg}})
}
