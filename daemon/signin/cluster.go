package signin

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/airlockhq/airlock/daemon/apitype"
)

// tokenTypeID asks the edge for a cluster credential: a token for the
// Kubernetes API server behind an app, which trusts the edge as its OIDC
// issuer (edge/oauth, "Cluster credentials").
const tokenTypeID = "urn:ietf:params:oauth:token-type:id_token"

// ClusterCredential is a token for one Kubernetes API server (its aud is
// that cluster's alone) and when it expires. It is never a stream's token.
type ClusterCredential struct {
	Token   string
	Expires time.Time
}

// clusterToken is a cached cluster credential.
type clusterToken struct {
	ClusterCredential
	from       *accessToken
	validUntil time.Time
}

// clusterTokens keeps an edge's cluster credentials in memory only, one per
// app, until shortly before they expire or the sign-in they came from is
// dropped (appTokens.clear drops them too). One exchange per edge runs at
// a time (sem), so kubectl calls in parallel make one.
type clusterTokens struct {
	once  sync.Once
	sem   chan struct{}
	mu    sync.Mutex
	byApp map[string]*clusterToken
}

func (c *clusterTokens) lock(ctx context.Context) error {
	c.once.Do(func() { c.sem = make(chan struct{}, 1) })
	select {
	case c.sem <- struct{}{}:
		return nil
	case <-ctx.Done():
		return context.Cause(ctx)
	}
}

func (c *clusterTokens) unlock() { <-c.sem }

func (c *clusterTokens) get(app string, cur *accessToken, now time.Time) *clusterToken {
	c.mu.Lock()
	defer c.mu.Unlock()
	t := c.byApp[app]
	if t == nil || !sameSignIn(t.from, cur) || !now.Before(t.validUntil) {
		return nil
	}
	return t
}

func (c *clusterTokens) put(app string, t *clusterToken) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.byApp == nil {
		c.byApp = map[string]*clusterToken{}
	}
	c.byApp[app] = t
}

func (c *clusterTokens) clear() {
	c.mu.Lock()
	defer c.mu.Unlock()
	clear(c.byApp)
}

// ClusterCredential returns a credential for the Kubernetes API server
// behind app (a sign-in app of the edge whose cluster trusts the edge as
// its OIDC issuer), waiting for a sign-in when there is none, as Token
// does. It is cached in memory until shortly before it expires (so
// kubectl, which runs `airlock credential` for every command that finds
// its credential expired, rarely waits), and never logged or stored.
func (m *Manager) ClusterCredential(ctx context.Context, app string) (ClusterCredential, error) {
	return m.edge.clusterCredential(ctx, app)
}

func (e *edgeState) clusterCredential(ctx context.Context, app string) (ClusterCredential, error) {
	for attempt := 0; ; attempt++ {
		cur, err := e.current(ctx)
		if err != nil {
			return ClusterCredential{}, err
		}
		if t := e.apps.clusters.get(app, cur, time.Now()); t != nil {
			return t.ClusterCredential, nil
		}
		if err := e.apps.clusters.lock(ctx); err != nil {
			return ClusterCredential{}, errorf(e.name, CodeNeeded, err, "gave up waiting for the cluster credential of %s", app)
		}
		if t := e.apps.clusters.get(app, cur, time.Now()); t != nil { // another caller made it meanwhile
			e.apps.clusters.unlock()
			return t.ClusterCredential, nil
		}
		xctx, cancel := context.WithTimeout(ctx, exchangeTimeout)
		t, err := e.exchangeCluster(xctx, app, cur)
		cancel()
		same := sameSignIn(cur, e.access.Load())
		if err == nil && same {
			e.apps.clusters.put(app, t)
		}
		e.apps.clusters.unlock()
		switch {
		case err == nil && !same && attempt < 2:
			continue // signed out or in again meanwhile: not this sign-in's credential
		case err == nil && !same:
			return ClusterCredential{}, errorf(e.name, apitype.SignInCanceled, nil, "the sign-in changed while the cluster credential of %s was issued", app)
		case err == nil:
			e.log.Debug("cluster credential issued", "app", app, "expires", t.Expires.Format(time.RFC3339))
			return t.ClusterCredential, nil
		case attempt == 0 && codeOf(err) == apitype.SignInRevoked:
			e.invalidate(cur) // renew the sign-in token (refresh, else sign in again) and try once more
			continue
		}
		return ClusterCredential{}, err
	}
}

