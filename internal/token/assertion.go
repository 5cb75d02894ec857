package token

import (
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/airlockhq/airlock/internal/wire"
	"github.com/golang-jwt/jwt/v5"
)

// Stream assertions: what the edge vouches for on one stream, signed for the
// one connector connection it sends the stream to.
const (
	// AssertionType is the "typ" header of a stream assertion. Access and
	// service tokens carry "JWT" (or none); [Verifier.Verify] refuses any
	// other, so an assertion never opens anything at the edge.
	AssertionType = "airlock-stream+jwt"
	// UseStream is the "token_use" claim of a stream assertion; access and
	// service tokens have none.
	UseStream = "stream"
	// DefaultAssertionTTL is how long the edge's assertions live: long
	// enough for a connector to receive and check one, short enough that
	// its replay cache stays small.
	DefaultAssertionTTL = 30 * time.Second
	// MaxAssertionTTL bounds the lifetime ("exp" minus "iat") that
	// [Verifier.VerifyAssertion] accepts.
	MaxAssertionTTL = 2 * time.Minute
	// tunnelAudience prefixes the tunnel id in an assertion's "aud". The
	// colon makes it an invalid hostname: no app can be named so.
	tunnelAudience = "tunnel:"
)

// Refusals of stream assertions, besides the sentinels shared with tokens.
var (
	// ErrWrongUse is a token presented for another use: a stream
	// assertion where an access or service token is expected, or the
	// reverse.
	ErrWrongUse = errors.New("token is not for this use")
	// ErrReplayed is a stream assertion whose nonce was accepted before.
	ErrReplayed = errors.New("stream assertion already used")
	// ErrReplayCacheFull is a stream assertion refused because the
	// replay cache holds its maximum of live entries: accepting it
	// unrecorded would let it be replayed.
	ErrReplayCacheFull = errors.New("too many stream assertions in their lifetime")
)

// Assertion is the verified content of a stream assertion: the identity the
// edge verified on one stream (from the user's access or service token,
// which never leaves the edge), bound to one tunnel, one app and one stream.
type Assertion struct {
	KeyID    string // the "kid" header
	Issuer   string
	TunnelID string // "aud" is "tunnel:" and this id
	App      string // "app": the app hostname the stream opens
	StreamID string // "sid": the edge's id of the stream, in both audit logs
	Nonce    string // "jti": random; a connector accepts each nonce once
	IssuedAt time.Time
	// ExpiresAt is the "exp" claim: a few seconds after IssuedAt.
	ExpiresAt time.Time
	Subject   string
	Email     string
	Groups    []string
	// Kind ("token_kind") is the kind of token the user presented.
	Kind Kind
}

// AssertionTarget is what a connector expects of the assertion of a stream
// it was sent: its own tunnel, and the app and stream id of the Dial frame.
type AssertionTarget struct {
	TunnelID string
	App      string
	StreamID string
}

// assertionJWT is the JSON form of an Assertion.
type assertionJWT struct {
	jwt.RegisteredClaims
	Use      string   `json:"token_use"`
	App      string   `json:"app"`
	StreamID string   `json:"sid"`
	Email    string   `json:"email,omitempty"`
	Groups   []string `json:"groups,omitempty"`
	Kind     Kind     `json:"token_kind"`
}

// Assert signs a stream assertion valid for ttl from now, with a new random
// nonce. a's TunnelID, App, StreamID, Kind and one of Subject or Email are
// required; its Issuer, IssuedAt, ExpiresAt and Nonce are filled in.
func (s *Signer) Assert(a Assertion, ttl time.Duration) (string, error) {
	if ttl <= 0 || ttl > MaxAssertionTTL {
		return "", fmt.Errorf("assert: ttl %v is outside (0, %v]", ttl, MaxAssertionTTL)
	}
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", fmt.Errorf("assert: %w", err)
	}
	now := s.now().Truncate(time.Second)
	a.Issuer, a.IssuedAt, a.ExpiresAt = s.issuer, now, now.Add(ttl)
	a.Nonce = base64.RawURLEncoding.EncodeToString(b[:])
	if err := a.checkRequired(); err != nil {
		return "", fmt.Errorf("assert: %w", err)
	}
	j := &assertionJWT{
		RegisteredClaims: jwt.RegisteredClaims{
			Issuer:    a.Issuer,
			Subject:   a.Subject,
			Audience:  jwt.ClaimStrings{tunnelAudience + a.TunnelID},
			ExpiresAt: jwt.NewNumericDate(a.ExpiresAt),
			IssuedAt:  jwt.NewNumericDate(a.IssuedAt),
			NotBefore: jwt.NewNumericDate(a.IssuedAt),
			ID:        a.Nonce,
		},
		Use: UseStream, App: a.App, StreamID: a.StreamID, Email: a.Email, Groups: a.Groups, Kind: a.Kind,
	}
	t := jwt.NewWithClaims(jwt.SigningMethodEdDSA, j)
	t.Header["kid"] = s.kid
	t.Header["typ"] = AssertionType
	out, err := t.SignedString(s.key)
	if err != nil {
		return "", fmt.Errorf("assert: %w", err)
	}
	return out, nil
}

