package signin

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/airlockhq/airlock/daemon/apitype"
	"github.com/airlockhq/airlock/daemon/keychain"
	"github.com/airlockhq/airlock/internal/backoff"
	"golang.org/x/oauth2"
)

// errNoRefresh: there is no refresh token to try.
var errNoRefresh = errors.New("no refresh token")

// refresh redeems the refresh token (loaded from the store on first use),
// stores the rotated one, then puts the new access token in memory.
func (e *edgeState) refresh(ctx context.Context) (*accessToken, error) {
	e.refreshMu.Lock()
	defer e.refreshMu.Unlock()
	if !e.rtLoaded {
		e.loadRefreshLocked(ctx)
	}
	if e.rt == "" {
		return nil, errNoRefresh
	}
	meta, err := e.metadata(ctx)
	if err != nil {
		return nil, err
	}
	tok, err := refreshGrant(ctx, e.hc, meta, e.rt, e.audience)
	if err != nil {
		if ctx.Err() != nil {
			return nil, ctxErr(e.name, ctx)
		}
		switch code, _ := oauthCode(err); code {
		case "invalid_grant", "invalid_target", "invalid_scope":
			e.dropRefreshLocked(ctx)
			return nil, errorf(e.name, apitype.SignInRevoked, err, "the edge refused the refresh token (revoked, reused or expired): sign in again")
		case "":
			return nil, errorf(e.name, apitype.SignInUnreachable, err, "cannot renew the access token at %s", e.authURL)
		default:
			return nil, errorf(e.name, apitype.SignInEdgeError, err, "the edge refused to renew the access token")
		}
	}
	at, err := e.newAccess(tok)
	if err != nil {
		return nil, err
	}
	if tok.RefreshToken != "" && tok.RefreshToken != e.rt {
		// Store the rotated token before using the access token: if the
		// daemon stops now, the next start has the live one.
		e.saveRefreshLocked(ctx, tok.RefreshToken, at.email)
	}
	e.access.Store(at)
	e.wakeRenewal()
	e.renewApps(at)
	return at, nil
}

// accept keeps the tokens of a completed sign-in.
func (e *edgeState) accept(ctx context.Context, tok *oauth2.Token) (*accessToken, error) {
	at, err := e.newAccess(tok)
	if err != nil {
		return nil, err
	}
	e.refreshMu.Lock()
	if tok.RefreshToken != "" {
		e.saveRefreshLocked(ctx, tok.RefreshToken, at.email)
	} else {
		e.log.Warn("the edge issued no refresh token: the user will sign in again when the access token expires")
		e.rt, e.rtLoaded = "", true
		e.hasRT.Store(false)
	}
	e.apps.clear() // a new sign-in: maybe another user, another family
	e.access.Store(at)
	e.refreshMu.Unlock()
	e.wakeRenewal()
	return at, nil
}

// newAccess reads an access token's lifetime (expires_in, else the JWT's
// exp) and its user.
func (e *edgeState) newAccess(tok *oauth2.Token) (*accessToken, error) {
	if tok.AccessToken == "" {
		return nil, errorf(e.name, apitype.SignInEdgeError, nil, "the edge issued an empty access token")
	}
	now := time.Now()
	c, _ := peekClaims(tok.AccessToken) // display only: the edge verifies
	exp := tok.Expiry
	if exp.IsZero() {
		exp = c.Expiry
	}
	if exp.IsZero() {
		exp = now.Add(5 * time.Minute) // unknown lifetime: renew early
	}
	life := exp.Sub(now)
	if life <= 0 {
		return nil, errorf(e.name, apitype.SignInEdgeError, nil, "the edge issued an access token that expired already (check the clocks)")
	}
	email := c.Email
	if email == "" {
		email = c.Subject
	}
	skew := min(30*time.Second, life/10)
	return &accessToken{
		raw: tok.AccessToken, email: email, issued: now, exp: exp,
		subject: c.Subject, family: c.Family, aud: c.Audience,
		validUntil: exp.Add(-skew),
		renewAt:    now.Add(time.Duration(float64(life) * e.m.opts.RefreshAt)),
	}, nil
}

