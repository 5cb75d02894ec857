package oauth

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"

	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"
)

// upstreamCache holds the discovered upstream provider of one config.
type upstreamCache struct {
	mu       sync.Mutex
	cfg      OIDCConfig
	provider *oidc.Provider
}

// provider discovers the upstream provider (once per config; a failure is
// retried on the next sign-in).
func (s *Server) provider(ctx context.Context, cfg *OIDCConfig) (*oidc.Provider, error) {
	s.up.mu.Lock()
	defer s.up.mu.Unlock()
	if s.up.provider != nil && s.up.cfg.Issuer == cfg.Issuer {
		return s.up.provider, nil
	}
	p, err := oidc.NewProvider(oidc.ClientContext(ctx, s.client), cfg.Issuer)
	if err != nil {
		return nil, fmt.Errorf("discover the identity provider %s: %w", cfg.Issuer, err)
	}
	s.up.cfg, s.up.provider = *cfg, p
	return p, nil
}

func (s *Server) oauth2Config(st *state, p *oidc.Provider) *oauth2.Config {
	return &oauth2.Config{
		ClientID: st.OIDC.ClientID, ClientSecret: st.OIDC.ClientSecret,
		Endpoint: p.Endpoint(), RedirectURL: st.PublicURL + "/oauth/callback",
		Scopes: st.OIDC.scopes(),
	}
}

// upstreamStart is the login page's "Sign in with …" link.
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
	s.redirectUpstream(w, r, p)
}

// redirectUpstream sends the browser to the upstream provider with the
// edge's own nonce and PKCE S256 challenge; the state it sends is p
// sealed with them, so the edge keeps nothing until the provider answers.
func (s *Server) redirectUpstream(w http.ResponseWriter, r *http.Request, p pending) {
	st := s.cur.Load()
	if st.OIDC == nil {
		s.message(w, http.StatusBadRequest, "No identity provider", "This edge has no upstream identity provider.", "")
		return
	}
	prov, err := s.provider(r.Context(), st.OIDC)
	if err != nil {
		s.log.Error("identity provider unreachable", "err", err)
		s.message(w, http.StatusBadGateway, "Identity provider unreachable", "The edge could not reach the identity provider. Try again in a moment.", err.Error())
		return
	}
	p.Nonce, p.Verifier = newSecret("")[:22], oauth2.GenerateVerifier()
	upState, err := s.sealBounded(sealUpstream, &p)
	if err != nil {
		s.message(w, http.StatusBadRequest, "Bad sign-in request", "The sign-in request is too large.", err.Error())
		return
	}
	u := s.oauth2Config(st, prov).AuthCodeURL(upState, oauth2.S256ChallengeOption(p.Verifier), oidc.Nonce(p.Nonce))
	w.Header().Set("Cache-Control", "no-store")
	http.Redirect(w, r, u, http.StatusFound)
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
	if e := q.Get("error"); e != "" {
		desc := fmt.Sprintf("the identity provider refused: %s %s", e, q.Get("error_description"))
		if p.isDevice() {
			s.message(w, http.StatusForbidden, "Sign-in refused", "The identity provider did not sign you in.", desc)
			return
		}
		redirectError(w, r, p.RedirectURI, p.State, "access_denied", desc)
		return
	}
	id, err := s.exchangeUpstream(r.Context(), p, q.Get("code"))
	if err != nil {
		s.log.Warn("upstream sign-in failed", "err", err)
		if p.isDevice() {
			s.message(w, http.StatusForbidden, "Sign-in refused", "The identity provider's answer was not accepted.", err.Error())
			return
		}
		redirectError(w, r, p.RedirectURI, p.State, "access_denied", err.Error())
		return
	}
	s.finish(w, r, p, id)
}

// exchangeUpstream redeems the upstream code, verifies the ID token
// (signature, issuer, audience, expiry, nonce) and reads email and groups.
func (s *Server) exchangeUpstream(ctx context.Context, p pending, code string) (Identity, error) {
	st := s.cur.Load()
	if st.OIDC == nil {
		return Identity{}, errors.New("the edge no longer has an identity provider")
	}
	if code == "" {
		return Identity{}, errors.New("the identity provider sent no code")
	}
	ctx = oidc.ClientContext(ctx, s.client)
	prov, err := s.provider(ctx, st.OIDC)
	if err != nil {
		return Identity{}, err
	}
	tok, err := s.oauth2Config(st, prov).Exchange(ctx, code, oauth2.VerifierOption(p.Verifier))
	if err != nil {
		return Identity{}, fmt.Errorf("redeem the identity provider's code: %w", err)
	}
	raw, _ := tok.Extra("id_token").(string)
	if raw == "" {
		return Identity{}, errors.New("the identity provider sent no ID token")
	}
	idt, err := prov.Verifier(&oidc.Config{ClientID: st.OIDC.ClientID, Now: s.now}).Verify(ctx, raw)
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
	if _, ok := claims[st.OIDC.emailClaim()]; !ok {
		// Some providers put the email only in the userinfo answer.
		ui, err := prov.UserInfo(ctx, oauth2.StaticTokenSource(tok))
		if err != nil {
			return Identity{}, fmt.Errorf("the ID token has no %q claim and userinfo failed: %w", st.OIDC.emailClaim(), err)
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
	return identityFromClaims(claims, idt.Subject, st.OIDC)
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

// upstreamName names the upstream provider for messages.
func (st *state) upstreamName() string {
	if st.OIDC == nil {
		return "the identity provider"
	}
	return upstreamName(st.OIDC.Issuer)
}
