package oauth

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"time"
)

const grantDevice = "urn:ietf:params:oauth:grant-type:device_code"

// tokenResponse is the token endpoint's answer (RFC 6749 §5.1). Audience
// (not standard) lists the apps the access token opens.
type tokenResponse struct {
	AccessToken string `json:"access_token"`
	// IssuedTokenType answers a token exchange (RFC 8693 §2.2.1).
	IssuedTokenType string   `json:"issued_token_type,omitempty"`
	TokenType       string   `json:"token_type"`
	ExpiresIn       int      `json:"expires_in"`
	RefreshToken    string   `json:"refresh_token,omitempty"`
	Audience        []string `json:"audience,omitempty"`
}

func writeError(w http.ResponseWriter, e *protoError) {
	if e.Code == "invalid_client" {
		w.Header().Set("WWW-Authenticate", `Basic realm="airlock"`)
	}
	writeJSON(w, e.Status, map[string]string{"error": e.Code, "error_description": e.Desc})
}

// clientOf returns the public client's id from the form or from HTTP
// Basic authentication (with an empty secret), and refuses others.
func clientOf(r *http.Request, f url.Values) *protoError {
	id := f.Get("client_id")
	if u, pw, ok := r.BasicAuth(); ok {
		u, _ = url.QueryUnescape(u)
		switch {
		case pw != "":
			return &protoError{http.StatusUnauthorized, "invalid_client", "client " + ClientID + " is public: it has no secret"}
		case id != "" && id != u:
			return &protoError{http.StatusBadRequest, "invalid_request", "client_id differs from the Basic authentication"}
		}
		id = u
	}
	if id != ClientID {
		return &protoError{http.StatusUnauthorized, "invalid_client", "client_id " + quote(id) + " is not registered (the only client is " + ClientID + ")"}
	}
	return nil
}

// clientForm reads a client's POST to the token or device endpoint: the
// form, the client's identity and the audiences it names.
func clientForm(r *http.Request) (url.Values, []string, *protoError) {
	f, perr := parseForm(r)
	if perr != nil {
		return nil, nil, perr
	}
	if perr := clientOf(r, f); perr != nil {
		return nil, nil, perr
	}
	aud, perr := parseAudience(f)
	if perr != nil {
		return nil, nil, perr
	}
	return f, aud, nil
}

func quote(s string) string {
	if len(s) > 64 {
		s = s[:64] + "…"
	}
	return `"` + s + `"`
}

// tokenEndpoint serves the authorization code, refresh token and device
// code grants.
func (s *Server) tokenEndpoint(w http.ResponseWriter, r *http.Request) {
	f, aud, perr := clientForm(r)
	if perr != nil {
		writeError(w, perr)
		return
	}
	var resp *tokenResponse
	var err error
	switch g := f.Get("grant_type"); g {
	case "authorization_code":
		resp, err = s.grantCode(r.Context(), f, aud)
	case "refresh_token":
		resp, err = s.grantRefresh(r.Context(), f, aud)
	case grantDevice:
		resp, err = s.grantDevice(r.Context(), f, aud)
	case grantTokenExchange:
		resp, err = s.grantExchange(f, aud)
	case "":
		err = errInvalidRequest("grant_type is missing")
	default:
		err = &protoError{http.StatusBadRequest, "unsupported_grant_type", "grant_type " + quote(g) + " is not supported"}
	}
	if err != nil {
		var pe *protoError
		if !errors.As(err, &pe) {
			s.log.Error("token request failed", "err", err)
			pe = &protoError{http.StatusInternalServerError, "server_error", "the edge could not issue tokens"}
		}
		writeError(w, pe)
		return
	}
	writeJSON(w, http.StatusOK, resp)
}

func (s *Server) grantCode(ctx context.Context, f url.Values, aud []string) (*tokenResponse, error) {
	code, redirect, verifier := f.Get("code"), f.Get("redirect_uri"), f.Get("code_verifier")
	switch {
	case code == "":
		return nil, errInvalidRequest("code is missing")
	case redirect == "":
		return nil, errInvalidRequest("redirect_uri is missing")
	case verifier == "":
		return nil, errInvalidRequest("code_verifier is missing: PKCE is required")
	}
	k := key(code)
	c, err := s.store.RedeemCode(ctx, k, s.now())
	switch {
	case errors.Is(err, ErrNotFound):
		return nil, errInvalidGrant("the authorization code is unknown")
	case errors.Is(err, ErrCodeUsed):
		if c.Family != "" {
			if rerr := s.store.RevokeFamily(ctx, c.Family, s.now(), "its authorization code was replayed"); rerr != nil && !errors.Is(rerr, ErrNotFound) {
				return nil, rerr
			}
			s.revoke(c.Family)
		}
		s.log.Warn("authorization code replayed; revoked what it issued", "email", c.Identity.Email)
		return nil, errInvalidGrant("the authorization code was already used; the tokens it issued are revoked")
	case errors.Is(err, ErrExpired):
		return nil, errInvalidGrant("the authorization code expired (codes live %s)", CodeTTL)
	case err != nil:
		return nil, err
	}
	if c.ClientID != ClientID {
		return nil, errInvalidGrant("the authorization code was issued to another client")
	}
	if c.RedirectURI != redirect {
		return nil, errInvalidGrant("redirect_uri differs from the one of the authorization request")
	}
	if err := verifierMatches(verifier, c.Challenge); err != nil {
		return nil, errInvalidGrant("%v", err)
	}
	resp, fam, err := s.issue(ctx, c.Identity, aud, c.ClientID)
	if err != nil {
		return nil, err
	}
	if err := s.store.SetCodeFamily(ctx, k, fam); err != nil {
		return nil, err
	}
	return resp, nil
}

