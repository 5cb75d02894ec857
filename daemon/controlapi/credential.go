package controlapi

import (
	"context"
	"errors"
	"net/http"

	"github.com/airlockhq/airlock/daemon/apitype"
)

// Credentials gives clusters' credentials for their Kubernetes API
// servers, served at apitype.CredentialPath (the daemon's sign-in).
type Credentials interface {
	ClusterCredential(ctx context.Context, cluster string) (apitype.ClusterCredential, error)
}

type credentialAPI struct {
	c        Credentials
	notFound error
}

// SetCredentials serves cluster credentials through c; call it before
// Serve. notFound is c's error for an unknown cluster (404), matched with
// errors.Is; every other error is 409 with its message (the cause: no
// OIDC identity for the cluster, a refused or timed-out sign-in).
func (s *Server) SetCredentials(c Credentials, notFound error) {
	s.creds = &credentialAPI{c: c, notFound: notFound}
}

func (s *Server) credential(w http.ResponseWriter, r *http.Request) {
	if s.creds == nil {
		writeError(w, http.StatusConflict, apitype.CodeConflict, "no cluster uses sign-in (every cluster has a service token)")
		return
	}
	cred, err := s.creds.c.ClusterCredential(r.Context(), r.PathValue("name"))
	switch {
	case err == nil:
		w.Header().Set("Cache-Control", "no-store")
		writeJSON(w, http.StatusOK, cred)
	case s.creds.notFound != nil && errors.Is(err, s.creds.notFound):
		writeError(w, http.StatusNotFound, apitype.CodeNotFound, err.Error())
	case r.Context().Err() != nil:
		writeError(w, http.StatusServiceUnavailable, apitype.CodeUnavailable, err.Error())
	default:
		writeError(w, http.StatusConflict, apitype.CodeConflict, err.Error())
	}
}
