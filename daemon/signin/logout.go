package signin

import (
	"context"
	"errors"
	"time"

	"github.com/airlockhq/airlock/daemon/apitype"
	"github.com/airlockhq/airlock/daemon/keychain"
)

// revokeTimeout bounds the revocation call of a logout: the edge may be
// unreachable, and logging out must work anyway.
const revokeTimeout = 5 * time.Second

// everywhere is a store that can delete from every place it keeps values
// (keychain.Auto).
type everywhere interface {
	DeleteEverywhere(ctx context.Context, key string) error
}

// logout ends a sign-in in progress, revokes the refresh token at the edge
// if it answers, deletes it from every store and drops the tokens in
// memory.
func (e *edgeState) logout(ctx context.Context) error {
	e.mu.Lock()
	if f := e.flight; f != nil {
		f.cancel(errLoggedOut)
	}
	e.mu.Unlock()

	e.refreshMu.Lock()
	if !e.rtLoaded {
		e.loadRefreshLocked(ctx)
	}
	rt := e.rt
	e.rt, e.rtLoaded = "", true
	e.hasRT.Store(false)
	e.access.Store(nil)
	e.apps.clear()
	var derr error
	if ds, ok := e.m.store.(everywhere); ok {
		derr = ds.DeleteEverywhere(ctx, e.key)
	} else if err := e.m.store.Delete(ctx, e.key); err != nil && !errors.Is(err, keychain.ErrNotFound) {
		derr = err
	}
	e.refreshMu.Unlock()

	revoked := false
	if rt != "" {
		rctx, cancel := context.WithTimeout(ctx, revokeTimeout)
		meta, err := e.metadata(rctx)
		if err == nil {
			err = revoke(rctx, e.hc, meta, rt)
		}
		cancel()
		if err != nil {
			e.log.Warn("could not revoke the refresh token at the edge; it is deleted here anyway", "err", err)
		} else {
			revoked = true
		}
	}
	e.mu.Lock()
	e.problem = nil
	e.lastBrowser = time.Time{} // the next sign-in may open the browser at once
	e.mu.Unlock()
	e.forgetIdentity()
	e.wakeRenewal()
	if derr != nil {
		e.log.Warn("signed out, but the token store failed", "err", derr)
		return errorf(e.name, apitype.SignInStoreFailed, derr, "signed out, but the stored refresh token could not be deleted")
	}
	e.log.Info("signed out", "revoked_at_edge", revoked)
	return nil
}
