package token

import (
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

const testTunnel = "3f2a1b2c-1234-4abc-8def-0123456789ab"

func testTarget() AssertionTarget {
	return AssertionTarget{TunnelID: testTunnel, App: testApp, StreamID: "edge-1.s7"}
}

func testAssertion() Assertion {
	return Assertion{TunnelID: testTunnel, App: testApp, StreamID: "edge-1.s7",
		Subject: "u1", Email: "alice@example.com", Groups: []string{"sre"}, Kind: KindAccess}
}

func assert(tb testing.TB, s *Signer, a Assertion) string {
	tb.Helper()
	tok, err := s.Assert(a, DefaultAssertionTTL)
	if err != nil {
		tb.Fatal(err)
	}
	return tok
}

// signJWT signs any claims with s's key under s's key id and the given
// "typ" header: what an edge bug, or anyone holding the key, could make.
func signJWT(tb testing.TB, s *Signer, typ string, claims jwt.Claims) string {
	tb.Helper()
	t := jwt.NewWithClaims(jwt.SigningMethodEdDSA, claims)
	t.Header["kid"] = s.kid
	if typ == "" {
		delete(t.Header, "typ")
	} else {
		t.Header["typ"] = typ
	}
	out, err := t.SignedString(s.key)
	if err != nil {
		tb.Fatal(err)
	}
	return out
}

func TestAssertRoundTrip(t *testing.T) {
	s := newSigner(t)
	v := newVerifier(t, VerifierOptions{Issuer: "airlock-test"}, s)
	a, err := v.VerifyAssertion(assert(t, s, testAssertion()), testTarget())
	if err != nil {
		t.Fatal(err)
	}
	if a.TunnelID != testTunnel || a.App != testApp || a.StreamID != "edge-1.s7" || a.Subject != "u1" ||
		a.Email != "alice@example.com" || len(a.Groups) != 1 || a.Kind != KindAccess || a.Issuer != "airlock-test" ||
		a.KeyID != s.PublicKey().ID || a.Nonce == "" || a.ExpiresAt.Sub(a.IssuedAt) != DefaultAssertionTTL {
		t.Fatalf("assertion %+v", a)
	}
	b, err := v.VerifyAssertion(assert(t, s, testAssertion()), testTarget())
	if err != nil {
		t.Fatal(err)
	}
	if a.Nonce == b.Nonce {
		t.Fatal("two assertions share a nonce")
	}
	if n := v.cache.len(); n != 0 {
		t.Fatalf("the token cache holds %d assertions", n)
	}
}

// TestVerifyRefusesAssertions is the edge's side of the rogue connector: a
// stream assertion, validly signed by the edge's own key, is never an
// access or service token, whatever audience it is presented for and even
// when its other claims look like a token's.
func TestVerifyRefusesAssertions(t *testing.T) {
	s := newSigner(t)
	v := newVerifier(t, VerifierOptions{Issuer: "airlock-test"}, s)
	asserted := assert(t, s, testAssertion())
	exp := jwt.NewNumericDate(time.Now().Add(time.Hour))
	tokenLike := func(use string) *tokenJWT {
		c := Claims{Issuer: "airlock-test", Subject: "u1", Email: "alice@example.com", Audience: []string{testApp},
			ExpiresAt: exp.Time, Kind: KindAccess}
		return &tokenJWT{jwtClaims: *c.toJWT(), Use: use}
	}
	cases := []struct {
		name, tok, aud string
	}{
		{"assertion for its app", asserted, testApp},
		{"assertion for its tunnel audience", asserted, tunnelAudience + testTunnel},
		{"token claims, assertion typ", signJWT(t, s, AssertionType, tokenLike("")), testApp},
		{"token claims and typ, token_use stream", signJWT(t, s, "JWT", tokenLike(UseStream)), testApp},
		{"token claims, no typ, token_use stream", signJWT(t, s, "", tokenLike(UseStream)), testApp},
		{"token claims, other typ", signJWT(t, s, "at+jwt", tokenLike("")), testApp},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c, err := v.Verify(tc.tok, tc.aud)
			if !errors.Is(err, ErrWrongUse) {
				t.Fatalf("Verify = %+v, %v; want ErrWrongUse", c, err)
			}
		})
	}
	// The same claims as an ordinary token do verify: the refusals above
	// are the use, not the claims.
	if _, err := v.Verify(signJWT(t, s, "JWT", tokenLike("")), testApp); err != nil {
		t.Fatalf("control token: %v", err)
	}
}

