package signin

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"sync"
	"time"

	"github.com/airlockhq/airlock/daemon/apitype"
)

// Token exchange (RFC 8693) identifiers.
const (
	grantTokenExchange = "urn:ietf:params:oauth:grant-type:token-exchange"
	tokenTypeAccess    = "urn:ietf:params:oauth:token-type:access_token"
)

// exchangeTimeout bounds one token exchange at the edge.
const exchangeTimeout = 30 * time.Second

// appToken is the sign-in's access token narrowed to one app.
type appToken struct {
	raw        string
	from       *accessToken // the sign-in token it was narrowed from
	validUntil time.Time
}

// exchange is one app's token exchange in progress; its waiters share it.
type exchange struct {
	from *accessToken
	done chan struct{}
	// set before done closes
	tok *appToken
	err error
}

// appTokens keeps an edge's app tokens: in memory only, at most one per
// sign-in app of the edge (AppToken refuses any other app), each renewed
// when the sign-in token it came from is, and all dropped when that one is
// (sign-out, a new sign-in, a token the edge refused).
type appTokens struct {
	mu      sync.Mutex
	byApp   map[string]*appToken
	flights map[string]*exchange
	// unnarrowed is a sign-in token the edge would not narrow (an edge
	// without token exchange): it goes on streams whole until it is
	// replaced, when the next exchange tries again.
	unnarrowed *accessToken
	warned     bool
	// failed is, per app, the sign-in token whose exchange failed last:
	// a stream does not start another in the background for it (one that
	// waits does).
	failed map[string]*accessToken
	// clusters are the cluster credentials (cluster.go), dropped with
	// the app tokens.
	clusters clusterTokens
}

// get returns app's token while it is valid for the sign-in token cur.
func (a *appTokens) get(app string, cur *accessToken, now time.Time) *appToken {
	a.mu.Lock()
	defer a.mu.Unlock()
	t := a.byApp[app]
	if t == nil || !sameSignIn(t.from, cur) || !now.Before(t.validUntil) {
		return nil
	}
	return t
}

// failedFor says whether the last exchange of cur for app failed.
func (a *appTokens) failedFor(app string, cur *accessToken) bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.failed[app] == cur
}

// whole says whether cur goes on streams unnarrowed.
func (a *appTokens) whole(cur *accessToken) bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.unnarrowed == cur
}

// drop forgets the app token raw and returns the sign-in token it came
// from, or nil when raw is no app token.
func (a *appTokens) drop(raw string) *accessToken {
	a.mu.Lock()
	defer a.mu.Unlock()
	for app, t := range a.byApp {
		if t.raw == raw {
			delete(a.byApp, app)
			return t.from
		}
	}
	return nil
}

// clear forgets every app token.
func (a *appTokens) clear() {
	a.mu.Lock()
	defer a.mu.Unlock()
	clear(a.byApp)
	clear(a.failed)
	a.unnarrowed = nil
	a.clusters.clear()
}

// sameSignIn says whether two sign-in tokens are of one sign-in: the same
// token, or one refreshed from the other (same family and subject).
func sameSignIn(a, b *accessToken) bool {
	return a == b || (a != nil && b != nil && a.family != "" && a.family == b.family && a.subject == b.subject)
}

