package token

import (
	"testing"
	"time"
)

// TestClaimsKeys: the lower-cased email and subject of verified claims
// are computed with the verification, so that reading them on every
// stream allocates nothing; hand-made claims still get them.
func TestClaimsKeys(t *testing.T) {
	s := newSigner(t)
	v := newVerifier(t, VerifierOptions{}, s)
	tok, err := s.Sign(Claims{Subject: "Alice@Example.COM", Email: "Alice@Example.COM", Audience: []string{testApp},
		ExpiresAt: time.Now().Add(time.Hour), Kind: KindService})
	if err != nil {
		t.Fatal(err)
	}
	c, err := v.Verify(tok, testApp)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		c    *Claims
	}{
		{"verified", c},
		{"hand-made", &Claims{Subject: "Alice@Example.COM", Email: "Alice@Example.COM"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.c.EmailKey(); got != "alice@example.com" {
				t.Errorf("EmailKey %q", got)
			}
			if got := tc.c.SubjectKey(); got != "alice@example.com" {
				t.Errorf("SubjectKey %q", got)
			}
		})
	}
	if n := testing.AllocsPerRun(100, func() { _, _ = c.EmailKey(), c.SubjectKey() }); n != 0 {
		t.Errorf("the keys of verified claims cost %v allocations per stream, want 0", n)
	}
}
