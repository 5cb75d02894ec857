package edge

import (
	"fmt"
	"testing"
	"time"

	"github.com/airlockhq/airlock/edge/oauth"
	"github.com/airlockhq/airlock/internal/relay"
	"github.com/airlockhq/airlock/internal/token"
	"github.com/airlockhq/airlock/internal/wire"
)

// newChecker returns the per-stream check of a fresh state with app
// testApp (allows example.com) and a token for alice. The check carries
// a realistic revocation load: 1000 revoked service tokens and 100 user
// revocations (see also newAccessChecker).
func newChecker(tb testing.TB) (*checker, *Config, string) {
	tb.Helper()
	path := initState(tb)
	if _, err := CreateTunnel(path, "demo", TunnelOptions{
		Hostnames: []string{testApp},
		Policy:    Policy{Allow: Rule{Emails: []string{"bob@example.com"}, EmailDomains: []string{"other.test", "example.com"}}, Deny: Rule{Emails: []string{"mallory@example.com"}}},
	}); err != nil {
		tb.Fatal(err)
	}
	cfg, err := LoadConfig(path)
	if err != nil {
		tb.Fatal(err)
	}
	keys, err := cfg.PublicKeys()
	if err != nil {
		tb.Fatal(err)
	}
	c := &checker{}
	if c.verifier, err = token.NewVerifier(keys, token.VerifierOptions{Issuer: cfg.Tokens.Issuer}); err != nil {
		tb.Fatal(err)
	}
	load := *cfg
	addRevocationLoad(&load, time.Now())
	c.snap.Store(compile(&load))
	c.access = newAccessChecker(tb, cfg)
	tok, _, err := cfg.mint(MintOptions{App: testApp, Email: "alice@example.com", TTL: time.Hour}, time.Now())
	if err != nil {
		tb.Fatal(err)
	}
	return c, cfg, tok
}

// addRevocationLoad adds 1000 revoked service tokens and 100 user
// revocations, at now, to cfg.
func addRevocationLoad(cfg *Config, now time.Time) {
	for i := range 1000 {
		cfg.ServiceTokens = append(cfg.ServiceTokens, ServiceToken{ID: fmt.Sprintf("REVOKED%d", i), App: testApp, Email: "x@example.com",
			Expires: now.Add(time.Hour), Revoked: now, RevokedBy: RevokedByTokenRevoke})
	}
	for i := range 100 {
		cfg.Revocations = append(cfg.Revocations, oauth.Revocation{Email: fmt.Sprintf("r%d@example.com", i), Before: now})
	}
}

// BenchmarkStreamCheck is the per-stream check at the edge of a service
// token: app lookup, cached token verification, the revoked-token checks
// and policy. Target: ≤ 20 µs (it costs well under a microsecond).
func BenchmarkStreamCheck(b *testing.B) {
	c, _, tok := newChecker(b)
	open := &wire.Open{App: testApp, Token: tok, Target: "kubernetes:443"}
	if _, _, err := c.check(open); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, _, err := c.check(open); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkStreamCheckParallel is the same check from every core at once.
func BenchmarkStreamCheckParallel(b *testing.B) {
	c, _, tok := newChecker(b)
	open := &wire.Open{App: testApp, Token: tok}
	if _, _, err := c.check(open); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, _, err := c.check(open); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

// TestStreamCheckFast: a repeated check is served from the verifier's
// cache, without the signature verification (BenchmarkStreamCheck has
// its cost in time). Counted in allocations, which do not depend on how
// loaded the machine is: at most maxCachedCheckAllocs, where the same
// check without the cache makes many.
func TestStreamCheckFast(t *testing.T) {
	c, cfg, tok := newChecker(t)
	assertCheckCached(t, c, cfg, &wire.Open{App: testApp, Token: tok})
}

// maxCachedCheckAllocs bounds the allocations of a cached stream check.
const maxCachedCheckAllocs = 2

// assertCheckCached fails tb unless checking open again with c allocates
// at most maxCachedCheckAllocs, and several times more with a verifier
// that has no cache (so the bound measures the cache, not a cheap check).
func assertCheckCached(tb testing.TB, c *checker, cfg *Config, open *wire.Open) {
	tb.Helper()
	if _, _, err := c.check(open); err != nil {
		tb.Fatal(err)
	}
	cached := testing.AllocsPerRun(200, func() { c.check(open) })
	keys, err := cfg.PublicKeys()
	if err != nil {
		tb.Fatal(err)
	}
	uncached := &checker{access: c.access}
	uncached.snap.Store(c.snap.Load())
	if uncached.verifier, err = token.NewVerifier(keys, token.VerifierOptions{Issuer: cfg.Tokens.Issuer, CacheSize: -1}); err != nil {
		tb.Fatal(err)
	}
	full := testing.AllocsPerRun(20, func() { uncached.check(open) })
	tb.Logf("allocations per check: %.0f cached, %.0f verified in full", cached, full)
	if cached > maxCachedCheckAllocs {
		tb.Fatalf("a cached check allocates %.0f times, want at most %d", cached, maxCachedCheckAllocs)
	}
	if full < 4*maxCachedCheckAllocs {
		tb.Fatalf("a full verification allocates only %.0f times: the bound no longer tells a cached check from a full one", full)
	}
}

func FuzzStreamCheck(f *testing.F) {
	c, cfg, tok := newChecker(f)
	s, err := cfg.Signer()
	if err != nil {
		f.Fatal(err)
	}
	other, err := s.Mint(token.KindService, testApp, "eve@evil.test", nil, time.Hour)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(testApp, tok)
	f.Add(testApp, other)
	f.Add("K8S.DEMO.TEST", tok)
	f.Add("nope.test", tok)
	f.Add(testApp, "")
	f.Add(testApp, tok[:len(tok)-3]+"AAA")
	f.Fuzz(func(t *testing.T, app, tk string) {
		_, claims, err := c.check(&wire.Open{App: app, Token: tk})
		switch relay.CodeOf(err) {
		case wire.CodeOK:
			if tk != tok || claims == nil || claims.Email != "alice@example.com" {
				t.Fatalf("allowed app %q token %q", app, tk)
			}
		case wire.CodeUnknownApp, wire.CodeUnauthenticated, wire.CodeForbidden:
		default:
			t.Fatalf("unexpected refusal %v", err)
		}
	})
}
