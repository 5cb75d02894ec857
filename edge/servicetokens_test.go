package edge

import (
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

// TestServiceTokenRecords follows the records in the config file: mint
// writes one per token, token revoke marks that one only, user revoke and
// user remove mark the user's, and an edit at a later clock drops the
// records whose tokens have expired, keeping the file's comments.
func TestServiceTokenRecords(t *testing.T) {
	_, cfg, _ := newChecker(t)
	path := filepath.Join(cfg.Dir(), ConfigFile)
	hash, err := oauth.HashPassword("correct horse")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := SetUser(path, oauth.User{Email: "carol@example.com", PasswordHash: hash}); err != nil {
		t.Fatal(err)
	}
	mint := func(email string, ttl time.Duration) ServiceToken {
		t.Helper()
		tok, rec, err := MintToken(path, MintOptions{App: testApp, Email: email, TTL: ttl, Note: "test " + email})
		if err != nil {
			t.Fatal(err)
		}
		if strings.Contains(readFile(t, path), tok) {
			t.Fatal("the config holds the token itself")
		}
		return rec
	}
	a1, a2 := mint("alice@example.com", time.Hour), mint("Alice@Example.com", 2*time.Hour)
	b1, c1 := mint("bob@example.com", time.Hour), mint("carol@example.com", time.Hour)
	now := time.Now()

	// revokedBy lists the config's records: id → RevokedBy ("" live).
	revokedBy := func(tb testing.TB) map[string]string {
		tb.Helper()
		recs, err := ListTokens(path)
		if err != nil {
			tb.Fatal(err)
		}
		out := map[string]string{}
		for _, r := range recs {
			out[r.ID] = r.RevokedBy
		}
		return out
	}
	steps := []struct {
		name string
		do   func(testing.TB)
		want map[string]string
	}{
		{"minted", func(testing.TB) {}, map[string]string{a1.ID: "", a2.ID: "", b1.ID: "", c1.ID: ""}},
		{"token revoke marks that token only", func(tb testing.TB) {
			rec, revoked, err := RevokeToken(path, a1.ID, now)
			if err != nil || !revoked || rec.ID != a1.ID || rec.Email != "alice@example.com" || rec.Note != "test alice@example.com" {
				tb.Fatalf("RevokeToken = %+v, %v, %v", rec, revoked, err)
			}
		}, map[string]string{a1.ID: RevokedByTokenRevoke, a2.ID: "", b1.ID: "", c1.ID: ""}},
		{"token revoke again keeps the first revocation", func(tb testing.TB) {
			rec, revoked, err := RevokeToken(path, a1.ID, now.Add(time.Minute))
			if err != nil || revoked || !rec.Revoked.Equal(now.UTC().Truncate(time.Second)) {
				tb.Fatalf("RevokeToken again = %+v, %v, %v", rec, revoked, err)
			}
		}, map[string]string{a1.ID: RevokedByTokenRevoke, a2.ID: "", b1.ID: "", c1.ID: ""}},
		{"user revoke marks the user's tokens", func(tb testing.TB) {
			if err := RevokeUser(path, "Bob@Example.com", now); err != nil {
				tb.Fatal(err)
			}
		}, map[string]string{a1.ID: RevokedByTokenRevoke, a2.ID: "", b1.ID: RevokedByUserRevoke, c1.ID: ""}},
		{"user remove marks the user's tokens", func(tb testing.TB) {
			if err := RemoveUser(path, "carol@example.com"); err != nil {
				tb.Fatal(err)
			}
		}, map[string]string{a1.ID: RevokedByTokenRevoke, a2.ID: "", b1.ID: RevokedByUserRevoke, c1.ID: RevokedByUserRemove}},
		{"an edit after the one-hour tokens expired drops them", func(tb testing.TB) {
			// 1h + the 30s leeway have passed: only a2 (2h) stays.
			if _, _, err := RevokeToken(path, a2.ID, now.Add(time.Hour+time.Minute)); err != nil {
				tb.Fatal(err)
			}
		}, map[string]string{a2.ID: RevokedByTokenRevoke}},
		{"revoking an expired token drops its record", func(tb testing.TB) {
			rec, _, err := RevokeToken(path, a2.ID, now.Add(3*time.Hour))
			if err != nil || rec.ID != a2.ID {
				tb.Fatalf("RevokeToken = %+v, %v", rec, err)
			}
		}, map[string]string{}},
	}
	for _, st := range steps {
		t.Run(st.name, func(t *testing.T) {
			st.do(t)
			got := revokedBy(t)
			if len(got) != len(st.want) {
				t.Fatalf("records %v, want %v", got, st.want)
			}
			for id, by := range st.want {
				if g, ok := got[id]; !ok || g != by {
					t.Fatalf("records %v, want %v", got, st.want)
				}
			}
		})
	}

	if _, _, err := RevokeToken(path, "NOSUCHTOKEN", now); err == nil || !strings.Contains(err.Error(), "user revoke") {
		t.Fatalf("revoking an unknown id: %v, want an error that points to user revoke", err)
	}
	if raw := readFile(t, path); !strings.Contains(raw, "# Service tokens") || !strings.Contains(raw, "# Who may sign in.") {
		t.Fatalf("the config lost its comments:\n%s", raw)
	}
}

func readFile(tb testing.TB, path string) string {
	tb.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		tb.Fatal(err)
	}
	return string(b)
}