// exchangeCluster asks the edge for app's cluster credential with cur.
func (e *edgeState) exchangeCluster(ctx context.Context, app string, cur *accessToken) (*clusterToken, error) {
	meta, err := e.metadata(ctx)
	if err != nil {
		return nil, err
	}
	form := exchangeForm(cur.raw, app)
	form.Set("requested_token_type", tokenTypeID)
	status, ct, data, err := postForm(ctx, e.hc, meta.TokenEndpoint, form)
	if err == nil {
		tok, perr := parseTokenResponse(status, ct, data)
		if perr == nil {
			return e.clusterToken(app, cur, tok.AccessToken, tok.Expiry)
		}
		err = perr
	}
	switch {
	case errors.Is(ctx.Err(), context.DeadlineExceeded):
		return nil, errorf(e.name, apitype.SignInUnreachable, err, "asking for the cluster credential of %s took over %s", app, exchangeTimeout)
	case ctx.Err() != nil:
		return nil, errorf(e.name, apitype.SignInCanceled, context.Cause(ctx), "gave up on the cluster credential of %s", app)
	}
	switch code, _ := oauthCode(err); code {
	case "invalid_grant":
		return nil, errorf(e.name, apitype.SignInRevoked, err, "the edge refused the sign-in's access token (revoked, expired, or the edge's keys changed): sign in again")
	case "invalid_target":
		return nil, errorf(e.name, apitype.SignInRefused, err, "the edge gives no cluster credential for %s", app)
	case "access_denied":
		return nil, errorf(e.name, apitype.SignInRefused, err, "the edge does not let %s open %s", cur.email, app)
	case "unsupported_grant_type", "invalid_request":
		return nil, errorf(e.name, apitype.SignInEdgeError, err, "the edge gives no cluster credentials (upgrade it?)")
	case "":
		return nil, errorf(e.name, apitype.SignInUnreachable, err, "cannot ask for the cluster credential of %s at %s", app, e.authURL)
	default:
		return nil, errorf(e.name, apitype.SignInEdgeError, err, "the edge refused the cluster credential of %s", app)
	}
}

// clusterToken checks what the edge answered: a JWT whose audience is not
// app (a cluster's audience is never an app hostname), unexpired.
func (e *edgeState) clusterToken(app string, cur *accessToken, raw string, expiry time.Time) (*clusterToken, error) {
	c, err := peekClaims(raw)
	if err != nil {
		return nil, errorf(e.name, apitype.SignInEdgeError, err, "the cluster credential the edge gave for %s", app)
	}
	if len(c.Audience) != 1 || c.Audience[0] == app {
		return nil, errorf(e.name, apitype.SignInEdgeError, nil, "the edge gave for %s a token for %q, not a cluster credential (an old edge?)", app, c.Audience)
	}
	exp := expiry
	if exp.IsZero() || (!c.Expiry.IsZero() && c.Expiry.Before(exp)) {
		exp = c.Expiry
	}
	life := time.Until(exp)
	if exp.IsZero() || life <= 0 {
		return nil, errorf(e.name, apitype.SignInEdgeError, nil, "the edge gave for %s a cluster credential whose lifetime is over (check the clocks)", app)
	}
	// kubectl keeps the credential until expirationTimestamp: hand out
	// only one with a minute (a fifth of its life at most) to go.
	return &clusterToken{
		ClusterCredential: ClusterCredential{Token: raw, Expires: exp},
		from:              cur, validUntil: exp.Add(-min(time.Minute, life/5)),
	}, nil
}
