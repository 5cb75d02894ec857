package token

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// Kind says how a token was obtained.
type Kind string

// Kinds of token.
const (
	KindAccess  Kind = "access"  // issued to a signed-in user
	KindService Kind = "service" // minted by an operator for automation
)

// Claims are the verified contents of a token. A *Claims returned by
// [Verifier.Verify] is shared with the cache: callers must not modify it.
type Claims struct {
	KeyID     string // the "kid" header: which key signed it
	Issuer    string
	Subject   string
	Audience  []string // app hostnames
	ExpiresAt time.Time
	IssuedAt  time.Time
	NotBefore time.Time
	ID        string // "jti"
	Email     string
	Groups    []string
	Kind      Kind
	// Family is the "fam" claim of access tokens from sign-in: the refresh
	// token family they came from, so that revoking the family refuses
	// its access tokens at once.
	Family string
	// IDP is the "idp" claim of access tokens from sign-in: which identity
	// provider vouched for the user ("users" for the edge's own user list,
	// "oidc" for the upstream OIDC provider).
	IDP string
	// IDPName is the "idp_name" claim: the upstream provider's name (an
	// edge may have several), for audit lines.
	IDPName string

	// emailKey and subjectKey are Email and Subject lower-cased, set
	// once when the token is verified (and cached with it), so that a
	// case-insensitive check on every stream lowers nothing.
	emailKey, subjectKey string
}

// EmailKey returns Email lower-cased: the key of case-insensitive lookups
// by email (revocations, policy). For claims from [Verifier.Verify] it
// was computed once, with the verification.
func (c *Claims) EmailKey() string {
	if c.emailKey == "" && c.Email != "" {
		return strings.ToLower(c.Email)
	}
	return c.emailKey
}

// SubjectKey returns Subject lower-cased, as EmailKey does Email.
func (c *Claims) SubjectKey() string {
	if c.subjectKey == "" && c.Subject != "" {
		return strings.ToLower(c.Subject)
	}
	return c.subjectKey
}

// HasAudience reports whether aud is one of the token's audiences.
func (c *Claims) HasAudience(aud string) bool {
	return slices.Contains(c.Audience, aud)
}

// jwtClaims is the JSON form of Claims.
type jwtClaims struct {
	jwt.RegisteredClaims
	Email  string   `json:"email,omitempty"`
	Groups []string `json:"groups,omitempty"`
	Kind   Kind     `json:"kind,omitempty"`
	Family string   `json:"fam,omitempty"`
	IDP    string   `json:"idp,omitempty"`
	IDPN   string   `json:"idp_name,omitempty"`
}

func (c *Claims) toJWT() *jwtClaims {
	j := &jwtClaims{
		RegisteredClaims: jwt.RegisteredClaims{
			Issuer:   c.Issuer,
			Subject:  c.Subject,
			Audience: jwt.ClaimStrings(c.Audience),
			ID:       c.ID,
		},
		Email:  c.Email,
		Groups: c.Groups,
		Kind:   c.Kind,
		Family: c.Family,
		IDP:    c.IDP,
		IDPN:   c.IDPName,
	}
	if !c.ExpiresAt.IsZero() {
		j.ExpiresAt = jwt.NewNumericDate(c.ExpiresAt)
	}
	if !c.IssuedAt.IsZero() {
		j.IssuedAt = jwt.NewNumericDate(c.IssuedAt)
	}
	if !c.NotBefore.IsZero() {
		j.NotBefore = jwt.NewNumericDate(c.NotBefore)
	}
	return j
}

func (j *jwtClaims) toClaims(kid string) *Claims {
	c := &Claims{
		KeyID:    kid,
		Issuer:   j.Issuer,
		Subject:  j.Subject,
		Audience: []string(j.Audience),
		ID:       j.ID,
		Email:    j.Email,
		Groups:   j.Groups,
		Kind:     j.Kind,
		Family:   j.Family,
		IDP:      j.IDP,
		IDPName:  j.IDPN,

		emailKey:   strings.ToLower(j.Email),
		subjectKey: strings.ToLower(j.Subject),
	}
	if j.ExpiresAt != nil {
		c.ExpiresAt = j.ExpiresAt.Time
	}
	if j.IssuedAt != nil {
		c.IssuedAt = j.IssuedAt.Time
	}
	if j.NotBefore != nil {
		c.NotBefore = j.NotBefore.Time
	}
	return c
}

// checkRequired reports the first claim a usable token lacks.
func (c *Claims) checkRequired() error {
	switch {
	case c.ExpiresAt.IsZero():
		return fmt.Errorf("%w: no expiry (exp)", ErrMissingClaim)
	case len(c.Audience) == 0:
		return fmt.Errorf("%w: no audience (aud)", ErrMissingClaim)
	case c.Subject == "" && c.Email == "":
		return fmt.Errorf("%w: neither subject (sub) nor email", ErrMissingClaim)
	case c.Kind != KindAccess && c.Kind != KindService:
		return fmt.Errorf("%w: kind %q is neither %q nor %q", ErrMissingClaim, c.Kind, KindAccess, KindService)
	}
	return nil
}