// deniedConfig returns the clock t0 of the deny set tests and a config
// that has, at t0, alice's revoked tokens REVOKED (valid for an hour) and
// SHORT (a minute), her live token LIVE, and a revocation of bob half a
// second later; the leeway is 30s.
func deniedConfig() (time.Time, *Config) {
	t0 := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
	return t0, &Config{
		Tokens: TokenConfig{Leeway: Duration(30 * time.Second)},
		ServiceTokens: []ServiceToken{
			{ID: "REVOKED", App: testApp, Email: "alice@example.com", Expires: t0.Add(time.Hour), Revoked: t0, RevokedBy: RevokedByTokenRevoke},
			{ID: "SHORT", App: testApp, Email: "alice@example.com", Expires: t0.Add(time.Minute), Revoked: t0, RevokedBy: RevokedByTokenRevoke},
			{ID: "LIVE", App: testApp, Email: "alice@example.com", Expires: t0.Add(time.Hour)},
		},
		Revocations: []oauth.Revocation{{Email: "Bob@Example.com", Before: t0.Add(500 * time.Millisecond)}},
	}
}

// TestDeniedTokens is the per-stream deny set of service tokens: a revoked
// id, and the tokens of a revoked user issued before the revocation.
func TestDeniedTokens(t *testing.T) {
	t0, cfg := deniedConfig()
	d := compileDenied(cfg, t0)
	claims := func(id, email, sub string, issued time.Time) *token.Claims {
		return &token.Claims{ID: id, Email: email, Subject: sub, IssuedAt: issued, Kind: token.KindService}
	}
	cases := []struct {
		name   string
		claims *token.Claims
		msg    string // "": allowed
	}{
		{"revoked id", claims("REVOKED", "alice@example.com", "alice@example.com", t0.Add(-time.Minute)), "service token REVOKED of alice@example.com was revoked at 2030-01-02T03:04:05Z (airlock-edge token revoke)"},
		{"another token of the same user", claims("LIVE", "alice@example.com", "alice@example.com", t0.Add(-time.Minute)), ""},
		{"an unrecorded token of the same user", claims("OTHER", "alice@example.com", "alice@example.com", t0.Add(-time.Minute)), ""},
		{"revoked user, issued before", claims("B1", "bob@example.com", "bob@example.com", t0.Add(-time.Second)), "the service tokens of bob@example.com issued before 2030-01-02T03:04:05Z were revoked"},
		{"revoked user by subject", claims("B2", "", "BOB@example.com", t0.Add(-time.Second)), "the service tokens of BOB@example.com"},
		{"revoked user, issued in the revocation's second", claims("B3", "bob@example.com", "bob@example.com", t0), ""},
		{"revoked user, issued after", claims("B4", "bob@example.com", "bob@example.com", t0.Add(time.Minute)), ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := d.check(tc.claims)
			if tc.msg == "" {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				return
			}
			if relay.CodeOf(err) != wire.CodeUnauthenticated || !strings.Contains(err.Error(), tc.msg) {
				t.Fatalf("got %v, want unauthenticated naming %q", err, tc.msg)
			}
		})
	}
}

