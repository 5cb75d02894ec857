package signin

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/airlockhq/airlock/daemon/apitype"
)

// accessToken is an access token in memory.
type accessToken struct {
	raw    string
	email  string
	issued time.Time
	exp    time.Time
	// subject, family and aud are read from the token (unverified: for
	// matching app tokens to their sign-in and skipping a needless
	// exchange; the edge decides).
	subject, family string
	aud             []string
	// validUntil is exp less a margin for clock skew and the trip to the
	// edge; renewAt is when the background renewal starts.
	validUntil time.Time
	renewAt    time.Time
}

// edgeState is one edge's sign-in; it is the edge's tokens.Source.
type edgeState struct {
	m        *Manager
	name     string
	authURL  string
	audience []string
	hc       *http.Client
	key      string
	log      *slog.Logger
	wake     chan struct{} // capacity 1: the renewal loop should look again

	access atomic.Pointer[accessToken]
	hasRT  atomic.Bool
	apps   appTokens // access narrowed to one app each, from access

	// refreshMu serialises every use of the refresh token (the edge
	// revokes a family when a rotated token comes back) and guards rt.
	refreshMu sync.Mutex
	rt        string
	rtLoaded  bool

	mu          sync.Mutex // guards the fields below and flights' user-facing fields
	meta        *metadata
	metaAt      time.Time
	flight      *flight
	lastBrowser time.Time
	waiting     int
	problem     *apitype.Problem
	lastState   apitype.SignInState
	since       time.Time
	// identity is who the last sign-in was (identityKnown once looked up);
	// identityChange, set when a sign-in came back as someone else, until
	// a logout.
	identity       identity
	identityKnown  bool
	identityChange *apitype.IdentityChange
}

// flight is one sign-in of an edge: a refresh, then if need be the user.
type flight struct {
	explicit bool // airlock login: always interactive, browser not rate limited
	done     chan struct{}
	ready    chan struct{} // closed once the user has a URL (or the flight ended)
	ready1   sync.Once
	cancel   context.CancelCauseFunc

	// set before done closes
	tok *accessToken
	err error

	// guarded by edgeState.mu
	device        bool
	url, userCode string
	browserOpened bool
}

func (f *flight) markReady() { f.ready1.Do(func() { close(f.ready) }) }

// Token implements tokens.Source: the access token in memory while it is
// valid, else it waits for the edge's one sign-in (starting it if need be)
// up to the configured wait.
func (e *edgeState) Token(ctx context.Context) (string, error) {
	t, err := e.current(ctx)
	if err != nil {
		return "", err
	}
	return t.raw, nil
}

// current is Token's access token.
func (e *edgeState) current(ctx context.Context) (*accessToken, error) {
	if t := e.access.Load(); t != nil && time.Now().Before(t.validUntil) {
		return t, nil
	}
	return e.await(ctx)
}

// Invalidate drops tok from memory when the edge refused it (revoked
// session, rotated keys), so the next Token renews it.
func (e *edgeState) Invalidate(tok string) {
	if from := e.apps.drop(tok); from != nil {
		e.invalidate(from) // its sign-in token is stale too (revoked, keys rotated)
		return
	}
	if t := e.access.Load(); t != nil && t.raw == tok {
		e.invalidate(t)
	}
}

// invalidate drops t from memory, and every app token with it.
func (e *edgeState) invalidate(t *accessToken) {
	e.apps.clear()
	if e.access.CompareAndSwap(t, nil) {
		e.log.Info("the edge refused the access token; renewing it")
		e.m.changedNow()
	}
}

func (e *edgeState) await(ctx context.Context) (*accessToken, error) {
	timer := time.NewTimer(e.m.wait)
	defer timer.Stop()
	e.mu.Lock()
	e.waiting++
	e.mu.Unlock()
	e.m.changedNow()
	defer func() {
		e.mu.Lock()
		e.waiting--
		e.mu.Unlock()
		e.m.changedNow()
	}()
	for {
		if t := e.access.Load(); t != nil && time.Now().Before(t.validUntil) {
			return t, nil
		}
		e.mu.Lock()
		f := e.flight
		if f == nil {
			f = e.startLocked(false, false)
		}
		e.mu.Unlock()
		select {
		case <-f.done:
			if errors.Is(f.err, errReplaced) {
				continue // airlock login started a newer one: wait for that
			}
			if f.err != nil {
				return nil, f.err
			}
			return f.tok, nil
		case <-ctx.Done():
			return nil, errorf(e.name, CodeNeeded, context.Cause(ctx), "gave up waiting for the sign-in")
		case <-timer.C:
			return nil, e.neededErr(f)
		}
	}
}

// neededErr says what the user must do for a flight still waiting.
func (e *edgeState) neededErr(f *flight) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	switch {
	case f.url == "":
		return errorf(e.name, CodeNeeded, nil, "still signing in after %s", e.m.wait)
	case f.userCode != "":
		return errorf(e.name, CodeNeeded, nil, "sign-in needed: open %s and enter the code %s (waited %s; `airlock login` to start again)", f.url, f.userCode, e.m.wait)
	case f.browserOpened:
		return errorf(e.name, CodeNeeded, nil, "sign-in needed: finish signing in in the browser window that opened, at %s (waited %s)", f.url, e.m.wait)
	}
	return errorf(e.name, CodeNeeded, nil, "sign-in needed: open %s in a browser (waited %s)", f.url, e.m.wait)
}

