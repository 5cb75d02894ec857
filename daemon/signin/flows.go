package signin

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"strings"
	"time"

	"github.com/airlockhq/airlock/daemon/apitype"
	"github.com/airlockhq/airlock/internal/wire"
	"golang.org/x/oauth2"
)

// run is a flight's body: the sign-in, then a check of who it signed in.
func (e *edgeState) run(ctx context.Context, f *flight) (*accessToken, error) {
	prev := e.previousIdentity(ctx)
	tok, err := e.signIn(ctx, f)
	if err == nil {
		e.noteIdentity(ctx, prev, tok)
	}
	return tok, err
}

// signIn is the refresh token first (unless the user asked to sign in),
// then the user.
func (e *edgeState) signIn(ctx context.Context, f *flight) (*accessToken, error) {
	if !f.explicit {
		tok, err := e.refresh(ctx)
		if err == nil {
			return tok, nil
		}
		var se *Error
		switch {
		case errors.Is(err, errNoRefresh):
		case errors.As(err, &se) && se.Code == apitype.SignInRevoked:
			e.log.Info("the edge refused the stored refresh token; the user must sign in again", "reason", se.Err)
		default:
			return nil, err
		}
	}
	if !f.explicit {
		if err := e.reachable(); err != nil {
			return nil, err
		}
	}
	meta, err := e.metadata(ctx)
	if err != nil {
		return nil, err
	}
	hasDevice := meta.DeviceAuthorizationEndpoint != ""
	e.mu.Lock()
	if e.m.browser == nil && hasDevice {
		f.device = true // headless: a code to enter on any device
	}
	device := f.device
	e.mu.Unlock()
	if device {
		if !hasDevice {
			return nil, errorf(e.name, apitype.SignInEdgeError, nil, "the edge offers no device sign-in (no device_authorization_endpoint)")
		}
		return e.deviceFlow(ctx, f, meta)
	}
	tok, err := e.codeFlow(ctx, f, meta, f.explicit && hasDevice)
	if errors.Is(err, errNoBrowser) {
		e.mu.Lock()
		f.device = true
		e.mu.Unlock()
		return e.deviceFlow(ctx, f, meta)
	}
	return tok, err
}

// codeFlow is the authorization code flow with PKCE S256 and state,
// redirected to a loopback listener of its own. With deviceOnFail it
// returns errNoBrowser when the browser cannot be opened.
func (e *edgeState) codeFlow(ctx context.Context, f *flight, meta *metadata, deviceOnFail bool) (*accessToken, error) {
	state := randomString()
	cb, err := listenCallback(ctx, e.name, state)
	if err != nil {
		return nil, errorf(e.name, apitype.SignInEdgeError, err, "cannot start the sign-in")
	}
	defer cb.close()
	cfg := oauthConfig(meta, cb.redirect)
	verifier := oauth2.GenerateVerifier()
	u := cfg.AuthCodeURL(state, oauth2.S256ChallengeOption(verifier), e.audienceParam())
	if err := e.present(ctx, f, u, "", deviceOnFail); err != nil {
		return nil, err
	}
	select {
	case res := <-cb.results:
		if res.err != nil {
			err := e.refusal(res.err)
			res.outcome <- res.err
			return nil, err
		}
		tok, err := cfg.Exchange(e.httpCtx(ctx), res.code, oauth2.VerifierOption(verifier), e.audienceParam())
		if err != nil {
			err = e.tokenErr(ctx, err)
			res.outcome <- err
			return nil, err
		}
		at, err := e.accept(ctx, tok)
		res.outcome <- err
		return at, err
	case <-ctx.Done():
		return nil, ctxErr(e.name, ctx)
	}
}

// deviceFlow is the device authorization grant (RFC 8628).
func (e *edgeState) deviceFlow(ctx context.Context, f *flight, meta *metadata) (*accessToken, error) {
	cfg := oauthConfig(meta, "")
	hctx := e.httpCtx(ctx)
	da, err := cfg.DeviceAuth(hctx, e.audienceParam())
	if err != nil {
		return nil, e.tokenErr(ctx, err)
	}
	u := da.VerificationURIComplete
	if u == "" {
		u = da.VerificationURI
	}
	if err := e.present(ctx, f, u, da.UserCode, false); err != nil {
		return nil, err
	}
	tok, err := cfg.DeviceAccessToken(hctx, da, e.audienceParam())
	if err != nil {
		if code, _ := oauthCode(err); code == "expired_token" {
			return nil, errorf(e.name, apitype.SignInTimeout, nil, "the device code expired before anyone entered it")
		}
		if ctx.Err() == nil && errors.Is(err, context.DeadlineExceeded) {
			return nil, errorf(e.name, apitype.SignInTimeout, nil, "the device code expired before anyone entered it")
		}
		return nil, e.tokenErr(ctx, err)
	}
	return e.accept(ctx, tok)
}

