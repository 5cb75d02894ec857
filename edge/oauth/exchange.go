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
)

// grantExchange narrows an access token from sign-in to the apps named by
// audience (RFC 8693 token exchange, subject_token_type access_token), so
// that what a client sends on a stream opens that one app at most. The
// new token keeps the subject token's identity, family, issue time and
// expiry: it can only be narrower, never longer-lived, and revoking the
// family or the user's sign-ins cuts it like the token it came from. No
// refresh token rotates and nothing is stored.
func (s *Server) grantExchange(f url.Values, aud []string) (*tokenResponse, error) {
	subject := f.Get("subject_token")
	switch {
	case subject == "":
		return nil, errInvalidRequest("subject_token is missing")
	case f.Get("subject_token_type") != tokenTypeAccess:
		return nil, errInvalidRequest("subject_token_type %s: only %s", quote(f.Get("subject_token_type")), tokenTypeAccess)
	case f.Get("requested_token_type") != "" && f.Get("requested_token_type") != tokenTypeAccess:
		return nil, errInvalidRequest("requested_token_type %s: only %s", quote(f.Get("requested_token_type")), tokenTypeAccess)
	case f.Get("actor_token") != "":
		return nil, errInvalidRequest("actor_token: this edge does not delegate")
	case len(aud) == 0:
		return nil, &protoError{http.StatusBadRequest, "invalid_target", "name the app to narrow the token to with audience"}
	}
	st := s.cur.Load()
	var c *token.Claims
	for _, a := range aud {
		got, err := st.verifier.Verify(subject, a)
		if err != nil {
			return nil, errInvalidGrant("subject_token for %s: %v", a, err)
		}
		c = got
	}
	if c.Kind != token.KindAccess {
		return nil, errInvalidGrant("subject_token is a %s token: only access tokens from sign-in are narrowed", c.Kind)
	}
	now := s.now()
	if !now.Before(c.ExpiresAt) {
		return nil, errInvalidGrant("subject_token expired at %s", c.ExpiresAt.UTC().Format(time.RFC3339))
	}
	if err := s.CheckAccess(c); err != nil {
		return nil, errInvalidGrant("%v", err)
	}
	id := Identity{Subject: c.Subject, Email: c.Email, Groups: c.Groups, IDP: c.IDP}
	allowed, denied := st.permit(id, aud)
	if len(allowed) == 0 {
		return nil, denied.protoError()
	}
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