// checkRequired reports the first claim a usable assertion lacks.
func (a *Assertion) checkRequired() error {
	switch {
	case a.TunnelID == "":
		return fmt.Errorf("%w: no tunnel (aud)", ErrMissingClaim)
	case wire.CheckHostname(a.App) != nil:
		return fmt.Errorf("%w: no app hostname (app)", ErrMissingClaim)
	case a.StreamID == "":
		return fmt.Errorf("%w: no stream id (sid)", ErrMissingClaim)
	case a.Nonce == "":
		return fmt.Errorf("%w: no nonce (jti)", ErrMissingClaim)
	case a.IssuedAt.IsZero() || a.ExpiresAt.IsZero():
		return fmt.Errorf("%w: no issue time (iat) or expiry (exp)", ErrMissingClaim)
	case a.Subject == "" && a.Email == "":
		return fmt.Errorf("%w: neither subject (sub) nor email", ErrMissingClaim)
	case a.Kind != KindAccess && a.Kind != KindService:
		return fmt.Errorf("%w: token kind %q is neither %q nor %q", ErrMissingClaim, a.Kind, KindAccess, KindService)
	}
	return nil
}

// VerifyAssertion checks a stream assertion: its signature by one of the
// verifier's keys, its "typ" and "token_use", its lifetime (at most
// MaxAssertionTTL, not expired, not issued in the future, with the
// verifier's leeway), its issuer (when the verifier has one), that it names
// want's tunnel, app and stream, and, when the verifier has a replay cache,
// that its nonce was not accepted before. Assertions are never cached: each
// is for one stream. A refusal wraps one of the package's sentinel errors.
func (v *Verifier) VerifyAssertion(tok string, want AssertionTarget) (*Assertion, error) {
	var j assertionJWT
	kid, typ, err := verifySigned(tok, v.keys.Load(), &j)
	if err != nil {
		return nil, err
	}
	if !strings.EqualFold(typ, AssertionType) || j.Use != UseStream {
		return nil, errorf(ErrWrongUse, "typ %q, token_use %q: not a stream assertion", typ, j.Use)
	}
	a := j.toAssertion(kid)
	if err := a.checkRequired(); err != nil {
		return nil, err
	}
	now := v.now()
	switch {
	case a.ExpiresAt.Sub(a.IssuedAt) > MaxAssertionTTL:
		return nil, errorf(ErrMalformed, "lifetime %s exceeds %s", a.ExpiresAt.Sub(a.IssuedAt), MaxAssertionTTL)
	case !now.Before(a.ExpiresAt.Add(v.leeway)):
		return nil, errorf(ErrExpired, "assertion expired at %s (%s ago)", a.ExpiresAt.UTC().Format(time.RFC3339), now.Sub(a.ExpiresAt).Round(time.Second))
	case now.Add(v.leeway).Before(a.IssuedAt):
		return nil, errorf(ErrNotYetValid, "assertion issued at %s (in %s)", a.IssuedAt.UTC().Format(time.RFC3339), a.IssuedAt.Sub(now).Round(time.Second))
	case v.issuer != "" && a.Issuer != v.issuer:
		return nil, errorf(ErrWrongIssuer, "issued by %q, not %q", a.Issuer, v.issuer)
	case a.TunnelID != want.TunnelID:
		return nil, errorf(ErrWrongAudience, "assertion is for tunnel %q, not %q", a.TunnelID, want.TunnelID)
	case !strings.EqualFold(a.App, want.App):
		return nil, errorf(ErrWrongAudience, "assertion is for app %q, not %q", a.App, want.App)
	case a.StreamID != want.StreamID:
		return nil, errorf(ErrWrongAudience, "assertion is for stream %q, not %q", a.StreamID, want.StreamID)
	}
	if v.replay != nil {
		if err := v.replay.Use(a.Nonce, a.ExpiresAt.Add(v.leeway), now); err != nil {
			return nil, err
		}
	}
	return a, nil
}

func (j *assertionJWT) toAssertion(kid string) *Assertion {
	a := &Assertion{
		KeyID: kid, Issuer: j.Issuer, Subject: j.Subject, Nonce: j.ID,
		App: j.App, StreamID: j.StreamID, Email: j.Email, Groups: j.Groups, Kind: j.Kind,
	}
	if len(j.Audience) == 1 {
		if id, ok := strings.CutPrefix(j.Audience[0], tunnelAudience); ok {
			a.TunnelID = id
		}
	}
	if j.ExpiresAt != nil {
		a.ExpiresAt = j.ExpiresAt.Time
	}
	if j.IssuedAt != nil {
		a.IssuedAt = j.IssuedAt.Time
	}
	return a
}