// TestVerifyAssertionRefusesTokens: an access or service token is not a
// stream assertion, even with an assertion's claims.
func TestVerifyAssertionRefusesTokens(t *testing.T) {
	s := newSigner(t)
	v := newVerifier(t, VerifierOptions{}, s)
	now := time.Now()
	claims := func() *assertionJWT {
		return &assertionJWT{
			RegisteredClaims: jwt.RegisteredClaims{Subject: "u1", Audience: jwt.ClaimStrings{tunnelAudience + testTunnel},
				IssuedAt: jwt.NewNumericDate(now), ExpiresAt: jwt.NewNumericDate(now.Add(DefaultAssertionTTL)), ID: "n1"},
			Use: UseStream, App: testApp, StreamID: "edge-1.s7", Kind: KindAccess,
		}
	}
	noUse := claims()
	noUse.Use = ""
	otherUse := claims()
	otherUse.Use = "access"
	cases := []struct {
		name, tok string
	}{
		{"service token", mint(t, s, time.Hour)},
		{"access token", func() string {
			tok, err := s.Sign(Claims{Subject: "u1", Audience: []string{testApp}, Kind: KindAccess, ExpiresAt: now.Add(time.Hour)})
			if err != nil {
				t.Fatal(err)
			}
			return tok
		}()},
		{"assertion claims, token typ", signJWT(t, s, "JWT", claims())},
		{"assertion claims, no typ", signJWT(t, s, "", claims())},
		{"assertion typ, no token_use", signJWT(t, s, AssertionType, noUse)},
		{"assertion typ, other token_use", signJWT(t, s, AssertionType, otherUse)},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			a, err := v.VerifyAssertion(tc.tok, testTarget())
			if !errors.Is(err, ErrWrongUse) {
				t.Fatalf("VerifyAssertion = %+v, %v; want ErrWrongUse", a, err)
			}
		})
	}
	if _, err := v.VerifyAssertion(signJWT(t, s, AssertionType, claims()), testTarget()); err != nil {
		t.Fatalf("control assertion: %v", err)
	}
}

