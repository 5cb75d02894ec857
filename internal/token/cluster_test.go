package token

import (
	"errors"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

func TestClusterCredential(t *testing.T) {
	s := newSigner(t)
	cs, err := s.ClusterSigner()
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now().Truncate(time.Second)
	tok, err := cs.Sign(ClusterClaims{
		Issuer: "https://edge.test:7843", Audience: "kube:prod", Subject: "u1", Email: "alice@example.com",
		Groups: []string{"dev"}, IssuedAt: now, ExpiresAt: now.Add(5 * time.Minute),
	})
	if err != nil {
		t.Fatal(err)
	}

	t.Run("verifies with its public key and carries the claims", func(t *testing.T) {
		var c clusterJWT
		p := jwt.NewParser(jwt.WithValidMethods([]string{"ES256"}), jwt.WithAudience("kube:prod"), jwt.WithIssuer("https://edge.test:7843"))
		parsed, err := p.ParseWithClaims(tok, &c, func(*jwt.Token) (any, error) { return cs.PublicKey(), nil })
		if err != nil {
			t.Fatal(err)
		}
		if parsed.Header["kid"] != cs.KeyID() || parsed.Header["typ"] != ClusterType {
			t.Errorf("header %v", parsed.Header)
		}
		if c.Email != "alice@example.com" || c.Subject != "u1" || len(c.Groups) != 1 || c.Groups[0] != "dev" || c.Kind != KindCluster {
			t.Errorf("claims %+v", c)
		}
		if got := c.ExpiresAt.Sub(c.IssuedAt.Time); got != 5*time.Minute {
			t.Errorf("lifetime %s", got)
		}
	})
	t.Run("never opens a stream", func(t *testing.T) {
		v := newVerifier(t, VerifierOptions{}, s)
		if _, err := v.Verify(tok, "kube:prod"); !errors.Is(err, ErrAlgorithm) {
			t.Fatalf("Verify = %v, want ErrAlgorithm", err)
		}
	})
	t.Run("the key follows the signing key", func(t *testing.T) {
		again, err := s.ClusterSigner()
		if err != nil {
			t.Fatal(err)
		}
		other, err := newSigner(t).ClusterSigner()
		if err != nil {
			t.Fatal(err)
		}
		if again.KeyID() != cs.KeyID() || !again.PublicKey().Equal(cs.PublicKey()) {
			t.Error("the same signing key derived another cluster key")
		}
		if other.KeyID() == cs.KeyID() {
			t.Error("another signing key derived the same cluster key")
		}
	})
	t.Run("refuses missing claims", func(t *testing.T) {
		for name, c := range map[string]ClusterClaims{
			"issuer":   {Audience: "a", Subject: "s", Email: "e@x", IssuedAt: now, ExpiresAt: now.Add(time.Minute)},
			"audience": {Issuer: "i", Subject: "s", Email: "e@x", IssuedAt: now, ExpiresAt: now.Add(time.Minute)},
			"email":    {Issuer: "i", Audience: "a", Subject: "s", IssuedAt: now, ExpiresAt: now.Add(time.Minute)},
			"expiry":   {Issuer: "i", Audience: "a", Subject: "s", Email: "e@x", IssuedAt: now, ExpiresAt: now},
		} {
			if _, err := cs.Sign(c); !errors.Is(err, ErrMissingClaim) {
				t.Errorf("%s: %v", name, err)
			}
		}
	})
}
