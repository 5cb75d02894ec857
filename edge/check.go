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
	if err := c.revoked(snap, claims); err != nil {
		return rt, claims, err
	}
	if err := rt.policy.check(claims.EmailKey(), claims.Groups); err != nil {
		return rt, claims, err
	}
	return rt, claims, nil
}

// revoked is the check of a verified token against the revoked service
// tokens of snap and the revoked sign-ins and removed users.
func (c *checker) revoked(snap *snapshot, claims *token.Claims) error {
	if claims.Kind == token.KindService {
		if err := snap.denied.check(claims); err != nil {
			return err
		}
	}
	if c.access != nil {
		if err := c.access.CheckAccess(claims); err != nil {
			return accessError(err)
		}
	}
	return nil
}

// person is the per-stream check of a person's access token from sign-in
// that is not for one app (the catalogue): a signature by the edge's
// keys, unexpired, for any app of snap, of kind access, its sign-in not
// revoked and its user not removed. The policy is for the caller to
// apply, app by app, with [policy.check].
func (c *checker) person(tok string) (*snapshot, *token.Claims, error) {
	snap := c.snap.Load()
	if tok == "" {
		return snap, nil, wire.Errorf(wire.CodeUnauthenticated, "no token: sign in")
	}
	if len(tok) > wire.MaxTokenLen {
		return snap, nil, wire.Errorf(wire.CodeUnauthenticated, "a token of %d bytes, limit %d", len(tok), wire.MaxTokenLen)
	}
	claims, err := c.verifier.VerifyAny(tok, func(app string) bool { return snap.lookup(app) != nil })
	if err != nil {
		return snap, nil, wire.Errorf(wire.CodeUnauthenticated, "%v", err)
	}
	if claims.Kind != token.KindAccess {
		return snap, nil, wire.Errorf(wire.CodeUnauthenticated, "a %s token: only a person's access token from sign-in", claims.Kind)
	}
	if err := c.revoked(snap, claims); err != nil {
		return snap, nil, err
	}
	return snap, claims, nil
}
