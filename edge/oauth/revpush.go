package oauth

import (
	"context"
	"errors"
)

// RevocationWatcher is a store that pushes the refresh token families
// revoked by any edge sharing it (the PostgreSQL store, LISTEN/NOTIFY):
// [Server.Run] adds each one to the per-stream revoked set as it comes,
// instead of at its refresh every minute. It has only standard types, so
// that a store need not import this package to offer it.
type RevocationWatcher interface {
	// WatchRevocations calls revoked with each family revoked from the
	// time listening (may be nil) is called until ctx ends; both run on
	// its goroutine and must not block. It returns ctx's cause, or an
	// error when the store cannot push.
	WatchRevocations(ctx context.Context, revoked func(familyID string), listening func()) error
}

// watchRevocations runs the store's push, if it has one, until ctx ends.
func (s *Server) watchRevocations(ctx context.Context) {
	w, ok := s.store.(RevocationWatcher)
	if !ok {
		return
	}
	err := w.WatchRevocations(ctx, s.revokePushed, func() {
		s.log.Debug("listening for the revocations of other edges")
	})
	if err != nil && ctx.Err() == nil && !errors.Is(err, context.Cause(ctx)) {
		s.log.Warn("no revocation push from the store: revocations at other edges apply here at the refresh every minute", "err", err)
	}
}

// revokePushed adds a family the store pushed to the revoked set, unless
// it is there already (a catch-up after a reconnection repeats ids).
func (s *Server) revokePushed(id string) {
	if id == "" {
		return
	}
	if _, ok := s.revs.Load().families[id]; ok {
		return
	}
	s.revoke(id)
	s.log.Info("a refresh token family revoked in the shared store (pushed)")
}