// AppToken returns an access token for app alone (RFC 8693 token exchange
// of the sign-in's token at the edge), so that the token a stream carries
// opens that app and no other. The token lives in memory until the
// sign-in token it came from is renewed (then it is exchanged again in the
// background) or dropped. Without a sign-in it waits for one, as Token
// does. An edge without token exchange gets the sign-in token whole.
func (e *edgeState) AppToken(ctx context.Context, app string) (string, error) {
	if !slices.Contains(e.audience, app) {
		return "", errorf(e.name, apitype.SignInRefused, nil, "%s is not a sign-in app of this edge (the configuration changed?)", app)
	}
	if cur := e.access.Load(); cur != nil && time.Now().Before(cur.validUntil) {
		if t := e.apps.get(app, cur, time.Now()); t != nil {
			if t.from != cur && !e.apps.failedFor(app, cur) {
				e.startExchange(app, cur) // renewed: narrow the new one ahead of need
			}
			return t.raw, nil
		}
	}
	for attempt := 0; ; attempt++ {
		cur, err := e.current(ctx)
		if err != nil {
			return "", err
		}
		if e.apps.whole(cur) {
			return cur.raw, nil
		}
		if t := e.apps.get(app, cur, time.Now()); t != nil {
			return t.raw, nil
		}
		if len(cur.aud) > 0 && !slices.Contains(cur.aud, app) {
			return "", errorf(e.name, apitype.SignInRefused, nil, "the sign-in of %s does not cover %s (the edge's policy does not allow it)", cur.email, app)
		}
		x := e.startExchange(app, cur)
		select {
		case <-x.done:
		case <-ctx.Done():
			return "", errorf(e.name, CodeNeeded, context.Cause(ctx), "gave up waiting for the token of %s", app)
		}
		switch {
		case x.err == nil && sameSignIn(x.from, e.access.Load()):
			return x.tok.raw, nil
		case x.err == nil && attempt < 2:
			continue // signed out or in again meanwhile: not this sign-in's token
		case x.err == nil:
			return "", errorf(e.name, apitype.SignInCanceled, nil, "the sign-in changed while narrowing its token to %s", app)
		case errors.Is(x.err, errNoExchange):
			return cur.raw, nil
		case attempt == 0 && codeOf(x.err) == apitype.SignInRevoked:
			// The edge refused the sign-in token itself (revoked, keys
			// rotated): renew it (refresh, else sign in again) and try
			// once more.
			e.invalidate(cur)
			continue
		}
		return "", x.err
	}
}

// startExchange returns app's exchange of cur, starting it unless one is
// in progress.
func (e *edgeState) startExchange(app string, cur *accessToken) *exchange {
	a := &e.apps
	a.mu.Lock()
	defer a.mu.Unlock()
	if x := a.flights[app]; x != nil && x.from == cur {
		return x
	}
	x := &exchange{from: cur, done: make(chan struct{})}
	if a.flights == nil {
		a.flights = map[string]*exchange{}
	}
	a.flights[app] = x
	if !e.m.goFlight(func() {
		ctx, cancel := context.WithTimeout(e.m.base, exchangeTimeout)
		defer cancel()
		tok, err := e.exchange(ctx, app, cur)
		e.exchanged(app, x, tok, err)
	}) {
		x.err = errorf(e.name, apitype.SignInCanceled, nil, "the daemon is shutting down")
		delete(a.flights, app)
		close(x.done)
	}
	return x
}

// exchanged ends an exchange: its token is kept while cur is the sign-in
// token or one refreshed from it.
func (e *edgeState) exchanged(app string, x *exchange, tok *appToken, err error) {
	a := &e.apps
	a.mu.Lock()
	x.tok, x.err = tok, err
	if a.flights[app] == x {
		delete(a.flights, app)
	}
	warn := false
	switch cur := e.access.Load(); {
	case err == nil && sameSignIn(x.from, cur):
		if a.byApp == nil {
			a.byApp = map[string]*appToken{}
		}
		a.byApp[app] = tok
		delete(a.failed, app)
	case errors.Is(err, errNoExchange) && x.from == cur:
		a.unnarrowed = cur
		warn, a.warned = !a.warned, true
	case err != nil:
		if a.failed == nil {
			a.failed = map[string]*accessToken{}
		}
		a.failed[app] = x.from
	}
	a.mu.Unlock()
	// The log line goes out before the waiters are let go, so that what
	// a waiter does next (or reads in the log) comes after it.
	defer close(x.done)
	switch {
	case warn:
		e.log.Warn("the edge cannot narrow access tokens to one app (no token exchange): streams carry the sign-in's token for every app until the edge is upgraded", "err", err)
	case err == nil:
		e.log.Debug("access token narrowed", "app", app, "expires", tok.validUntil.Format(time.RFC3339))
	case !errors.Is(err, errNoExchange):
		e.log.Warn("cannot narrow the access token", "app", app, "err", err)
	}
}