// startLocked starts a flight; e.mu is held.
func (e *edgeState) startLocked(explicit, device bool) *flight {
	f := &flight{explicit: explicit, device: device, done: make(chan struct{}), ready: make(chan struct{})}
	e.flight = f
	ctx, cancel := context.WithCancelCause(e.m.base)
	f.cancel = cancel
	if !e.m.goFlight(func() {
		defer cancel(nil)
		tctx, tcancel := context.WithTimeoutCause(ctx, e.m.opts.FlowTimeout, errFlowTimeout)
		defer tcancel()
		tok, err := e.run(tctx, f)
		e.finish(f, tok, err)
	}) {
		cancel(nil)
		f.err = errorf(e.name, apitype.SignInCanceled, nil, "the daemon is shutting down")
		e.flight = nil
		close(f.done)
		f.markReady()
	}
	return f
}

var errFlowTimeout = errors.New("nobody completed the sign-in in time")

// finish ends a flight with its result.
func (e *edgeState) finish(f *flight, tok *accessToken, err error) {
	replaced := errors.Is(err, errReplaced)
	e.mu.Lock()
	f.tok, f.err = tok, err
	if e.flight == f {
		e.flight = nil
		// The attempt is over: the next one may open the browser at
		// once (the limit is against tabs for one attempt).
		e.lastBrowser = time.Time{}
	}
	var se *Error
	switch {
	case err == nil:
		if e.problem == nil || e.problem.Code != apitype.SignInStoreFailed {
			e.problem = nil // a store failure of this sign-in stays visible
		}
	case replaced:
	case errors.As(err, &se):
		e.problem = se.problem()
	default:
		e.problem = &apitype.Problem{Code: apitype.SignInEdgeError, Message: err.Error()}
	}
	e.mu.Unlock()
	switch {
	case err == nil:
		e.log.Info("signed in", "email", tok.email, "expires", tok.exp.Format(time.RFC3339))
	case replaced:
	default:
		e.log.Warn("sign-in failed", "err", err)
	}
	close(f.done)
	f.markReady()
	e.m.changedNow()
}

// login starts an explicit sign-in, replacing one in progress.
func (e *edgeState) login(device bool) *flight {
	e.mu.Lock()
	defer e.mu.Unlock()
	if old := e.flight; old != nil {
		old.cancel(errReplaced)
	}
	return e.startLocked(true, device)
}

// snapshot is the edge's state for status and events.
func (e *edgeState) snapshot() apitype.SignIn {
	e.mu.Lock()
	defer e.mu.Unlock()
	now := time.Now()
	s := apitype.SignIn{Edge: e.name, AuthURL: e.authURL, Waiting: e.waiting}
	if e.problem != nil {
		p := *e.problem
		s.Problem = &p
	}
	if e.identityChange != nil {
		c := *e.identityChange
		s.IdentityChanged = &c
	}
	at := e.access.Load()
	switch f := e.flight; {
	case f != nil && f.url != "":
		s.State, s.URL, s.UserCode, s.Device, s.BrowserOpened = apitype.SignInNeeded, f.url, f.userCode, f.device, f.browserOpened
	case at != nil && now.Before(at.exp):
		s.State = apitype.SignInSignedIn
	default:
		s.State = apitype.SignInSignedOut
	}
	if at != nil && now.Before(at.exp) {
		s.Email, s.Expires = at.email, at.exp.UTC()
	}
	if s.State != e.lastState {
		e.lastState, e.since = s.State, now
	}
	s.Since = e.since.UTC()
	return s
}

// setProblem records a problem outside a flight (renewal, storage).
func (e *edgeState) setProblem(p *apitype.Problem) {
	e.mu.Lock()
	e.problem = p
	e.mu.Unlock()
	e.m.changedNow()
}

func (e *edgeState) wakeRenewal() {
	select {
	case e.wake <- struct{}{}:
	default:
	}
	e.m.changedNow()
}

// goFlight runs fn as a flight goroutine unless Run has ended.
func (m *Manager) goFlight(fn func()) bool {
	m.flightMu.Lock()
	defer m.flightMu.Unlock()
	if m.closed {
		return false
	}
	m.flights.Go(fn)
	return true
}

func ctxErr(edge string, ctx context.Context) error {
	cause := context.Cause(ctx)
	switch {
	case errors.Is(cause, errReplaced):
		return errReplaced
	case errors.Is(cause, errLoggedOut):
		return errorf(edge, apitype.SignInCanceled, nil, "signed out")
	case errors.Is(cause, errFlowTimeout):
		return errorf(edge, apitype.SignInTimeout, nil, "nobody completed the sign-in within the time allowed; the next connection (or `airlock login`) starts a new one")
	}
	return errorf(edge, apitype.SignInCanceled, cause, "sign-in ended")
}

var errLoggedOut = errors.New("signed out")

func (e *edgeState) String() string { return fmt.Sprintf("sign-in at edge %s", e.name) }
