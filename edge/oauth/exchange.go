package oauth

import (
	"fmt"
	"net/http"
	"net/url"
	"time"

	"github.com/airlockhq/airlock/internal/token"
)

// Token exchange (RFC 8693) identifiers.
const (
	grantTokenExchange = "urn:ietf:params:oauth:grant-type:token-exchange"
	tokenTypeAccess    = "urn:ietf:params:oauth:token-type:access_token"
	// tokenTypeID asks for a cluster credential (cluster.go): an ID
	// token for one Kubernetes API server.
	tokenTypeID = "urn:ietf:params:oauth:token-type:id_token"
)

// grantExchange narrows an access token from sign-in to the apps named by
// audience (RFC 8693 token exchange, subject_token_type access_token), so
// that what a client sends on a stream opens that one app at most. The
// new token keeps the subject token's identity, family, issue time and
// expiry: it can only be narrower, never longer-lived, and revoking the
// family or the user's sign-ins cuts it like the token it came from. No
// refresh token rotates and nothing is stored.
func (s *Server) grantExchange(f url.Values, aud []string) (*tokenResponse, error) {
	if f.Get("requested_token_type") == tokenTypeID {
		return s.grantCluster(f, aud)
	}
	if f.Get("requested_token_type") != "" && f.Get("requested_token_type") != tokenTypeAccess {
		return nil, errInvalidRequest("requested_token_type %s: only %s or %s", quote(f.Get("requested_token_type")), tokenTypeAccess, tokenTypeID)
	}
	st, c, allowed, err := s.exchangeSubject(f, aud)
	if err != nil {
		return nil, err
	}
	now := s.now()
	tok, err := st.Signer.Sign(token.Claims{
		Subject: c.Subject, Email: c.Email, Groups: c.Groups, Audience: allowed,
		IssuedAt: c.IssuedAt, NotBefore: now, ExpiresAt: c.ExpiresAt,
		Kind: token.KindAccess, Family: c.Family, IDP: c.IDP,
	})
	if err != nil {
		return nil, fmt.Errorf("sign the narrowed access token: %w", err)
	}
	return &tokenResponse{
		AccessToken: tok, IssuedTokenType: tokenTypeAccess, TokenType: "Bearer",
		ExpiresIn: int(c.ExpiresAt.Sub(now) / time.Second), Audience: allowed,
	}, nil
}

// exchangeSubject checks a token exchange's subject token: an access token
// from sign-in, unexpired, not revoked, naming every app of aud, and the
// apps' policy allowing its identity at least one of them (allowed).
func (s *Server) exchangeSubject(f url.Values, aud []string) (st *state, c *token.Claims, allowed []string, err error) {
	subject := f.Get("subject_token")
	switch {
	case subject == "":
		return nil, nil, nil, errInvalidRequest("subject_token is missing")
	case f.Get("subject_token_type") != tokenTypeAccess:
		return nil, nil, nil, errInvalidRequest("subject_token_type %s: only %s", quote(f.Get("subject_token_type")), tokenTypeAccess)
	case f.Get("actor_token") != "":
		return nil, nil, nil, errInvalidRequest("actor_token: this edge does not delegate")
	case len(aud) == 0:
		return nil, nil, nil, &protoError{http.StatusBadRequest, "invalid_target", "name the app to narrow the token to with audience"}
	}
	st = s.cur.Load()
	for _, a := range aud {
		got, err := st.verifier.Verify(subject, a)
		if err != nil {
			return nil, nil, nil, errInvalidGrant("subject_token for %s: %v", a, err)
		}
		c = got
	}
	if c.Kind != token.KindAccess {
		return nil, nil, nil, errInvalidGrant("subject_token is a %s token: only access tokens from sign-in are narrowed", c.Kind)
	}
	if now := s.now(); !now.Before(c.ExpiresAt) {
		return nil, nil, nil, errInvalidGrant("subject_token expired at %s", c.ExpiresAt.UTC().Format(time.RFC3339))
	}
	if err := s.CheckAccess(c); err != nil {
		return nil, nil, nil, errInvalidGrant("%v", err)
	}
	id := Identity{Subject: c.Subject, Email: c.Email, Groups: c.Groups, IDP: c.IDP}
	allowed, denied := st.permit(id, aud)
	if len(allowed) == 0 {
		return nil, nil, nil, denied.protoError()
	}
	return st, c, allowed, nil
}