func TestVerifyAssertionRefusals(t *testing.T) {
	clk := &clock{t: time.Now()}
	s := newSigner(t)
	s.now = clk.Now
	other := newSigner(t)
	v := newVerifier(t, VerifierOptions{Issuer: "airlock-test", Leeway: 5 * time.Second, Now: clk.Now}, s)
	good := assert(t, s, testAssertion())
	parts := strings.Split(good, ".")
	long := func() string {
		now := clk.Now()
		return signJWT(t, s, AssertionType, &assertionJWT{
			RegisteredClaims: jwt.RegisteredClaims{Issuer: "airlock-test", Subject: "u1", Audience: jwt.ClaimStrings{tunnelAudience + testTunnel},
				IssuedAt: jwt.NewNumericDate(now), ExpiresAt: jwt.NewNumericDate(now.Add(time.Hour)), ID: "n-long"},
			Use: UseStream, App: testApp, StreamID: "edge-1.s7", Kind: KindAccess,
		})
	}
	mod := func(f func(*Assertion)) string {
		a := testAssertion()
		f(&a)
		return assert(t, s, a)
	}
	missing := func(f func(*assertionJWT)) string {
		now := clk.Now()
		j := &assertionJWT{
			RegisteredClaims: jwt.RegisteredClaims{Issuer: "airlock-test", Subject: "u1", Audience: jwt.ClaimStrings{tunnelAudience + testTunnel},
				IssuedAt: jwt.NewNumericDate(now), ExpiresAt: jwt.NewNumericDate(now.Add(DefaultAssertionTTL)), ID: "n-missing"},
			Use: UseStream, App: testApp, StreamID: "edge-1.s7", Kind: KindAccess,
		}
		f(j)
		return signJWT(t, s, AssertionType, j)
	}
	cases := []struct {
		name   string
		tok    string
		target AssertionTarget
		want   error
	}{
		{"another tunnel", good, AssertionTarget{TunnelID: "other-tunnel", App: testApp, StreamID: "edge-1.s7"}, ErrWrongAudience},
		{"another app", good, AssertionTarget{TunnelID: testTunnel, App: "other.app", StreamID: "edge-1.s7"}, ErrWrongAudience},
		{"another stream", good, AssertionTarget{TunnelID: testTunnel, App: testApp, StreamID: "edge-1.s8"}, ErrWrongAudience},
		{"tunnel id without its prefix", missing(func(j *assertionJWT) { j.Audience = jwt.ClaimStrings{testTunnel} }), testTarget(), ErrMissingClaim},
		{"two audiences", missing(func(j *assertionJWT) { j.Audience = append(j.Audience, tunnelAudience+"other") }), testTarget(), ErrMissingClaim},
		{"no stream id", missing(func(j *assertionJWT) { j.StreamID = "" }), testTarget(), ErrMissingClaim},
		{"no nonce", missing(func(j *assertionJWT) { j.ID = "" }), testTarget(), ErrMissingClaim},
		{"no token kind", missing(func(j *assertionJWT) { j.Kind = "" }), testTarget(), ErrMissingClaim},
		{"no issue time", missing(func(j *assertionJWT) { j.IssuedAt = nil }), testTarget(), ErrMissingClaim},
		{"lifetime over the limit", long(), testTarget(), ErrMalformed},
		{"another issuer", missing(func(j *assertionJWT) { j.Issuer = "evil" }), testTarget(), ErrWrongIssuer},
		{"unknown key", assert(t, other, testAssertion()), testTarget(), ErrUnknownKey},
		{"forged signature", parts[0] + "." + parts[1] + "." + strings.Split(assert(t, other, testAssertion()), ".")[2], testTarget(), ErrBadSignature},
		{"tampered email", parts[0] + "." + strings.Split(mod(func(a *Assertion) { a.Email = "admin@example.com" }), ".")[1] + "." + parts[2], testTarget(), ErrBadSignature},
		{"empty", "", testTarget(), ErrMalformed},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			a, err := v.VerifyAssertion(tc.tok, tc.target)
			if !errors.Is(err, tc.want) {
				t.Fatalf("VerifyAssertion = %+v, %v; want %v", a, err, tc.want)
			}
			if err != nil && strings.Contains(err.Error(), tc.tok) && tc.tok != "" {
				t.Fatal("the error quotes the assertion")
			}
		})
	}
	t.Run("expired", func(t *testing.T) {
		tok := assert(t, s, testAssertion())
		clk.Add(DefaultAssertionTTL + 5*time.Second) // lifetime and leeway
		defer clk.Add(-DefaultAssertionTTL - 5*time.Second)
		if _, err := v.VerifyAssertion(tok, testTarget()); !errors.Is(err, ErrExpired) {
			t.Fatalf("after its lifetime and the leeway: %v, want ErrExpired", err)
		}
	})
	t.Run("within the leeway", func(t *testing.T) {
		tok := assert(t, s, testAssertion())
		clk.Add(DefaultAssertionTTL + 4*time.Second)
		defer clk.Add(-DefaultAssertionTTL - 4*time.Second)
		if _, err := v.VerifyAssertion(tok, testTarget()); err != nil {
			t.Fatalf("within the leeway: %v", err)
		}
	})
	t.Run("issued in the future", func(t *testing.T) {
		clk.Add(time.Minute)
		tok := assert(t, s, testAssertion())
		clk.Add(-time.Minute)
		if _, err := v.VerifyAssertion(tok, testTarget()); !errors.Is(err, ErrNotYetValid) {
			t.Fatalf("issued a minute ahead: %v, want ErrNotYetValid", err)
		}
	})
}

