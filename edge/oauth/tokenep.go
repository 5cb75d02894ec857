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
	IssuedTokenType string `json:"issued_token_type,omitempty"`
	TokenType       string `json:"token_type"`
	ExpiresIn       int    `json:"expires_in"`
	RefreshToken    string `json:"refresh_token,omitempty"`
	// IDToken is the OpenID Connect ID token of a sign-in (code and
	// device grants, and refresh).
	IDToken  string   `json:"id_token,omitempty"`
	Audience []string `json:"audience,omitempty"`
}

func writeError(w http.ResponseWriter, e *protoError) {
	if e.Code == "invalid_client" {
		w.Header().Set("WWW-Authenticate", `Basic realm="airlock"`)
	}
	writeJSON(w, e.Status, map[string]string{"error": e.Code, "error_description": e.Desc})
}

func quote(s string) string {
	if len(s) > 64 {
		s = s[:64] + "…"
	}
	return `"` + s + `"`
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
	resp, fam, err := s.issue(ctx, c.Identity, aud, c.ClientID, c.Nonce)
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
	idt, err := st.idToken(id, "", access, fam.Created, now)
	if err != nil {
		return nil, err
	}
	return &tokenResponse{
		AccessToken: access, TokenType: "Bearer", ExpiresIn: int(ttl / time.Second),
		RefreshToken: next, IDToken: idt, Audience: resolved,
	}, nil
}

func (s *Server) revokeFamily(ctx context.Context, id, reason string) {
	if err := s.store.RevokeFamily(ctx, id, s.now(), reason); err != nil {
		s.log.Error("family not revoked in the store", "err", err)
	}
	s.revoke(id)
}

// revokeToken is RFC 7009 token revocation for refresh tokens: the
// whole family goes, and its access tokens are refused on their next
// stream. Unknown tokens are fine (200), as the RFC says.
func (s *Server) revokeToken(ctx context.Context, tok string) error {
	switch {
	case tok == "":
		return errInvalidRequest("token is missing")
	case strings.HasPrefix(tok, refreshPrefix):
		fam, err := s.store.FamilyByRefresh(ctx, key(tok))
		if err != nil {
			return nil
		}
		if err := s.store.RevokeFamily(ctx, fam.ID, s.now(), "revoked by the client"); err != nil {
			s.log.Error("revoke failed", "err", err)
			return &protoError{http.StatusServiceUnavailable, "temporarily_unavailable", "the edge could not revoke the token"}
		}
		s.revoke(fam.ID)
		s.log.Info("sign-in revoked by the client", "email", fam.Identity.Email)
	case strings.Count(tok, ".") == 2:
		return &protoError{http.StatusBadRequest, "unsupported_token_type", "revoke the refresh token: that revokes its access tokens too"}
	}
	return nil
}
