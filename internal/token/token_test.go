package token

import (
	"crypto/ed25519"
	"encoding/base64"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/airlockhq/airlock/internal/wire"
	"github.com/golang-jwt/jwt/v5"
)

const testApp = "k8s.demo.test"

// clock is a settable time source.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

func newSigner(tb testing.TB) *Signer {
	tb.Helper()
	kid, key, err := GenerateKey()
	if err != nil {
		tb.Fatal(err)
	}
	s, err := NewSigner(kid, key, "airlock-test")
	if err != nil {
		tb.Fatal(err)
	}
	return s
}

func newVerifier(tb testing.TB, opts VerifierOptions, signers ...*Signer) *Verifier {
	tb.Helper()
	var keys []wire.PublicKey
	for _, s := range signers {
		keys = append(keys, s.PublicKey())
	}
	v, err := NewVerifier(keys, opts)
	if err != nil {
		tb.Fatal(err)
	}
	return v
}

func mint(tb testing.TB, s *Signer, ttl time.Duration) string {
	tb.Helper()
	tok, err := s.Mint(KindService, testApp, "alice@example.com", []string{"dev"}, ttl)
	if err != nil {
		tb.Fatal(err)
	}
	return tok
}

func TestVerifyGood(t *testing.T) {
	s := newSigner(t)
	v := newVerifier(t, VerifierOptions{Issuer: "airlock-test"}, s)
	tok := mint(t, s, time.Hour)
	for i := range 2 { // the second call is served from the cache
		c, err := v.Verify(tok, testApp)
		if err != nil {
			t.Fatalf("call %d: %v", i, err)
		}
		if c.Email != "alice@example.com" || c.Subject != "alice@example.com" || c.Kind != KindService ||
			c.KeyID != s.PublicKey().ID || c.Issuer != "airlock-test" || len(c.Groups) != 1 || c.ID == "" {
			t.Fatalf("call %d: claims %+v", i, c)
		}
	}
	if n := v.cache.len(); n != 1 {
		t.Fatalf("cache holds %d entries, want 1", n)
	}
}