func TestVerifyAssertionReplay(t *testing.T) {
	clk := &clock{t: time.Now()}
	s := newSigner(t)
	s.now = clk.Now
	replay := NewReplayCache(0)
	// Two verifiers (two connections of one connector) share the cache.
	v1 := newVerifier(t, VerifierOptions{Now: clk.Now, Replay: replay}, s)
	v2 := newVerifier(t, VerifierOptions{Now: clk.Now, Replay: replay}, s)
	tok := assert(t, s, testAssertion())
	if _, err := v1.VerifyAssertion(tok, testTarget()); err != nil {
		t.Fatal(err)
	}
	for name, v := range map[string]*Verifier{"same verifier": v1, "other verifier": v2} {
		if _, err := v.VerifyAssertion(tok, testTarget()); !errors.Is(err, ErrReplayed) {
			t.Fatalf("%s, second use: %v, want ErrReplayed", name, err)
		}
	}
	// Refused assertions leave no entry: junk cannot fill the cache.
	if _, err := v1.VerifyAssertion(assert(t, s, testAssertion()), AssertionTarget{TunnelID: "x", App: testApp, StreamID: "edge-1.s7"}); !errors.Is(err, ErrWrongAudience) {
		t.Fatal(err)
	}
	if n := replay.Len(); n != 1 {
		t.Fatalf("replay cache holds %d nonces, want 1", n)
	}
	clk.Add(DefaultAssertionTTL + DefaultLeeway)
	if _, err := v1.VerifyAssertion(tok, testTarget()); !errors.Is(err, ErrExpired) {
		t.Fatalf("once lapsed: %v, want ErrExpired", err)
	}
}

func TestReplayCache(t *testing.T) {
	t0 := time.Now()
	at := func(s int) time.Time { return t0.Add(time.Duration(s) * time.Second) }
	t.Run("bounded", func(t *testing.T) {
		c := NewReplayCache(4)
		for i := range 4 {
			if err := c.Use(fmt.Sprint("n", i), at(10), at(0)); err != nil {
				t.Fatal(err)
			}
		}
		if err := c.Use("n4", at(10), at(1)); !errors.Is(err, ErrReplayCacheFull) {
			t.Fatalf("a fifth live nonce: %v, want ErrReplayCacheFull", err)
		}
		if err := c.Use("n0", at(10), at(1)); !errors.Is(err, ErrReplayed) {
			t.Fatalf("a full cache forgot a live nonce: %v", err)
		}
		if err := c.Use("n4", at(20), at(10)); err != nil {
			t.Fatalf("once the others lapsed: %v", err)
		}
		if n := c.Len(); n != 1 {
			t.Fatalf("%d nonces remembered, want 1", n)
		}
	})
	t.Run("out of order", func(t *testing.T) {
		c := NewReplayCache(3)
		// A long-lived entry first does not hold up the lapsed ones
		// behind it.
		for i, until := range []int{100, 5, 5} {
			if err := c.Use(fmt.Sprint("n", i), at(until), at(0)); err != nil {
				t.Fatal(err)
			}
		}
		if err := c.Use("n3", at(100), at(6)); err != nil {
			t.Fatalf("with two lapsed entries: %v", err)
		}
		if err := c.Use("n0", at(100), at(6)); !errors.Is(err, ErrReplayed) {
			t.Fatalf("the long-lived nonce: %v, want ErrReplayed", err)
		}
		if n := c.Len(); n != 2 {
			t.Fatalf("%d nonces remembered, want 2", n)
		}
	})
	t.Run("lapsed nonce accepted again", func(t *testing.T) {
		c := NewReplayCache(2)
		if err := c.Use("n", at(5), at(0)); err != nil {
			t.Fatal(err)
		}
		if err := c.Use("n", at(15), at(5)); err != nil {
			t.Fatalf("after it lapsed: %v", err)
		}
		if err := c.Use("n", at(15), at(6)); !errors.Is(err, ErrReplayed) {
			t.Fatalf("while remembered again: %v", err)
		}
	})
	t.Run("long run stays compact", func(t *testing.T) {
		c := NewReplayCache(8)
		for i := range 10000 {
			if err := c.Use(fmt.Sprint("n", i), at(i+3), at(i)); err != nil {
				t.Fatal(err)
			}
		}
		if n := c.Len(); n > 4 {
			t.Fatalf("%d nonces remembered, want the 3 live ones", n)
		}
		if q := len(c.byUntil); q != c.Len() {
			t.Fatalf("heap holds %d entries for %d nonces", q, c.Len())
		}
	})
}

