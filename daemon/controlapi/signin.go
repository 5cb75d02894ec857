package controlapi

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"

	"github.com/airlockhq/airlock/daemon/apitype"
)

// SignIn is the daemon's sign-in, served at /v1/login and /v1/logout
// (daemon/signin.Manager).
type SignIn interface {
	Login(ctx context.Context, req apitype.LoginRequest) ([]apitype.SignIn, error)
	Logout(ctx context.Context, req apitype.LogoutRequest) ([]apitype.SignIn, error)
}

type signInAPI struct {
	si             SignIn
	notFound, none error
}

// SetSignIn serves sign-in through si; call it before Serve. notFound and
// none are si's errors for an unknown edge (404) and for no sign-in at all
// (409), matched with errors.Is (controlapi stays free of daemon/signin).
func (s *Server) SetSignIn(si SignIn, notFound, none error) {
	s.signIn = &signInAPI{si: si, notFound: notFound, none: none}
}

// maxBody bounds a request body: a small JSON object.
const maxBody = 64 << 10

// decodeBody reads an optional JSON body strictly into v.
func decodeBody(r *http.Request, v any) error {
	data, err := io.ReadAll(io.LimitReader(r.Body, maxBody+1))
	if err != nil {
		return fmt.Errorf("read the request: %w", err)
	}
	if len(data) > maxBody {
		return fmt.Errorf("request body is over %d bytes", maxBody)
	}
	if len(data) == 0 {
		return nil
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return fmt.Errorf("request body: %w", err)
	}
	if dec.More() {
		return errors.New("request body: trailing data")
	}
	return nil
}

func (s *Server) login(w http.ResponseWriter, r *http.Request) {
	serveSignIn(s, w, r, func(ctx context.Context, req apitype.LoginRequest) ([]apitype.SignIn, error) {
		return s.signIn.si.Login(ctx, req)
	})
}

func (s *Server) logout(w http.ResponseWriter, r *http.Request) {
	serveSignIn(s, w, r, func(ctx context.Context, req apitype.LogoutRequest) ([]apitype.SignIn, error) {
		return s.signIn.si.Logout(ctx, req)
	})
}

// serveSignIn decodes the request body into a Req and answers with what
// call returns.
func serveSignIn[Req any](s *Server, w http.ResponseWriter, r *http.Request, call func(context.Context, Req) ([]apitype.SignIn, error)) {
	if !s.signInReady(w) {
		return
	}
	var req Req
	if err := decodeBody(r, &req); err != nil {
		writeError(w, http.StatusBadRequest, apitype.CodeBadRequest, err.Error())
		return
	}
	list, err := call(r.Context(), req)
	s.signInReply(w, list, err)
}

func (s *Server) signInReady(w http.ResponseWriter) bool {
	if s.signIn == nil {
		writeError(w, http.StatusConflict, apitype.CodeConflict, "no cluster uses sign-in (every cluster has a service token)")
		return false
	}
	return true
}

func (s *Server) signInReply(w http.ResponseWriter, list []apitype.SignIn, err error) {
	switch {
	case err == nil:
		writeJSON(w, http.StatusOK, apitype.SignInList{SignIns: list})
	case s.signIn.notFound != nil && errors.Is(err, s.signIn.notFound):
		writeError(w, http.StatusNotFound, apitype.CodeNotFound, err.Error())
	case s.signIn.none != nil && errors.Is(err, s.signIn.none):
		writeError(w, http.StatusConflict, apitype.CodeConflict, err.Error())
	case list != nil:
		// Done, with a problem (logout could not delete everywhere).
		writeError(w, http.StatusConflict, apitype.CodeConflict, err.Error())
	default:
		writeError(w, http.StatusInternalServerError, apitype.CodeInternal, err.Error())
	}
}
