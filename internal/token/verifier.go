package token

import (
	"bytes"
	"crypto/ed25519"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/airlockhq/airlock/internal/wire"
	"github.com/golang-jwt/jwt/v5"
)

// Defaults of [VerifierOptions].
const (
	DefaultLeeway    = 30 * time.Second
	DefaultCacheSize = 4096
)

// VerifierOptions tune a [Verifier]. The zero value means the defaults.
type VerifierOptions struct {
	// Issuer, when set, must equal the tokens' "iss" claim.
	Issuer string
	// Leeway is the clock skew allowed on "exp" and "nbf": DefaultLeeway if
	// zero, none if negative.
	Leeway time.Duration
	// CacheSize bounds the number of verified tokens remembered:
	// DefaultCacheSize if zero, no cache if negative. Only tokens whose
	// signature verified enter the cache, so it cannot be filled with junk.
	CacheSize int
	// Now returns the current time; time.Now if nil.
	Now func() time.Time
	// Replay, when set, is where [Verifier.VerifyAssertion] records the
	// nonces of the stream assertions it accepts, refusing each one seen
	// before. It may be shared by several verifiers.
	Replay *ReplayCache
}

// Verifier verifies tokens against a replaceable set of public keys. It is
// safe for concurrent use.
type Verifier struct {
	issuer string
	leeway time.Duration
	now    func() time.Time
	replay *ReplayCache
	keys   atomic.Pointer[keySet]

	mu    sync.Mutex // guards cache and the replacement of keys
	cache *lru
}

type keySet struct {
	gen  uint64
	m    map[string]ed25519.PublicKey
	list []wire.PublicKey
}

// NewVerifier returns a Verifier that accepts tokens signed by keys.
func NewVerifier(keys []wire.PublicKey, opts VerifierOptions) (*Verifier, error) {
	v := &Verifier{issuer: opts.Issuer, leeway: opts.Leeway, now: opts.Now, replay: opts.Replay}
	switch {
	case v.leeway == 0:
		v.leeway = DefaultLeeway
	case v.leeway < 0:
		v.leeway = 0
	}
	if v.now == nil {
		v.now = time.Now
	}
	size := opts.CacheSize
	if size == 0 {
		size = DefaultCacheSize
	}
	v.cache = newLRU(size)
	ks, err := newKeySet(keys, 1)
	if err != nil {
		return nil, err
	}
	v.keys.Store(ks)
	return v, nil
}

func newKeySet(keys []wire.PublicKey, gen uint64) (*keySet, error) {
	ks := &keySet{gen: gen, m: make(map[string]ed25519.PublicKey, len(keys))}
	for i, k := range keys {
		if k.ID == "" {
			return nil, fmt.Errorf("verification key %d has no id", i)
		}
		if len(k.Key) != ed25519.PublicKeySize {
			return nil, fmt.Errorf("verification key %q is %d bytes, want %d", k.ID, len(k.Key), ed25519.PublicKeySize)
		}
		if _, dup := ks.m[k.ID]; dup {
			return nil, fmt.Errorf("verification key id %q appears twice", k.ID)
		}
		key := bytes.Clone(k.Key)
		ks.m[k.ID] = key
		ks.list = append(ks.list, wire.PublicKey{ID: k.ID, Key: key})
	}
	return ks, nil
}

// SetKeys replaces the verification keys. Cached tokens signed by a key that
// is gone (or whose id now names another key) are forgotten at once.
func (v *Verifier) SetKeys(keys []wire.PublicKey) error {
	v.mu.Lock()
	defer v.mu.Unlock()
	old := v.keys.Load()
	ks, err := newKeySet(keys, old.gen+1)
	if err != nil {
		return err
	}
	v.keys.Store(ks)
	v.cache.removeIf(func(c *Claims) bool {
		k, ok := ks.m[c.KeyID]
		return !ok || !k.Equal(old.m[c.KeyID])
	})
	return nil
}

// Keys returns the current verification keys.
func (v *Verifier) Keys() []wire.PublicKey {
	ks := v.keys.Load()
	out := make([]wire.PublicKey, len(ks.list))
	copy(out, ks.list)
	return out
}

// Verify checks tok's signature, expiry, not-before, issuer (when the
// verifier has one) and that aud is one of its audiences, and returns its
// claims. The returned Claims are shared: do not modify them. A refusal
// wraps one of the package's sentinel errors.
func (v *Verifier) Verify(tok, aud string) (*Claims, error) {
	now := v.now()
	if c := v.cached(tok, now); c != nil {
		return c, v.check(c, aud, now)
	}
	ks := v.keys.Load()
	c, err := parse(tok, ks)
	if err != nil {
		return nil, err
	}
	if err := v.check(c, aud, now); err != nil {
		if !errors.Is(err, ErrWrongAudience) {
			return nil, err
		}
		// The claims are authentic: remember them for their right audience.
		v.remember(tok, c, ks, now)
		return nil, err
	}
	if !v.remember(tok, c, ks, now) {
		return nil, errorf(ErrUnknownKey, "key id %q was removed while the token was being verified", c.KeyID)
	}
	return c, nil
}

func (v *Verifier) cached(tok string, now time.Time) *Claims {
	v.mu.Lock()
	defer v.mu.Unlock()
	return v.cache.get(tok, now)
}

