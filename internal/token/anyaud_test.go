package token

import (
	"errors"
	"testing"
	"time"
)

// TestVerifyAny: a token for any wanted audience verifies, once cached as
// cold; one for none, a forged one and an expired one are refused with
// their sentinel.
func TestVerifyAny(t *testing.T) {
	s, other := newSigner(t), newSigner(t)
	v := newVerifier(t, VerifierOptions{Issuer: "airlock-test"}, s)
	here := map[string]bool{"a.test": true, "b.test": true}
	want := func(aud string) bool { return here[aud] }
	sign := func(s *Signer, exp time.Duration, aud ...string) string {
		tok, err := s.Sign(Claims{Subject: "alice", Email: "alice@example.com", Audience: aud, ExpiresAt: time.Now().Add(exp), Kind: KindAccess})
		if err != nil {
			t.Fatal(err)
		}
		return tok
	}
	for _, tc := range []struct {
		name string
		tok  string
		err  error
	}{
		{"second audience here", sign(s, time.Hour, "elsewhere.test", "b.test"), nil},
		{"none here", sign(s, time.Hour, "elsewhere.test"), ErrWrongAudience},
		{"another key", sign(other, time.Hour, "a.test"), ErrUnknownKey},
		{"expired", sign(s, -time.Hour, "a.test"), ErrExpired},
		{"junk", "x.y.z", ErrMalformed},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for range 2 { // cold, then from the cache
				c, err := v.VerifyAny(tc.tok, want)
				if tc.err == nil && (err != nil || c.Email != "alice@example.com") || tc.err != nil && !errors.Is(err, tc.err) {
					t.Fatalf("VerifyAny = %v, %v; want %v", c, err, tc.err)
				}
			}
		})
	}
}