// present shows the user where to sign in: the browser (at most once per
// interval, unless the user asked) or the notifier.
func (e *edgeState) present(ctx context.Context, f *flight, url, code string, deviceOnFail bool) error {
	now := time.Now()
	e.mu.Lock()
	f.url, f.userCode = url, code
	open := false
	if code == "" && e.m.browser != nil &&
		(f.explicit || e.lastBrowser.IsZero() || now.Sub(e.lastBrowser) >= e.m.interval) {
		open, e.lastBrowser = true, now
	}
	e.mu.Unlock()
	opened := false
	if open {
		if err := e.m.browser.Open(ctx, url); err != nil {
			e.log.Warn("could not open the browser for sign-in", "err", err)
			if deviceOnFail {
				e.mu.Lock()
				f.url, f.userCode = "", ""
				e.mu.Unlock()
				return errNoBrowser
			}
			e.setProblem(&apitype.Problem{Code: apitype.SignInBrowserFailed, Message: err.Error()})
			if !f.explicit && !e.othersReach() {
				return errorf(e.name, apitype.SignInNobody, err, "not signed in, the browser could not be opened, and no tray or `airlock login` is waiting; run `airlock login`")
			}
		} else {
			opened = true
		}
	}
	e.mu.Lock()
	f.browserOpened = opened
	e.mu.Unlock()
	if opened {
		// Not the URL: it carries the OAuth state; the browser has it.
		e.log.Info("opened the browser for sign-in", "apps", e.audience, "auth_url", e.authURL)
	} else {
		e.m.notifier.Notify(ctx, Notice{Edge: e.name, Apps: e.audience, URL: url, UserCode: code})
	}
	f.markReady()
	e.m.changedNow()
	return nil
}

// reachable says whether a sign-in the person must complete can reach
// them: the browser (if it may open now), a notifier that reaches a
// person, or a watcher of the daemon's events. If none can, the error
// says to run `airlock login`, at once rather than after sign_in.wait.
func (e *edgeState) reachable() error {
	e.mu.Lock()
	browser := e.m.browser != nil && (e.lastBrowser.IsZero() || time.Since(e.lastBrowser) >= e.m.interval)
	e.mu.Unlock()
	if browser || e.othersReach() {
		return nil
	}
	why := "no browser can be opened here"
	if e.m.browser != nil {
		why = "the browser was opened for a sign-in less than sign_in.browser_interval ago"
	}
	return errorf(e.name, apitype.SignInNobody, nil, "not signed in, and nobody can be asked: %s, and no tray or `airlock login` is waiting; run `airlock login`", why)
}

// othersReach says whether the notifier or a watcher of the daemon's
// events can show the person a sign-in.
func (e *edgeState) othersReach() bool {
	if r, ok := e.m.notifier.(Reacher); !ok || r.ReachesPerson() {
		return true
	}
	return e.m.opts.Watched != nil && e.m.opts.Watched()
}

// refusal turns the edge's error redirect into an Error.
func (e *edgeState) refusal(oe *OAuthError) error {
	switch oe.Code {
	case "access_denied":
		return e.refused(oe)
	case "temporarily_unavailable":
		return e.unavailable(oe)
	}
	return errorf(e.name, apitype.SignInEdgeError, oe, "the edge answered the sign-in with an error")
}

// tokenErr classifies an error of a token or device endpoint request.
func (e *edgeState) tokenErr(ctx context.Context, err error) error {
	if ctx.Err() != nil {
		return ctxErr(e.name, ctx)
	}
	code, desc := oauthCode(err)
	switch code {
	case "":
		return errorf(e.name, apitype.SignInUnreachable, cleanRetrieveError(err), "cannot reach the edge's sign-in endpoints at %s", e.authURL)
	case "access_denied", "invalid_target", "unauthorized_client":
		return e.refused(&OAuthError{Code: code, Description: desc})
	case "temporarily_unavailable":
		return e.unavailable(&OAuthError{Code: code, Description: desc})
	}
	return errorf(e.name, apitype.SignInEdgeError, cleanRetrieveError(err), "the edge refused the token request")
}

// refused is the edge's refusal of the user: it carries an edge Forbidden
// error, so the SOCKS client gets "not allowed" and the cluster shows
// "forbidden" with the edge's reason, as for a refusal on a stream.
func (e *edgeState) refused(oe *OAuthError) error {
	return errorf(e.name, apitype.SignInRefused, wire.Errorf(wire.CodeForbidden, "%s", describe(oe)), "refused for %s", strings.Join(e.audience, ", "))
}

// unavailable is the edge's temporarily_unavailable: its sign-in server
// or the identity provider behind it (named in the description) failed on
// its side; trying again later may work, and the person is not refused.
func (e *edgeState) unavailable(oe *OAuthError) error {
	return errorf(e.name, apitype.SignInUnavailable, errors.New(describe(oe)), "the sign-in server is temporarily unavailable; try again in a moment")
}

func describe(oe *OAuthError) string {
	if oe.Description != "" {
		return oe.Description
	}
	return oe.Code
}

func (e *edgeState) audienceParam() oauth2.AuthCodeOption {
	return oauth2.SetAuthURLParam("audience", strings.Join(e.audience, " "))
}

// httpCtx hands the edge's HTTP client to x/oauth2.
func (e *edgeState) httpCtx(ctx context.Context) context.Context {
	return context.WithValue(ctx, oauth2.HTTPClient, e.hc)
}

// metadata returns the edge's metadata, fetched at most every few minutes.
func (e *edgeState) metadata(ctx context.Context) (*metadata, error) {
	e.mu.Lock()
	m, at := e.meta, e.metaAt
	e.mu.Unlock()
	if m != nil && time.Since(at) < metadataTTL {
		return m, nil
	}
	m, err := fetchMetadata(ctx, e.hc, e.authURL)
	if err != nil {
		if ctx.Err() != nil {
			return nil, ctxErr(e.name, ctx)
		}
		return nil, errorf(e.name, apitype.SignInUnreachable, err, "cannot read the edge's sign-in metadata at %s%s", e.authURL, MetadataPath)
	}
	e.mu.Lock()
	e.meta, e.metaAt = m, time.Now()
	e.mu.Unlock()
	return m, nil
}

const metadataTTL = 10 * time.Minute

func randomString() string {
	var b [32]byte
	rand.Read(b[:])
	return base64.RawURLEncoding.EncodeToString(b[:])
}