func (s *Server) grantRefresh(ctx context.Context, f url.Values, aud []string) (*tokenResponse, error) {
	old := f.Get("refresh_token")
	if old == "" {
		return nil, errInvalidRequest("refresh_token is missing")
	}
	st := s.cur.Load()
	now := s.now()
	next := newSecret(refreshPrefix)
	fam, err := s.store.Rotate(ctx, key(old), key(next), now, now.Add(st.RefreshTTL))
	switch {
	case errors.Is(err, ErrNotFound):
		return nil, errInvalidGrant("the refresh token is unknown (sign in again)")
	case errors.Is(err, ErrRefreshReused):
		s.revoke(fam.ID)
		s.log.Warn("a rotated refresh token was used again; revoked its family", "email", fam.Identity.Email)
		return nil, errInvalidGrant("the refresh token was already used; every token of this sign-in is revoked (sign in again)")
	case errors.Is(err, ErrRevoked):
		return nil, errInvalidGrant("the refresh token was revoked (%s); sign in again", fam.RevokeReason)
	case errors.Is(err, ErrExpired):
		return nil, errInvalidGrant("the refresh token expired; sign in again")
	case err != nil:
		return nil, err
	}
	id := fam.Identity
	end := st.sessionEnd(id, fam.Created)
	if !end.IsZero() && !now.Before(end) {
		s.revokeFamily(ctx, fam.ID, "the sign-in through the identity provider reached its lifetime")
		s.log.Info("upstream sign-in ended: its lifetime is over", "email", id.Email, "signed_in", fam.Created.UTC().Format(time.RFC3339))
		return nil, errInvalidGrant("the sign-in of %s through %s lasts %s and is over; sign in again", id.Email, st.upstreamDisplay(id.Provider), end.Sub(fam.Created))
	}
	if nb, ok := s.revs.Load().notBefore[id.Email]; ok && fam.Created.Before(nb) {
		s.revokeFamily(ctx, fam.ID, "the user's sign-ins were revoked")
		return nil, errInvalidGrant("the sign-ins of %s were revoked; sign in again", id.Email)
	}
	if id.IDP == IDPUsers {
		u := st.users[id.Email]
		if u == nil {
			s.revokeFamily(ctx, fam.ID, "the user was removed")
			return nil, errInvalidGrant("%s is no longer in the edge's user list", id.Email)
		}
		id = localIdentity(u) // current groups
	}
	if len(aud) == 0 {
		aud = fam.Audience
	}
	resolved, perr := st.resolveAudience(aud)
	if perr != nil {
		return nil, perr
	}
	resolved, denied := st.permit(id, resolved)
	if len(resolved) == 0 {
		s.revokeFamily(ctx, fam.ID, "the policy no longer allows the user any app of the sign-in")
		s.log.Info("refresh refused by the apps' policy", "email", id.Email, "idp", id.IDP, "apps", denied.apps)
		return nil, &protoError{http.StatusBadRequest, "invalid_grant", denied.revokedDesc()}
	}
	access, ttl, err := st.sign(id, resolved, fam.ID, now, end)
	if err != nil {
		return nil, err
	}
	return &tokenResponse{
		AccessToken: access, TokenType: "Bearer", ExpiresIn: int(ttl / time.Second),
		RefreshToken: next, Audience: resolved,
	}, nil
}

func (s *Server) revokeFamily(ctx context.Context, id, reason string) {
	if err := s.store.RevokeFamily(ctx, id, s.now(), reason); err != nil {
		s.log.Error("family not revoked in the store", "err", err)
	}
	s.revoke(id)
}

// revokeEndpoint is RFC 7009 token revocation for refresh tokens: the
// whole family goes, and its access tokens are refused on their next
// stream. Unknown tokens get 200, as the RFC says.
func (s *Server) revokeEndpoint(w http.ResponseWriter, r *http.Request) {
	f, perr := parseForm(r)
	if perr != nil {
		writeError(w, perr)
		return
	}
	if perr := clientOf(r, f); perr != nil {
		writeError(w, perr)
		return
	}
	tok := f.Get("token")
	switch {
	case tok == "":
		writeError(w, errInvalidRequest("token is missing"))
		return
	case strings.HasPrefix(tok, refreshPrefix):
		fam, err := s.store.FamilyByRefresh(r.Context(), key(tok))
		if err == nil {
			if err := s.store.RevokeFamily(r.Context(), fam.ID, s.now(), "revoked by the client"); err != nil {
				s.log.Error("revoke failed", "err", err)
				writeError(w, &protoError{http.StatusServiceUnavailable, "temporarily_unavailable", "the edge could not revoke the token"})
				return
			}
			s.revoke(fam.ID)
			s.log.Info("sign-in revoked by the client", "email", fam.Identity.Email)
		}
	case strings.Count(tok, ".") == 2:
		writeError(w, &protoError{http.StatusBadRequest, "unsupported_token_type", "revoke the refresh token: that revokes its access tokens too"})
		return
	}
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusOK)
}
