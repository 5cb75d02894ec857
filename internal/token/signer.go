package token

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"time"

	"github.com/airlockhq/airlock/internal/wire"
	"github.com/golang-jwt/jwt/v5"
)

// Signer signs tokens with one Ed25519 private key.
type Signer struct {
	kid    string
	key    ed25519.PrivateKey
	issuer string
	now    func() time.Time
}

// NewSigner returns a Signer that signs with key under key id kid and puts
// issuer in the tokens' "iss" claim.
func NewSigner(kid string, key ed25519.PrivateKey, issuer string) (*Signer, error) {
	if kid == "" {
		return nil, errors.New("signer: key id is empty")
	}
	if len(key) != ed25519.PrivateKeySize {
		return nil, fmt.Errorf("signer: private key is %d bytes, want %d", len(key), ed25519.PrivateKeySize)
	}
	return &Signer{kid: kid, key: key, issuer: issuer, now: time.Now}, nil
}

// PublicKey returns the key that verifies this signer's tokens.
func (s *Signer) PublicKey() wire.PublicKey {
	return wire.PublicKey{ID: s.kid, Key: s.key.Public().(ed25519.PublicKey)}
}

// Sign signs c. Zero Issuer, IssuedAt, NotBefore and ID are filled in (the
// signer's issuer, now, now, a random id); Audience, ExpiresAt, Kind and one
// of Subject or Email are required.
func (s *Signer) Sign(c Claims) (string, error) {
	now := s.now().Truncate(time.Second)
	if c.Issuer == "" {
		c.Issuer = s.issuer
	}
	if c.IssuedAt.IsZero() {
		c.IssuedAt = now
	}
	if c.NotBefore.IsZero() {
		c.NotBefore = now
	}
	if c.ID == "" {
		var b [16]byte
		if _, err := rand.Read(b[:]); err != nil {
			return "", fmt.Errorf("sign: %w", err)
		}
		c.ID = base64.RawURLEncoding.EncodeToString(b[:])
	}
	if err := c.checkRequired(); err != nil {
		return "", fmt.Errorf("sign: %w", err)
	}
	t := jwt.NewWithClaims(jwt.SigningMethodEdDSA, c.toJWT())
	t.Header["kid"] = s.kid
	out, err := t.SignedString(s.key)
	if err != nil {
		return "", fmt.Errorf("sign: %w", err)
	}
	return out, nil
}

// Mint returns a token of the given kind for email to open app, valid for
// ttl from now. The subject is the email.
func (s *Signer) Mint(kind Kind, app, email string, groups []string, ttl time.Duration) (string, error) {
	if ttl <= 0 {
		return "", fmt.Errorf("mint: ttl %v is not positive", ttl)
	}
	if err := wire.CheckHostname(app); err != nil {
		return "", fmt.Errorf("mint: app: %w", err)
	}
	return s.Sign(Claims{
		Subject:   email,
		Email:     email,
		Audience:  []string{app},
		ExpiresAt: s.now().Add(ttl),
		Groups:    groups,
		Kind:      kind,
	})
}