// remember caches c unless the keys changed since ks was loaded and c's key
// is no longer the same; it reports whether c's key is still current.
func (v *Verifier) remember(tok string, c *Claims, ks *keySet, now time.Time) bool {
	v.mu.Lock()
	defer v.mu.Unlock()
	if cur := v.keys.Load(); cur.gen != ks.gen {
		if k, ok := cur.m[c.KeyID]; !ok || !k.Equal(ks.m[c.KeyID]) {
			return false
		}
	}
	if c.ExpiresAt.Add(v.leeway).After(now) && len(tok) <= wire.MaxTokenLen {
		v.cache.put(tok, c, c.ExpiresAt.Add(v.leeway))
	}
	return true
}

// check validates the time, issuer and audience claims of verified claims.
func (v *Verifier) check(c *Claims, aud string, now time.Time) error {
	if exp := c.ExpiresAt.Add(v.leeway); !now.Before(exp) {
		return errorf(ErrExpired, "expired at %s (%s ago)", c.ExpiresAt.UTC().Format(time.RFC3339), now.Sub(c.ExpiresAt).Round(time.Second))
	}
	if !c.NotBefore.IsZero() && now.Add(v.leeway).Before(c.NotBefore) {
		return errorf(ErrNotYetValid, "valid from %s (in %s)", c.NotBefore.UTC().Format(time.RFC3339), c.NotBefore.Sub(now).Round(time.Second))
	}
	if v.issuer != "" && c.Issuer != v.issuer {
		return errorf(ErrWrongIssuer, "issued by %q, not %q", c.Issuer, v.issuer)
	}
	if !c.HasAudience(aud) {
		return errorf(ErrWrongAudience, "token is for %s, not %q", describeAudience(c.Audience), aud)
	}
	return nil
}

func describeAudience(aud []string) string {
	const show = 3
	if len(aud) == 1 {
		return fmt.Sprintf("%q", aud[0])
	}
	q := make([]string, 0, show)
	for i, a := range aud {
		if i == show {
			return fmt.Sprintf("[%s and %d more]", strings.Join(q, " "), len(aud)-show)
		}
		q = append(q, fmt.Sprintf("%q", a))
	}
	return "[" + strings.Join(q, " ") + "]"
}

// parse verifies tok's signature against ks and returns its claims: those
// of an access or service token, never of a stream assertion.
func parse(tok string, ks *keySet) (*Claims, error) {
	var jc tokenJWT
	kid, typ, err := verifySigned(tok, ks, &jc)
	if err != nil {
		return nil, err
	}
	if typ != "" && !strings.EqualFold(typ, "JWT") || jc.Use != "" {
		return nil, errorf(ErrWrongUse, "typ %q, token_use %q: not an access or service token", typ, jc.Use)
	}
	c := jc.toClaims(kid)
	if err := c.checkRequired(); err != nil {
		return nil, err
	}
	return c, nil
}

// tokenJWT is what parse decodes: an access or service token, and the
// "token_use" claim that only other kinds of token (stream assertions)
// carry.
type tokenJWT struct {
	jwtClaims
	Use string `json:"token_use,omitempty"`
}

// verifySigned checks tok's size, algorithm (EdDSA only), key id and
// signature against ks, decodes its claims into claims, and returns the key
// id and the "typ" header. It checks no claim.
func verifySigned(tok string, ks *keySet, claims jwt.Claims) (kid, typ string, err error) {
	if tok == "" {
		return "", "", errorf(ErrMalformed, "no token")
	}
	if len(tok) > wire.MaxTokenLen {
		return "", "", errorf(ErrMalformed, "token is %d bytes, limit %d", len(tok), wire.MaxTokenLen)
	}
	var kerr error
	p := jwt.NewParser(jwt.WithoutClaimsValidation(), jwt.WithStrictDecoding())
	t, err := p.ParseWithClaims(tok, claims, func(t *jwt.Token) (any, error) {
		if _, ok := t.Method.(*jwt.SigningMethodEd25519); !ok || t.Method.Alg() != jwt.SigningMethodEdDSA.Alg() {
			kerr = errorf(ErrAlgorithm, "alg %q (only EdDSA is accepted)", t.Method.Alg())
			return nil, kerr
		}
		k, _ := t.Header["kid"].(string)
		if k == "" {
			kerr = errorf(ErrUnknownKey, "no key id (kid) in the header")
			return nil, kerr
		}
		pub, ok := ks.m[k]
		if !ok {
			kerr = errorf(ErrUnknownKey, "key id %q is not a current signing key", k)
			return nil, kerr
		}
		kid = k
		return pub, nil
	})
	switch {
	case kerr != nil:
		return "", "", kerr
	case err == nil:
	case errors.Is(err, jwt.ErrTokenMalformed):
		return "", "", errorf(ErrMalformed, "%s", strings.TrimPrefix(err.Error(), jwt.ErrTokenMalformed.Error()+": "))
	case errors.Is(err, jwt.ErrTokenUnverifiable):
		return "", "", errorf(ErrAlgorithm, "%s", strings.TrimPrefix(err.Error(), jwt.ErrTokenUnverifiable.Error()+": "))
	case errors.Is(err, jwt.ErrTokenSignatureInvalid):
		return "", "", errorf(ErrBadSignature, "with key id %q", kid)
	default:
		return "", "", errorf(ErrMalformed, "%v", err)
	}
	typ, _ = t.Header["typ"].(string)
	return kid, typ, nil
}