// renewApps exchanges cur, a renewed sign-in token, for every app that
// has a token, so streams find the new one ready.
func (e *edgeState) renewApps(cur *accessToken) {
	e.apps.mu.Lock()
	var apps []string
	for app, t := range e.apps.byApp {
		if sameSignIn(t.from, cur) {
			apps = append(apps, app)
		}
	}
	e.apps.mu.Unlock()
	for _, app := range apps {
		e.startExchange(app, cur)
	}
}

// errNoExchange: the edge does not know the token exchange grant.
var errNoExchange = errors.New("the edge has no token exchange")

// codeOf is the sign-in problem code of err, or "".
func codeOf(err error) string {
	var se *Error
	if errors.As(err, &se) {
		return se.Code
	}
	return ""
}

// exchange narrows cur to app at the edge's token endpoint.
func (e *edgeState) exchange(ctx context.Context, app string, cur *accessToken) (*appToken, error) {
	meta, err := e.metadata(ctx)
	if err != nil {
		return nil, err
	}
	tok, err := exchangeGrant(ctx, e.hc, meta, cur.raw, app)
	if err != nil {
		switch {
		case errors.Is(ctx.Err(), context.DeadlineExceeded):
			return nil, errorf(e.name, apitype.SignInUnreachable, err, "narrowing the access token to %s took over %s", app, exchangeTimeout)
		case ctx.Err() != nil:
			return nil, errorf(e.name, apitype.SignInCanceled, nil, "the daemon is shutting down")
		}
		switch code, _ := oauthCode(err); code {
		case "unsupported_grant_type":
			return nil, fmt.Errorf("%w: %w", errNoExchange, err)
		case "invalid_grant":
			return nil, errorf(e.name, apitype.SignInRevoked, err, "the edge refused the sign-in's access token (revoked, expired, or the edge's keys changed): sign in again")
		case "access_denied", "invalid_target":
			return nil, errorf(e.name, apitype.SignInRefused, err, "the edge does not let %s open %s", cur.email, app)
		case "":
			return nil, errorf(e.name, apitype.SignInUnreachable, err, "cannot narrow the access token to %s at %s", app, e.authURL)
		default:
			return nil, errorf(e.name, apitype.SignInEdgeError, err, "the edge refused to narrow the access token to %s", app)
		}
	}
	c, err := peekClaims(tok.AccessToken)
	if err != nil {
		return nil, errorf(e.name, apitype.SignInEdgeError, err, "the token the edge narrowed to %s", app)
	}
	if len(c.Audience) != 1 || c.Audience[0] != app {
		return nil, errorf(e.name, apitype.SignInEdgeError, nil, "the edge narrowed the access token to %q, not to %s alone", c.Audience, app)
	}
	exp := tok.Expiry
	if exp.IsZero() || (!c.Expiry.IsZero() && c.Expiry.Before(exp)) {
		exp = c.Expiry
	}
	if exp.IsZero() || exp.After(cur.exp) {
		exp = cur.exp // never longer than the token it came from
	}
	life := time.Until(exp)
	if life <= 0 {
		return nil, errorf(e.name, apitype.SignInEdgeError, nil, "the edge narrowed the access token to %s with a lifetime that is over (check the clocks)", app)
	}
	return &appToken{raw: tok.AccessToken, from: cur, validUntil: exp.Add(-min(30*time.Second, life/10))}, nil
}

// exchangeForm is the token exchange request (RFC 8693 2.1) narrowing
// subject to app.
func exchangeForm(subject, app string) url.Values {
	return url.Values{
		"grant_type":           {grantTokenExchange},
		"subject_token":        {subject},
		"subject_token_type":   {tokenTypeAccess},
		"requested_token_type": {tokenTypeAccess},
		"audience":             {app},
		"client_id":            {ClientID},
	}
}