func TestAssertRequiresClaims(t *testing.T) {
	s := newSigner(t)
	for name, f := range map[string]func(*Assertion){
		"no tunnel":  func(a *Assertion) { a.TunnelID = "" },
		"bad app":    func(a *Assertion) { a.App = "bad host!" },
		"no stream":  func(a *Assertion) { a.StreamID = "" },
		"no subject": func(a *Assertion) { a.Subject, a.Email = "", "" },
		"no kind":    func(a *Assertion) { a.Kind = "" },
	} {
		t.Run(name, func(t *testing.T) {
			a := testAssertion()
			f(&a)
			if _, err := s.Assert(a, DefaultAssertionTTL); !errors.Is(err, ErrMissingClaim) {
				t.Fatalf("Assert: %v, want ErrMissingClaim", err)
			}
		})
	}
	for _, ttl := range []time.Duration{0, -time.Second, MaxAssertionTTL + time.Second} {
		if _, err := s.Assert(testAssertion(), ttl); err == nil {
			t.Errorf("ttl %v accepted", ttl)
		}
	}
}

// FuzzVerifyAssertion feeds arbitrary strings to the connector's assertion
// check: it must never panic, accept only what the signer made, for the
// target, and refuse with one of the package's sentinels.
func FuzzVerifyAssertion(f *testing.F) {
	s := newSigner(f)
	kid := s.PublicKey().ID
	v := newVerifier(f, VerifierOptions{}, s)
	good := assert(f, s, testAssertion())
	parts := strings.Split(good, ".")
	f.Add(good)
	f.Add("")
	f.Add("a.b.c")
	f.Add(mint(f, s, time.Hour))
	f.Add(parts[0] + "." + parts[1] + ".")
	f.Add(base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"none","typ":"`+AssertionType+`","kid":"`+kid+`"}`)) + "." + parts[1] + ".")
	f.Add(parts[0] + "." + base64.RawURLEncoding.EncodeToString([]byte(`{"aud":"tunnel:x","exp":"soon","token_use":1}`)) + "." + parts[2])
	f.Fuzz(func(t *testing.T, tok string) {
		a, err := v.VerifyAssertion(tok, testTarget())
		if err == nil {
			if tok != good {
				t.Fatalf("accepted an assertion the signer never made: %q", tok)
			}
			if a.TunnelID != testTunnel || a.App != testApp || a.StreamID != "edge-1.s7" {
				t.Fatalf("accepted for another target: %+v", a)
			}
			return
		}
		for _, s := range []error{ErrMalformed, ErrAlgorithm, ErrUnknownKey, ErrBadSignature, ErrExpired,
			ErrNotYetValid, ErrWrongAudience, ErrWrongIssuer, ErrMissingClaim, ErrWrongUse} {
			if errors.Is(err, s) {
				return
			}
		}
		t.Fatalf("untyped error %v", err)
	})
}

func BenchmarkVerifyAssertion(b *testing.B) {
	s := newSigner(b)
	v := newVerifier(b, VerifierOptions{}, s)
	tok := assert(b, s, testAssertion())
	b.ReportAllocs()
	for b.Loop() {
		if _, err := v.VerifyAssertion(tok, testTarget()); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkAssert(b *testing.B) {
	s := newSigner(b)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := s.Assert(testAssertion(), DefaultAssertionTTL); err != nil {
			b.Fatal(err)
		}
	}
}
