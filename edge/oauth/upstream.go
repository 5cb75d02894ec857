package oauth

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"
)

// upstreamStart is the login page's "Sign in with …" link
// (?req=…&provider=NAME; the provider may be left out when there is one).
func (s *Server) upstreamStart(w http.ResponseWriter, r *http.Request) {
	q, err := parseForm(r)
	if err != nil {
		s.message(w, http.StatusBadRequest, "Bad sign-in request", "The sign-in request is malformed.", err.Error())
		return
	}
	p, ok := s.openPending(sealLogin, q.Get("req"), s.now())
	if !ok || p.Browser != cookieBrowser(r) {
		s.message(w, http.StatusBadRequest, "Sign-in expired", "This sign-in is no longer open in this browser. Start again from your terminal.", "")
		return
	}
	s.redirectUpstream(w, r, p, q.Get("provider"))
}

// pick returns the provider of that name, or the only one when name is
// empty (nil: none such).
func (st *state) pick(name string) *upstream {
	if name == "" && len(st.order) == 1 {
		return st.order[0]
	}
	return st.upstreams[name]
}

// redirectUpstream sends the browser to the upstream provider with the
// edge's own nonce and PKCE S256 challenge; the state it sends is p
// sealed with them, so the edge keeps nothing until the provider answers.
func (s *Server) redirectUpstream(w http.ResponseWriter, r *http.Request, p pending, name string) {
	st := s.cur.Load()
	u := st.pick(name)
	if u == nil {
		s.message(w, http.StatusBadRequest, "No such identity provider", "This edge has no such upstream identity provider.", "")
		return
	}
	prov, err := u.provider(r.Context())
	if err != nil {
		s.upstreamUnavailable(w, r, p, u, err)
		return
	}
	p.Provider = u.cfg.Name
	p.Nonce, p.Verifier = newSecret("")[:22], oauth2.GenerateVerifier()
	upState, err := s.sealBounded(sealUpstream, &p)
	if err != nil {
		s.message(w, http.StatusBadRequest, "Bad sign-in request", "The sign-in request is too large.", err.Error())
		return
	}
	opts := []oauth2.AuthCodeOption{oauth2.S256ChallengeOption(p.Verifier), oidc.Nonce(p.Nonce)}
	for k, v := range u.cfg.AuthParams {
		opts = append(opts, oauth2.SetAuthURLParam(k, v))
	}
	w.Header().Set("Cache-Control", "no-store")
	http.Redirect(w, r, u.oauth2Config(prov).AuthCodeURL(upState, opts...), http.StatusFound)
}

// upstreamUnavailable answers a sign-in the provider failed on its side
// (unreachable, its token endpoint down, the client refused): the daemon
// gets temporarily_unavailable naming the provider, never access_denied,
// so that it does not tell the person they are not allowed.
func (s *Server) upstreamUnavailable(w http.ResponseWriter, r *http.Request, p pending, u *upstream, err error) {
	if pe, ok := errors.AsType[*ProviderError](err); ok {
		err = pe.Err // the description names the provider already
	}
	s.log.Error("identity provider unavailable", "provider", u.cfg.Name, "issuer", u.cfg.Issuer, "err", err)
	desc := fmt.Sprintf("the identity provider %s is temporarily unavailable: %v", u.cfg.Name, err)
	if p.isDevice() {
		s.message(w, http.StatusServiceUnavailable, "Identity provider unavailable",
			fmt.Sprintf("The edge could not complete the sign-in with %s. Try again in a moment; if this persists, tell the edge's operator.", u.cfg.displayName()), desc)
		return
	}
	redirectError(w, r, p.RedirectURI, p.State, "temporarily_unavailable", desc)
}

// refusalErrors are the provider's error answers that are about the
// person (they declined, or must interact); any other is the provider's
// or its config's failure.
var refusalErrors = map[string]bool{
	"access_denied": true, "login_required": true, "consent_required": true,
	"interaction_required": true, "account_selection_required": true,
}

// upstreamCallback is where the upstream provider sends the browser back.
func (s *Server) upstreamCallback(w http.ResponseWriter, r *http.Request) {
	q, perr := parseForm(r)
	if perr != nil {
		s.message(w, http.StatusBadRequest, "Bad answer from the identity provider", "The answer is malformed.", perr.Error())
		return
	}
	p, ok := s.openPending(sealUpstream, q.Get("state"), s.now())
	if !ok {
		s.message(w, http.StatusBadRequest, "Sign-in expired", "The identity provider answered for a sign-in that is not open (wrong or old state). Start again from your terminal.", "")
		return
	}
	if p.Browser != cookieBrowser(r) {
		s.message(w, http.StatusForbidden, "Sign-in refused", "This sign-in was started in another browser.", "")
		return
	}
	if name := r.PathValue("provider"); name != "" && name != p.Provider {
		s.message(w, http.StatusBadRequest, "Bad answer from the identity provider", "The answer came to another provider's callback.", "")
		return
	}
	u := s.cur.Load().pick(p.Provider)
	if u == nil {
		redirectOrPage(s, w, r, p, "temporarily_unavailable", fmt.Sprintf("the edge no longer has the identity provider %s", p.Provider))
		return
	}
	if e := q.Get("error"); e != "" {
		desc := fmt.Sprintf("%s: %s %s", u.cfg.Name, e, q.Get("error_description"))
		if !refusalErrors[e] {
			s.upstreamUnavailable(w, r, p, u, errors.New("it answered "+strings.TrimSpace(e+" "+q.Get("error_description"))))
			return
		}
		s.log.Info("upstream sign-in refused by the identity provider", "provider", u.cfg.Name, "error", e)
		redirectOrPage(s, w, r, p, "access_denied", "the identity provider refused: "+desc)
		return
	}
	id, err := s.exchangeUpstream(r.Context(), p, u, q.Get("code"))
	var pe *ProviderError
	switch {
	case errors.As(err, &pe):
		s.upstreamUnavailable(w, r, p, u, pe.Err)
		return
	case err != nil:
		s.log.Warn("upstream sign-in refused", "provider", u.cfg.Name, "err", err)
		redirectOrPage(s, w, r, p, "access_denied", err.Error())
		return
	}
	s.finish(w, r, p, id)
}

