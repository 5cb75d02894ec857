package edge

import (
	"sync/atomic"

	"github.com/airlockhq/airlock/internal/token"
	"github.com/airlockhq/airlock/internal/wire"
)

// checker is the per-stream check: app lookup, token, revocation and
// policy. It is what BenchmarkStreamCheck measures.
type checker struct {
	snap     atomic.Pointer[snapshot]
	verifier *token.Verifier
	access   accessChecker // revoked sign-ins and removed users; nil: none
}

// check returns the app's route and the token's claims, or a *wire.Error
// that names the cause: CodeUnknownApp, CodeUnauthenticated or
// CodeForbidden. Claims are returned with a forbidden refusal, for the audit.
func (c *checker) check(open *wire.Open) (*route, *token.Claims, error) {
	snap := c.snap.Load()
	rt := snap.lookup(open.App)
	if rt == nil {
		return nil, nil, wire.Errorf(wire.CodeUnknownApp, "no app %s at this edge", open.App)
	}
	if open.Token == "" {
		return rt, nil, wire.Errorf(wire.CodeUnauthenticated, "no token for app %s: sign in, or use a service token", rt.app)
	}
	claims, err := c.verifier.Verify(open.Token, rt.app)
	if err != nil {
		return rt, nil, wire.Errorf(wire.CodeUnauthenticated, "%v", err)
	}
	if claims.Kind == token.KindService {
		if err := snap.denied.check(claims); err != nil {
			return rt, claims, err
		}
	}
	if c.access != nil {
		if err := c.access.CheckAccess(claims); err != nil {
			return rt, claims, accessError(err)
		}
	}
	if err := rt.policy.check(claims.EmailKey(), claims.Groups); err != nil {
		return rt, claims, err
	}
	return rt, claims, nil
}