// forge returns a token with the given header and claims and a signature
// made by sign (nil: a garbage signature).
func forge(t *testing.T, method jwt.SigningMethod, kid string, claims jwt.Claims, key any) string {
	t.Helper()
	tk := jwt.NewWithClaims(method, claims)
	if kid != "" {
		tk.Header["kid"] = kid
	}
	out, err := tk.SignedString(key)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func TestVerifyRefusals(t *testing.T) {
	clk := &clock{t: time.Now()}
	s := newSigner(t)
	s.now = clk.Now
	other := newSigner(t)
	v := newVerifier(t, VerifierOptions{Issuer: "airlock-test", Now: clk.Now}, s)
	kid := s.PublicKey().ID
	pub := s.PublicKey().Key
	good := func() *jwtClaims {
		c := Claims{Issuer: "airlock-test", Subject: "a", Email: "a@example.com", Audience: []string{testApp},
			ExpiresAt: clk.Now().Add(time.Hour), IssuedAt: clk.Now(), Kind: KindService}
		return c.toJWT()
	}
	good2 := good()
	good2.Audience = []string{"other.app"}
	expired := good()
	expired.ExpiresAt = jwt.NewNumericDate(clk.Now().Add(-time.Minute))
	future := good()
	future.NotBefore = jwt.NewNumericDate(clk.Now().Add(time.Hour))
	noExp := good()
	noExp.ExpiresAt = nil
	noKind := good()
	noKind.Kind = ""
	wrongIss := good()
	wrongIss.Issuer = "evil"

	valid := forge(t, jwt.SigningMethodEdDSA, kid, good(), s.key)
	parts := strings.Split(valid, ".")
	otherSig := strings.Split(forge(t, jwt.SigningMethodEdDSA, kid, good(), other.key), ".")[2]
	tampered := good()
	tampered.Email = "admin@example.com"
	tamperedPayload := strings.Split(forge(t, jwt.SigningMethodEdDSA, kid, tampered, s.key), ".")[1]

	cases := []struct {
		name string
		tok  string
		want error
		msg  string
	}{
		{"empty", "", ErrMalformed, "no token"},
		{"garbage", "not a token", ErrMalformed, ""},
		{"two segments", parts[0] + "." + parts[1], ErrMalformed, ""},
		{"bad base64", parts[0] + ".!!!." + parts[2], ErrMalformed, ""},
		{"huge", strings.Repeat("a", wire.MaxTokenLen+1), ErrMalformed, "limit"},
		{"forged signature", parts[0] + "." + parts[1] + "." + otherSig, ErrBadSignature, kid},
		{"tampered claims", parts[0] + "." + tamperedPayload + "." + parts[2], ErrBadSignature, ""},
		{"signed by another key same kid", forge(t, jwt.SigningMethodEdDSA, kid, good(), other.key), ErrBadSignature, ""},
		{"unknown kid", forge(t, jwt.SigningMethodEdDSA, other.PublicKey().ID, good(), other.key), ErrUnknownKey, other.PublicKey().ID},
		{"no kid", forge(t, jwt.SigningMethodEdDSA, "", good(), s.key), ErrUnknownKey, "no key id"},
		{"alg none", forge(t, jwt.SigningMethodNone, kid, good(), jwt.UnsafeAllowNoneSignatureType), ErrAlgorithm, `"none"`},
		{"HS256 with the public key as secret", forge(t, jwt.SigningMethodHS256, kid, good(), []byte(pub)), ErrAlgorithm, "HS256"},
		{"unknown alg", base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"XX1","kid":"`+kid+`"}`)) + "." + parts[1] + "." + parts[2], ErrAlgorithm, ""},
		{"expired", forge(t, jwt.SigningMethodEdDSA, kid, expired, s.key), ErrExpired, "expired at"},
		{"not yet valid", forge(t, jwt.SigningMethodEdDSA, kid, future, s.key), ErrNotYetValid, ""},
		{"wrong audience", forge(t, jwt.SigningMethodEdDSA, kid, good2, s.key), ErrWrongAudience, `"other.app"`},
		{"wrong issuer", forge(t, jwt.SigningMethodEdDSA, kid, wrongIss, s.key), ErrWrongIssuer, `"evil"`},
		{"no expiry", forge(t, jwt.SigningMethodEdDSA, kid, noExp, s.key), ErrMissingClaim, "exp"},
		{"no kind", forge(t, jwt.SigningMethodEdDSA, kid, noKind, s.key), ErrMissingClaim, "kind"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			for i := range 2 { // a refusal must not be cached into a success
				c, err := v.Verify(tc.tok, testApp)
				if !errors.Is(err, tc.want) {
					t.Fatalf("call %d: got %v (claims %v), want %v", i, err, c, tc.want)
				}
				if !strings.Contains(err.Error(), tc.msg) {
					t.Fatalf("error %q does not name %q", err, tc.msg)
				}
				if len(tc.tok) > 20 && strings.Contains(err.Error(), tc.tok) {
					t.Fatalf("error %q contains the token", err)
				}
			}
		})
	}
	if _, err := v.Verify(valid, testApp); err != nil {
		t.Fatalf("the valid token of the matrix: %v", err)
	}
}

func TestCacheExpiry(t *testing.T) {
	clk := &clock{t: time.Now()}
	s := newSigner(t)
	s.now = clk.Now
	v := newVerifier(t, VerifierOptions{Now: clk.Now, Leeway: 5 * time.Second}, s)
	tok := mint(t, s, time.Minute)
	if _, err := v.Verify(tok, testApp); err != nil {
		t.Fatal(err)
	}
	clk.Add(time.Minute + 4*time.Second) // within leeway
	if _, err := v.Verify(tok, testApp); err != nil {
		t.Fatalf("within leeway: %v", err)
	}
	clk.Add(2 * time.Second)
	if _, err := v.Verify(tok, testApp); !errors.Is(err, ErrExpired) {
		t.Fatalf("after expiry: %v, want ErrExpired", err)
	}
	if n := v.cache.len(); n != 0 {
		t.Fatalf("cache holds %d entries after expiry", n)
	}
}

func TestCacheAudienceChecked(t *testing.T) {
	s := newSigner(t)
	v := newVerifier(t, VerifierOptions{}, s)
	tok := mint(t, s, time.Hour)
	if _, err := v.Verify(tok, testApp); err != nil {
		t.Fatal(err)
	}
	if _, err := v.Verify(tok, "other.app"); !errors.Is(err, ErrWrongAudience) {
		t.Fatalf("cached token, other audience: %v", err)
	}
}

func TestKeyRotation(t *testing.T) {
	a, b := newSigner(t), newSigner(t)
	v := newVerifier(t, VerifierOptions{}, a)
	ta, tb := mint(t, a, time.Hour), mint(t, b, time.Hour)
	if _, err := v.Verify(ta, testApp); err != nil {
		t.Fatal(err)
	}
	if _, err := v.Verify(tb, testApp); !errors.Is(err, ErrUnknownKey) {
		t.Fatalf("before rotation: %v", err)
	}
	if err := v.SetKeys([]wire.PublicKey{a.PublicKey(), b.PublicKey()}); err != nil {
		t.Fatal(err)
	}
	if n := v.cache.len(); n != 1 {
		t.Fatalf("adding a key dropped cached tokens: %d left", n)
	}
	if _, err := v.Verify(tb, testApp); err != nil {
		t.Fatalf("after adding b: %v", err)
	}
	if err := v.SetKeys([]wire.PublicKey{b.PublicKey()}); err != nil {
		t.Fatal(err)
	}
	if _, err := v.Verify(ta, testApp); !errors.Is(err, ErrUnknownKey) {
		t.Fatalf("cached token of a removed key: %v, want ErrUnknownKey", err)
	}
	if _, err := v.Verify(tb, testApp); err != nil {
		t.Fatal(err)
	}
	// Same id, other key bytes: cached tokens of the old key go.
	c := newSigner(t)
	if err := v.SetKeys([]wire.PublicKey{{ID: b.PublicKey().ID, Key: c.PublicKey().Key}}); err != nil {
		t.Fatal(err)
	}
	if _, err := v.Verify(tb, testApp); !errors.Is(err, ErrBadSignature) {
		t.Fatalf("token of a replaced key: %v, want ErrBadSignature", err)
	}
	if got := v.Keys(); len(got) != 1 || !got[0].Key.Equal(c.PublicKey().Key) {
		t.Fatalf("Keys() = %v", got)
	}
}

func TestSetKeysRejectsBadKeys(t *testing.T) {
	v := newVerifier(t, VerifierOptions{})
	cases := map[string][]wire.PublicKey{
		"no id":     {{Key: make(ed25519.PublicKey, ed25519.PublicKeySize)}},
		"short key": {{ID: "k", Key: make(ed25519.PublicKey, 3)}},
		"dup id":    {{ID: "k", Key: make(ed25519.PublicKey, 32)}, {ID: "k", Key: make(ed25519.PublicKey, 32)}},
	}
	for name, keys := range cases {
		t.Run(name, func(t *testing.T) {
			if err := v.SetKeys(keys); err == nil {
				t.Fatal("accepted")
			}
		})
	}
}

func TestCacheBounded(t *testing.T) {
	s := newSigner(t)
	v := newVerifier(t, VerifierOptions{CacheSize: 8}, s)
	toks := make([]string, 20)
	for i := range toks {
		toks[i] = mint(t, s, time.Hour)
		if _, err := v.Verify(toks[i], testApp); err != nil {
			t.Fatal(err)
		}
	}
	if n := v.cache.len(); n != 8 {
		t.Fatalf("cache holds %d, bound 8", n)
	}
	if v.cached(toks[0], time.Now()) != nil {
		t.Fatal("oldest entry was not evicted")
	}
	if v.cached(toks[19], time.Now()) == nil {
		t.Fatal("newest entry is missing")
	}
	off := newVerifier(t, VerifierOptions{CacheSize: -1}, s)
	if _, err := off.Verify(toks[0], testApp); err != nil || off.cache.len() != 0 {
		t.Fatalf("disabled cache: err %v, len %d", err, off.cache.len())
	}
}

func TestConcurrentVerifyAndRotate(t *testing.T) {
	a := newSigner(t)
	v := newVerifier(t, VerifierOptions{}, a)
	tok := mint(t, a, time.Hour)
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			for range 200 {
				_, err := v.Verify(tok, testApp)
				if err != nil && !errors.Is(err, ErrUnknownKey) {
					t.Error(err)
					return
				}
			}
		})
	}
	for i := range 50 {
		keys := []wire.PublicKey{a.PublicKey()}
		if i%2 == 1 {
			keys = nil
		}
		if err := v.SetKeys(keys); err != nil {
			t.Fatal(err)
		}
	}
	wg.Wait()
	if err := v.SetKeys(nil); err != nil {
		t.Fatal(err)
	}
	if _, err := v.Verify(tok, testApp); !errors.Is(err, ErrUnknownKey) {
		t.Fatalf("after removing every key: %v", err)
	}
}

func TestPrivateKeyPEM(t *testing.T) {
	kid, key, err := GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	p, err := MarshalPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	back, err := ParsePrivateKey(p)
	if err != nil {
		t.Fatal(err)
	}
	if !back.Equal(key) || KeyID(back.Public().(ed25519.PublicKey)) != kid {
		t.Fatal("round trip changed the key")
	}
	for name, in := range map[string]string{
		"empty":    "",
		"not pem":  "hello",
		"wrong pe": "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n",
		"bad der":  "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n",
	} {
		if _, err := ParsePrivateKey([]byte(in)); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

func TestSignRequiresClaims(t *testing.T) {
	s := newSigner(t)
	if _, err := s.Sign(Claims{Email: "a@b.c", Kind: KindAccess, ExpiresAt: time.Now().Add(time.Hour)}); !errors.Is(err, ErrMissingClaim) {
		t.Fatalf("no audience: %v", err)
	}
	if _, err := s.Mint(KindService, testApp, "a@b.c", nil, 0); err == nil {
		t.Fatal("zero ttl accepted")
	}
	if _, err := s.Mint(KindService, "bad host!", "a@b.c", nil, time.Hour); err == nil {
		t.Fatal("bad app accepted")
	}
}

func FuzzVerify(f *testing.F) {
	s := newSigner(f)
	kid := s.PublicKey().ID
	v := newVerifier(f, VerifierOptions{}, s)
	good := mint(f, s, time.Hour)
	parts := strings.Split(good, ".")
	f.Add(good)
	f.Add("")
	f.Add("a.b.c")
	f.Add(parts[0] + "." + parts[1] + ".")
	f.Add(base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"none","kid":"`+kid+`"}`)) + "." + parts[1] + ".")
	f.Add(base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"EdDSA","kid":"`+kid+`"}`)) + "." +
		base64.RawURLEncoding.EncodeToString([]byte(`{"aud":[1,2],"exp":"x"}`)) + "." + parts[2])
	f.Fuzz(func(t *testing.T, tok string) {
		c, err := v.Verify(tok, testApp)
		if err == nil {
			if tok != good {
				t.Fatalf("accepted a token the signer never made: %q", tok)
			}
			if c == nil || !c.HasAudience(testApp) {
				t.Fatalf("accepted without the audience: %+v", c)
			}
			return
		}
		for _, s := range []error{ErrMalformed, ErrAlgorithm, ErrUnknownKey, ErrBadSignature, ErrExpired,
			ErrNotYetValid, ErrWrongAudience, ErrWrongIssuer, ErrMissingClaim} {
			if errors.Is(err, s) {
				return
			}
		}
		t.Fatalf("untyped error %v", err)
	})
}

func BenchmarkVerifyCached(b *testing.B) {
	s := newSigner(b)
	v := newVerifier(b, VerifierOptions{}, s)
	tok := mint(b, s, time.Hour)
	if _, err := v.Verify(tok, testApp); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := v.Verify(tok, testApp); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkVerifyUncached(b *testing.B) {
	s := newSigner(b)
	v := newVerifier(b, VerifierOptions{CacheSize: -1}, s)
	tok := mint(b, s, time.Hour)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := v.Verify(tok, testApp); err != nil {
			b.Fatal(err)
		}
	}
}

func TestSignInClaimsRoundTrip(t *testing.T) {
	s := newSigner(t)
	v := newVerifier(t, VerifierOptions{}, s)
	tok, err := s.Sign(Claims{Subject: "u1", Email: "a@example.com", Audience: []string{testApp}, Kind: KindAccess,
		Family: "fam-1", IDP: "users", ExpiresAt: time.Now().Add(time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	c, err := v.Verify(tok, testApp)
	if err != nil {
		t.Fatal(err)
	}
	if c.Family != "fam-1" || c.IDP != "users" || c.Kind != KindAccess {
		t.Fatalf("claims %+v", c)
	}
}