// redirectOrPage sends an error to the daemon's redirect URI, or shows
// it for a device sign-in.
func redirectOrPage(s *Server, w http.ResponseWriter, r *http.Request, p pending, code, desc string) {
	if !p.isDevice() {
		redirectError(w, r, p.RedirectURI, p.State, code, desc)
		return
	}
	if code == "access_denied" {
		s.message(w, http.StatusForbidden, "Sign-in refused", "The identity provider did not sign you in, or its answer was not accepted.", desc)
		return
	}
	s.message(w, http.StatusServiceUnavailable, "Identity provider unavailable", "Try again in a moment; if this persists, tell the edge's operator.", desc)
}

// exchangeUpstream redeems the upstream code, verifies the ID token
// (signature, issuer, audience, expiry, nonce) and reads email and groups.
// A failure on the provider's side is a [*ProviderError]; any other error
// is a refusal of this sign-in.
func (s *Server) exchangeUpstream(ctx context.Context, p pending, u *upstream, code string) (Identity, error) {
	if code == "" {
		return Identity{}, errors.New("the identity provider sent no code")
	}
	ctx = oidc.ClientContext(ctx, u.client)
	prov, err := u.provider(ctx)
	if err != nil {
		return Identity{}, err
	}
	tok, err := u.oauth2Config(prov).Exchange(ctx, code, oauth2.VerifierOption(p.Verifier))
	if err != nil {
		return Identity{}, u.fail(true, "redeem its code: %w", err)
	}
	raw, _ := tok.Extra("id_token").(string)
	if raw == "" {
		return Identity{}, u.fail(true, "it sent no ID token")
	}
	idt, err := prov.Verifier(&oidc.Config{ClientID: u.cfg.ClientID, Now: s.now}).Verify(ctx, raw)
	if err != nil {
		return Identity{}, fmt.Errorf("ID token: %w", err)
	}
	if idt.Nonce != p.Nonce {
		return Identity{}, errors.New("ID token: the nonce does not match this sign-in")
	}
	var claims map[string]any
	if err := idt.Claims(&claims); err != nil {
		return Identity{}, fmt.Errorf("ID token claims: %w", err)
	}
	if _, ok := claims[u.cfg.emailClaim()]; !ok {
		// Some providers put the email only in the userinfo answer.
		ui, err := prov.UserInfo(ctx, oauth2.StaticTokenSource(tok))
		if err != nil {
			return Identity{}, u.fail(true, "the ID token has no %q claim and userinfo failed: %w", u.cfg.emailClaim(), err)
		}
		if ui.Subject != idt.Subject {
			return Identity{}, errors.New("userinfo is about another subject than the ID token")
		}
		var more map[string]any
		if err := ui.Claims(&more); err != nil {
			return Identity{}, fmt.Errorf("userinfo claims: %w", err)
		}
		for k, v := range more {
			if _, ok := claims[k]; !ok {
				claims[k] = v
			}
		}
	}
	id, err := identityFromClaims(claims, idt.Subject, &u.cfg)
	id.Provider = u.cfg.Name
	return id, err
}

// identityFromClaims reads the email, which the provider must say is
// verified (email_verified true; missing counts as false) unless the
// operator allowed unverified ones, and the groups.
func identityFromClaims(claims map[string]any, subject string, cfg *OIDCConfig) (Identity, error) {
	email, _ := claims[cfg.emailClaim()].(string)
	if email == "" {
		return Identity{}, fmt.Errorf("the identity provider sent no %q claim", cfg.emailClaim())
	}
	if err := CheckEmail(email); err != nil {
		return Identity{}, fmt.Errorf("claim %q: %w", cfg.emailClaim(), err)
	}
	if !cfg.AllowUnverifiedEmail {
		switch v, ok := claims["email_verified"]; {
		case !ok:
			return Identity{}, fmt.Errorf("the identity provider does not say that %s is verified (no email_verified claim); only if it verifies every address itself, set oidc.allow_unverified_email", email)
		case v != true:
			return Identity{}, fmt.Errorf("the identity provider says %s is not verified (email_verified: %v)", email, v)
		}
	}
	var groups []string
	switch g := claims[cfg.groupsClaim()].(type) {
	case nil:
	case string:
		groups = strings.Fields(g)
	case []any:
		for _, x := range g {
			if s, ok := x.(string); ok && s != "" {
				groups = append(groups, s)
			}
		}
	default:
		return Identity{}, fmt.Errorf("claim %q is neither a list nor a string", cfg.groupsClaim())
	}
	if subject == "" {
		return Identity{}, errors.New("the ID token has no subject")
	}
	return Identity{Subject: subject, Email: strings.ToLower(email), Groups: groups, IDP: IDPOIDC}, nil
}

// upstreamConfig is the provider of that name (the only one for a
// record older than oidc_providers), or nil.
func (st *state) upstreamConfig(name string) *OIDCConfig {
	u := st.upstreams[name]
	if u == nil && name == "" && len(st.order) > 0 {
		u = st.order[0]
	}
	if u == nil {
		return nil
	}
	return &u.cfg
}

// upstreamDisplay names the provider of that name for messages.
func (st *state) upstreamDisplay(name string) string {
	if c := st.upstreamConfig(name); c != nil {
		return c.displayName()
	}
	return "the identity provider"
}
