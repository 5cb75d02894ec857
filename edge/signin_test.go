package edge

import (
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/airlockhq/airlock/edge/oauth"
	"github.com/airlockhq/airlock/internal/relay"
	"github.com/airlockhq/airlock/internal/token"
	"github.com/airlockhq/airlock/internal/wire"
)

// newAccessChecker is the sign-in revocation check of cfg's edge with a
// realistic load: 1000 revoked families, 100 user revocations and 100
// built-in users, alice among them.
func newAccessChecker(tb testing.TB, cfg *Config) *oauth.Server {
	tb.Helper()
	ctx := context.Background()
	st, err := oauth.OpenBoltStore(filepath.Join(tb.TempDir(), "signin.db"), time.Second)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { st.Close() })
	now := time.Now()
	for i := range 1000 {
		f := oauth.Family{ID: fmt.Sprintf("fam-%d", i), ClientID: oauth.ClientID, Created: now, Expires: now.Add(time.Hour),
			Current: fmt.Sprintf("k-%d", i), Identity: oauth.Identity{Email: "x@example.com", IDP: oauth.IDPUsers}}
		if err := st.CreateFamily(ctx, f); err != nil {
			tb.Fatal(err)
		}
		if err := st.RevokeFamily(ctx, f.ID, now, "test"); err != nil {
			tb.Fatal(err)
		}
	}
	hash, err := oauth.HashPassword("correct horse")
	if err != nil {
		tb.Fatal(err)
	}
	set, err := cfg.signInSettings(&net.TCPAddr{Port: 7843}, nil)
	if err != nil {
		tb.Fatal(err)
	}
	set.Users = []oauth.User{{Email: "alice@example.com", PasswordHash: hash}}
	for i := range 100 {
		set.Users = append(set.Users, oauth.User{Email: fmt.Sprintf("u%d@example.com", i), PasswordHash: hash})
		set.Revocations = append(set.Revocations, oauth.Revocation{Email: fmt.Sprintf("r%d@example.com", i), Before: now})
	}
	srv, err := oauth.New(ctx, set, oauth.Options{Store: st})
	if err != nil {
		tb.Fatal(err)
	}
	return srv
}

// accessToken is a sign-in access token of alice for testApp.
func accessToken(tb testing.TB, cfg *Config, email, fam string) string {
	tb.Helper()
	s, err := cfg.Signer()
	if err != nil {
		tb.Fatal(err)
	}
	tok, err := s.Sign(token.Claims{Subject: email, Email: email, Audience: []string{testApp}, Kind: token.KindAccess,
		Family: fam, IDP: oauth.IDPUsers, ExpiresAt: time.Now().Add(time.Hour)})
	if err != nil {
		tb.Fatal(err)
	}
	return tok
}

// BenchmarkStreamCheckSignIn is the per-stream check of a sign-in access
// token: app lookup, cached verification, the revocation checks (revoked
// family, user revocation, built-in user still listed) and policy.
// Target: ≤ 20 µs.
func BenchmarkStreamCheckSignIn(b *testing.B) {
	c, cfg, _ := newChecker(b)
	open := &wire.Open{App: testApp, Token: accessToken(b, cfg, "alice@example.com", "live-family")}
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

func TestStreamCheckSignIn(t *testing.T) {
	c, cfg, _ := newChecker(t)
	cases := []struct {
		name, email, fam string
		code             wire.Code
		msg              string
	}{
		{"live", "alice@example.com", "live", wire.CodeOK, ""},
		{"revoked family", "alice@example.com", "fam-7", wire.CodeUnauthenticated, "revoked"},
		{"user not in the list", "zed@example.com", "live", wire.CodeForbidden, "no longer in the edge's user list"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, claims, err := c.check(&wire.Open{App: testApp, Token: accessToken(t, cfg, tc.email, tc.fam)})
			if relay.CodeOf(err) != tc.code || (tc.msg != "" && !strings.Contains(err.Error(), tc.msg)) {
				t.Fatalf("got %v, want %s naming %q", err, tc.code, tc.msg)
			}
			if err != nil && claims == nil {
				t.Fatal("a refusal without the claims (the audit needs the user)")
			}
		})
	}
	t.Run("cached", func(t *testing.T) {
		assertCheckCached(t, c, cfg, &wire.Open{App: testApp, Token: accessToken(t, cfg, "alice@example.com", "live")})
	})
}

func TestSignInConfig(t *testing.T) {
	path := initState(t)
	base, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name, extra, want string
	}{
		{"public url not https", "public_url: http://edge.test\n", "public_url:"},
		{"user without hash", "users:\n  - email: a@example.com\n", "users[0].password_hash"},
		{"user bad email", "users:\n  - email: bob\n    password_hash: x\n", "users[0].email"},
		{"oidc without client", "oidc:\n  issuer: https://idp.example.com\n", "oidc.client_id"},
		{"revocation without time", "revocations:\n  - email: a@example.com\n", "revocations[0].before"},
		{"unknown field", "signin: {}\n", "signin"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParseConfig(append(append([]byte{}, base...), tc.extra...), filepath.Dir(path))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, want an error naming %q", err, tc.want)
			}
		})
	}
	listen := strings.Replace(string(base), `http_listen: "127.0.0.1:0"`, `http_listen: "nope"`, 1)
	if _, err := ParseConfig([]byte(listen), filepath.Dir(path)); err == nil || !strings.Contains(err.Error(), `http_listen: "nope" is not host:port`) {
		t.Fatalf("a bad http_listen: %v", err)
	}
	ttl := strings.Replace(string(base), "access_ttl: 15m", "access_ttl: 2h", 1)
	if _, err := ParseConfig([]byte(ttl), filepath.Dir(path)); err == nil || !strings.Contains(err.Error(), "tokens.access_ttl") {
		t.Fatalf("a 2h access_ttl: %v", err)
	}
	cfg, err := ParseConfig(base, filepath.Dir(path))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.HTTPListen != "127.0.0.1:0" || cfg.StoreFile != DefaultStoreFile || time.Duration(cfg.Tokens.RefreshTTL) != DefaultRefreshTTL {
		t.Fatalf("defaults: %q %q %v", cfg.HTTPListen, cfg.StoreFile, cfg.Tokens.RefreshTTL)
	}
	if got := cfg.publicURL(&net.TCPAddr{Port: 4443}); got != "https://localhost:4443" {
		t.Fatalf("public url %q", got)
	}
	for listen, want := range map[string]string{"127.0.0.1:7844": "127.0.0.1:7843", "127.5.6.7:9": "127.5.6.7:7843", "0.0.0.0:7844": "127.0.0.1:7843", "[::1]:1": "[::1]:7843", "edge.example.com:7844": "127.0.0.1:7843"} {
		if got := defaultHTTPListen(listen); got != want {
			t.Errorf("defaultHTTPListen(%q) = %q, want %q", listen, got, want)
		}
	}
}