// TestDeniedTokensExpire: a revoked token leaves the deny set once it has
// expired past the leeway, when the verifier refuses it anyway.
func TestDeniedTokensExpire(t *testing.T) {
	t0, cfg := deniedConfig()
	cases := []struct {
		name string
		now  time.Time
		want []string
	}{
		{"both live", t0, []string{"SHORT", "REVOKED"}},
		{"short expired, within the leeway", t0.Add(time.Minute + 29*time.Second), []string{"SHORT", "REVOKED"}},
		{"short expired past the leeway", t0.Add(time.Minute + 30*time.Second), []string{"REVOKED"}},
		{"both expired", t0.Add(2 * time.Hour), nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			d := compileDenied(cfg, tc.now)
			if len(d.ids) != len(tc.want) {
				t.Fatalf("deny set %v, want %v", d.ids, tc.want)
			}
			for _, id := range tc.want {
				if _, ok := d.ids[id]; !ok {
					t.Fatalf("deny set %v, want %v", d.ids, tc.want)
				}
			}
		})
	}
}

// TestStreamCheckRevokedServiceToken: the per-stream check refuses a
// revoked service token, with the claims for the audit, and passes the
// user's other token.
func TestStreamCheckRevokedServiceToken(t *testing.T) {
	c, cfg, _ := newChecker(t)
	now := time.Now()
	revokedTok, revoked, err := cfg.mint(MintOptions{App: testApp, Email: "alice@example.com", TTL: time.Hour}, now)
	if err != nil {
		t.Fatal(err)
	}
	liveTok, live, err := cfg.mint(MintOptions{App: testApp, Email: "alice@example.com", TTL: time.Hour}, now)
	if err != nil {
		t.Fatal(err)
	}
	revoked.Revoked, revoked.RevokedBy = now, RevokedByTokenRevoke
	next := *cfg
	next.ServiceTokens = []ServiceToken{revoked, live}
	c.snap.Store(compile(&next))
	cases := []struct {
		name, tok string
		code      wire.Code
	}{
		{"revoked", revokedTok, wire.CodeUnauthenticated},
		{"the user's other token", liveTok, wire.CodeOK},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, claims, err := c.check(&wire.Open{App: testApp, Token: tc.tok})
			if relay.CodeOf(err) != tc.code {
				t.Fatalf("got %v, want %s", err, tc.code)
			}
			if err != nil && (claims == nil || !strings.Contains(err.Error(), revoked.ID)) {
				t.Fatalf("refusal %v with claims %+v: want the claims and the token's id", err, claims)
			}
		})
	}
}

// BenchmarkDeniedTokens is the revoked-token part of the per-stream check
// of a live service token against 1000 revoked tokens and 100 revoked
// users: two map lookups.
func BenchmarkDeniedTokens(b *testing.B) {
	now := time.Now()
	cfg := &Config{}
	addRevocationLoad(cfg, now)
	d := compileDenied(cfg, now)
	c := &token.Claims{ID: "KJOLJEB6PNBWER5PMNCE5HS7UD", Email: "alice@example.com", Subject: "alice@example.com", IssuedAt: now, Kind: token.KindService}
	b.ReportAllocs()
	for b.Loop() {
		if err := d.check(c); err != nil {
			b.Fatal(err)
		}
	}
}