// loadRefreshLocked reads the stored refresh token; refreshMu is held.
func (e *edgeState) loadRefreshLocked(ctx context.Context) {
	v, err := e.m.store.Get(ctx, e.key)
	if err != nil {
		if ctx.Err() != nil {
			return // try again next time
		}
		if errors.Is(err, keychain.ErrWaiting) {
			// The keychain is locked or slow: the token is likely there;
			// read it again next time rather than forget it.
			e.log.Info("the stored sign-in cannot be read until the keychain answers", "err", err)
			return
		}
		if !errors.Is(err, keychain.ErrNotFound) {
			e.log.Warn("cannot read the stored sign-in; the user must sign in again", "err", err)
		}
		e.rtLoaded = true
		return
	}
	e.rtLoaded = true
	s, err := decodeStored(v)
	if err != nil {
		e.log.Warn("ignoring a stored sign-in that does not decode", "err", err)
		return
	}
	if s.AuthURL != e.authURL {
		e.log.Info("ignoring a stored sign-in for another auth_url", "stored_auth_url", s.AuthURL, "auth_url", e.authURL)
		return
	}
	e.rt = s.RefreshToken
	e.hasRT.Store(true)
}

// saveRefreshLocked stores rt and keeps it in memory; refreshMu is held.
// A store failure is reported and the token kept in memory only.
func (e *edgeState) saveRefreshLocked(ctx context.Context, rt, email string) {
	e.rt, e.rtLoaded = rt, true
	e.hasRT.Store(true)
	v, err := encodeStored(stored{AuthURL: e.authURL, RefreshToken: rt, Email: email})
	if err == nil {
		err = e.m.store.Set(ctx, e.key, v)
	}
	if err != nil {
		e.log.Warn("cannot store the refresh token; it is kept in memory only (sign in again after a restart)", "err", err)
		e.setProblem(&apitype.Problem{Code: apitype.SignInStoreFailed, Message: fmt.Sprintf("cannot store the refresh token: %v", err)})
		return
	}
	e.mu.Lock()
	if e.problem != nil && e.problem.Code == apitype.SignInStoreFailed {
		e.problem = nil
	}
	e.mu.Unlock()
}

// dropRefreshLocked forgets the refresh token; refreshMu is held.
func (e *edgeState) dropRefreshLocked(ctx context.Context) {
	e.rt, e.rtLoaded = "", true
	e.hasRT.Store(false)
	if err := e.m.store.Delete(ctx, e.key); err != nil {
		e.log.Warn("cannot delete the refused refresh token from the store", "err", err)
	}
}

// renewLoop renews the access token at RefreshAt of its lifetime while a
// refresh token exists, retrying with backoff (1s doubling to 1m) while the
// edge does not answer; it also publishes the moment an unrenewable token
// expires.
func (e *edgeState) renewLoop(ctx context.Context) {
	var (
		retryAt time.Time
		retry   = backoff.New(backoff.Config{Base: time.Second, Max: time.Minute, NoJitter: true})
		gaveUp  *accessToken // renewal of this token failed for good
	)
	for {
		at := e.access.Load()
		var due time.Time
		renew := false
		switch {
		case at == nil:
		case e.hasRT.Load() && at != gaveUp && !retryAt.IsZero():
			due, renew = retryAt, true
		case e.hasRT.Load() && at != gaveUp:
			due, renew = at.renewAt, true
		case time.Now().Before(at.exp):
			due = at.exp // publish the expiry
		}
		var timer *time.Timer
		var fire <-chan time.Time
		if !due.IsZero() {
			timer = time.NewTimer(max(time.Until(due), 0))
			fire = timer.C
		}
		fired := false
		select {
		case <-ctx.Done():
		case <-e.wake:
			retryAt = time.Time{}
			retry.Reset()
		case <-fire:
			fired = true
		}
		if timer != nil {
			timer.Stop()
		}
		if ctx.Err() != nil {
			return
		}
		if !fired {
			continue
		}
		if !renew {
			e.m.changedNow() // the token expired: status changes
			continue
		}
		if e.access.Load() != at {
			continue // replaced meanwhile
		}
		_, err := e.refresh(ctx)
		if ctx.Err() != nil {
			return
		}
		var se *Error
		isSignIn := errors.As(err, &se)
		switch {
		case err == nil:
			retryAt = time.Time{}
			retry.Reset()
			e.log.Debug("access token renewed")
		case errors.Is(err, errNoRefresh):
			gaveUp = at
		case isSignIn && se.Code == apitype.SignInRevoked:
			gaveUp = at
			e.log.Warn("renewal refused: the user must sign in again when the access token expires", "expires", at.exp.Format(time.RFC3339), "err", err)
			e.setProblem(se.problem())
		default:
			retryAt = time.Now().Add(retry.Next())
			if retryAt.After(at.exp) {
				retryAt, gaveUp = time.Time{}, at
			}
			e.log.Warn("cannot renew the access token; retrying", "retry_at", retryAt.Format(time.RFC3339), "err", err)
			if isSignIn {
				e.setProblem(se.problem())
			}
		}
	}
}
