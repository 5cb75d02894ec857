package oauth

import (
	"context"
	"encoding/json"
	"errors"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/zitadel/oidc/v3/pkg/oidc"

	"github.com/airlockhq/airlock/internal/token"
	bolt "go.etcd.io/bbolt"
)

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

func openStore(tb testing.TB) *BoltStore {
	tb.Helper()
	st, err := OpenBoltStore(filepath.Join(tb.TempDir(), "signin.db"), time.Second)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { st.Close() })
	return st
}

// newTestServer is a Server on a settable clock behind httptest, with
// app "k8s.demo.test" and user alice.
func newTestServer(tb testing.TB, clk *clock) (*Server, *httptest.Server) {
	tb.Helper()
	kid, key, err := token.GenerateKey()
	if err != nil {
		tb.Fatal(err)
	}
	signer, err := token.NewSigner(kid, key, "airlock-test")
	if err != nil {
		tb.Fatal(err)
	}
	hash, err := HashPassword("correct horse")
	if err != nil {
		tb.Fatal(err)
	}
	srv, err := New(context.Background(), Settings{
		PublicURL: "https://edge.test", Signer: signer, Apps: []string{"k8s.demo.test"},
		Users: []User{{Email: "alice@example.com", PasswordHash: hash}},
	}, Options{Store: openStore(tb), Now: clk.Now, DeviceInterval: time.Second})
	if err != nil {
		tb.Fatal(err)
	}
	hs := httptest.NewTLSServer(srv.Handler())
	tb.Cleanup(hs.Close)
	return srv, hs
}

func post(tb testing.TB, hs *httptest.Server, path string, v url.Values) map[string]any {
	tb.Helper()
	res, err := hs.Client().PostForm(hs.URL+path, v)
	if err != nil {
		tb.Fatal(err)
	}
	defer res.Body.Close()
	var m map[string]any
	json.NewDecoder(res.Body).Decode(&m)
	return m
}

func TestDeviceCodeExpires(t *testing.T) {
	clk := &clock{t: time.Now()}
	_, hs := newTestServer(t, clk)
	da := post(t, hs, "/oauth/device/code", url.Values{"client_id": {ClientID}})
	dc, _ := da["device_code"].(string)
	if dc == "" {
		t.Fatalf("%v", da)
	}
	clk.Add(DeviceCodeTTL + time.Second)
	got := post(t, hs, "/oauth/token", url.Values{"client_id": {ClientID}, "grant_type": {grantDevice}, "device_code": {dc}})
	if got["error"] != "expired_token" {
		t.Fatalf("%v", got)
	}
}

func TestCodeExpires(t *testing.T) {
	clk := &clock{t: time.Now()}
	srv, hs := newTestServer(t, clk)
	verifier := strings.Repeat("v", 43)
	code := newSecret(codePrefix)
	if err := srv.store.PutCode(context.Background(), key(code), Code{
		ClientID: ClientID, RedirectURI: "http://127.0.0.1:1/cb", Challenge: s256(verifier),
		Identity: Identity{Subject: "a", Email: "alice@example.com", IDP: IDPUsers}, Expires: clk.Now().Add(CodeTTL),
	}); err != nil {
		t.Fatal(err)
	}
	clk.Add(CodeTTL)
	got := post(t, hs, "/oauth/token", url.Values{"client_id": {ClientID}, "grant_type": {"authorization_code"}, "code": {code},
		"redirect_uri": {"http://127.0.0.1:1/cb"}, "code_verifier": {verifier}})
	if got["error"] != "invalid_grant" || !strings.Contains(got["error_description"].(string), "expired") {
		t.Fatalf("%v", got)
	}
}

func TestRefreshExpires(t *testing.T) {
	clk := &clock{t: time.Now()}
	srv, hs := newTestServer(t, clk)
	resp, _, err := srv.issue(context.Background(), Identity{Subject: "a", Email: "alice@example.com", IDP: IDPUsers}, nil, ClientID, "")
	if err != nil {
		t.Fatal(err)
	}
	clk.Add(DefaultRefreshTTL + time.Second)
	got := post(t, hs, "/oauth/token", url.Values{"client_id": {ClientID}, "grant_type": {"refresh_token"}, "refresh_token": {resp.RefreshToken}})
	if got["error"] != "invalid_grant" || !strings.Contains(got["error_description"].(string), "expired") {
		t.Fatalf("%v", got)
	}
}

func s256(verifier string) string {
	return oidc.NewSHACodeChallenge(verifier)
}

func TestCheckAccess(t *testing.T) {
	clk := &clock{t: time.Now()}
	srv, _ := newTestServer(t, clk)
	now := clk.Now().Truncate(time.Second)
	access := func(email, fam, idp string, iat time.Time) *token.Claims {
		return &token.Claims{Kind: token.KindAccess, Email: email, Family: fam, IDP: idp, IssuedAt: iat}
	}
	srv.revoke("fam-revoked")
	set := srv.cur.Load().Settings
	set.Revocations = []Revocation{{Email: "bob@example.com", Before: now}}
	if err := srv.Update(context.Background(), set); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name string
		c    *token.Claims
		want error
	}{
		{"live", access("alice@example.com", "f1", IDPUsers, now), nil},
		{"service token", &token.Claims{Kind: token.KindService, Email: "nobody@example.com"}, nil},
		{"revoked family", access("alice@example.com", "fam-revoked", IDPUsers, now), ErrFamilyRevoked},
		{"removed user", access("zed@example.com", "f2", IDPUsers, now), ErrUserRemoved},
		{"upstream user not in the list", access("zed@example.com", "f2", IDPOIDC, now), nil},
		{"user revoked after issue", access("bob@example.com", "f3", IDPOIDC, now.Add(-time.Second)), ErrUserRevoked},
		{"user revoked before issue", access("bob@example.com", "f3", IDPOIDC, now), nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := srv.CheckAccess(tc.c)
			if !errors.Is(err, tc.want) || (tc.want == nil) != (err == nil) {
				t.Fatalf("got %v, want %v", err, tc.want)
			}
		})
	}
	// Survives Update (a config reload) while within revokedKeep.
	if err := srv.Update(context.Background(), set); err != nil {
		t.Fatal(err)
	}
	if err := srv.CheckAccess(access("alice@example.com", "fam-revoked", IDPUsers, now)); !errors.Is(err, ErrFamilyRevoked) {
		t.Fatalf("after reload: %v", err)
	}
}

func TestBoltStore(t *testing.T) {
	ctx := context.Background()
	st := openStore(t)
	now := time.Now()
	id := Identity{Subject: "a", Email: "alice@example.com", IDP: IDPUsers}
	f := Family{ID: "fam1", ClientID: ClientID, Identity: id, Created: now, Expires: now.Add(time.Hour), Current: "k0"}
	if err := st.CreateFamily(ctx, f); err != nil {
		t.Fatal(err)
	}
	if err := st.CreateFamily(ctx, f); err == nil {
		t.Fatal("a family created twice")
	}
	got, err := st.Rotate(ctx, "k0", "k1", now, now.Add(time.Hour))
	if err != nil || got.Generation != 1 || got.Current != "k1" {
		t.Fatalf("%+v %v", got, err)
	}
	if _, err := st.Rotate(ctx, "nope", "k9", now, now); !errors.Is(err, ErrNotFound) {
		t.Fatalf("unknown key: %v", err)
	}
	if _, err := st.Rotate(ctx, "k0", "k2", now, now.Add(time.Hour)); !errors.Is(err, ErrRefreshReused) {
		t.Fatalf("reuse: %v", err)
	}
	if _, err := st.Rotate(ctx, "k1", "k2", now, now.Add(time.Hour)); !errors.Is(err, ErrRevoked) {
		t.Fatalf("after reuse: %v", err)
	}
	ids, err := st.RevokedSince(ctx, now.Add(-time.Minute))
	if err != nil || len(ids) != 1 || ids[0] != "fam1" {
		t.Fatalf("revoked %v %v", ids, err)
	}

	// RevokeUser takes only families made before the time.
	f2 := Family{ID: "fam2", ClientID: ClientID, Identity: id, Created: now, Expires: now.Add(time.Hour), Current: "m0"}
	f3 := Family{ID: "fam3", ClientID: ClientID, Identity: id, Created: now.Add(time.Minute), Expires: now.Add(time.Hour), Current: "n0"}
	for _, f := range []Family{f2, f3} {
		if err := st.CreateFamily(ctx, f); err != nil {
			t.Fatal(err)
		}
	}
	ids, err = st.RevokeUser(ctx, "ALICE@example.com", now.Add(time.Second), now)
	if err != nil || len(ids) != 1 || ids[0] != "fam2" {
		t.Fatalf("RevokeUser %v %v", ids, err)
	}

	// Codes: one-time.
	c := Code{ClientID: ClientID, RedirectURI: "http://127.0.0.1:1/", Challenge: "c", Identity: id, Expires: now.Add(time.Minute)}
	if err := st.PutCode(ctx, "code1", c); err != nil {
		t.Fatal(err)
	}
	if _, err := st.RedeemCode(ctx, "code1", now); err != nil {
		t.Fatal(err)
	}
	if err := st.SetCodeFamily(ctx, "code1", "fam3"); err != nil {
		t.Fatal(err)
	}
	if got, err := st.RedeemCode(ctx, "code1", now); !errors.Is(err, ErrCodeUsed) || got.Family != "fam3" {
		t.Fatalf("second redeem %+v %v", got, err)
	}

	// Devices: user codes are unique; the record goes when Status is "".
	d := Device{Key: "dk", UserCode: "BCDFGHJK", ClientID: ClientID, Expires: now.Add(time.Minute), Interval: 5, Status: DevicePending}
	if err := st.PutDevice(ctx, d); err != nil {
		t.Fatal(err)
	}
	d2 := d
	d2.Key = "dk2"
	if err := st.PutDevice(ctx, d2); !errors.Is(err, ErrCodeUsed) {
		t.Fatalf("duplicate user code: %v", err)
	}
	if got, err := st.DeviceByUserCode(ctx, "BCDFGHJK"); err != nil || got.Key != "dk" {
		t.Fatalf("%+v %v", got, err)
	}
	if _, err := st.UpdateDevice(ctx, "dk", func(d *Device) error { d.Status = ""; return nil }); err != nil {
		t.Fatal(err)
	}
	if _, err := st.DeviceByUserCode(ctx, "BCDFGHJK"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("after delete: %v", err)
	}

	// Collect drops what lapsed, keeps the rest.
	if err := st.Collect(ctx, now.Add(2*time.Hour), time.Minute); err != nil {
		t.Fatal(err)
	}
	if _, err := st.FamilyByRefresh(ctx, "n1"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("%v", err)
	}
	if _, err := st.FamilyByRefresh(ctx, "n0"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("an expired family survived Collect: %v", err)
	}

	// A second process cannot open the file while this one has it.
	if _, err := OpenBoltStore(st.db.Path(), 50*time.Millisecond); err == nil || !strings.Contains(err.Error(), "another process") {
		t.Fatalf("second open: %v", err)
	}
}

func TestDamagedRecord(t *testing.T) {
	ctx := context.Background()
	st := openStore(t)
	if err := st.db.Update(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketRefresh).Put([]byte("bad"), []byte(`{"family":`))
	}); err != nil {
		t.Fatal(err)
	}
	if _, err := st.Rotate(ctx, "bad", "new", time.Now(), time.Now()); err == nil || !strings.Contains(err.Error(), "decode record") {
		t.Fatalf("damaged record: %v", err)
	}
}

func TestRedirectURIs(t *testing.T) {
	good := []string{"http://127.0.0.1:1/", "http://127.0.0.1:65535/callback?x=1", "http://[::1]:8080/cb"}
	bad := map[string]string{
		"":                             "missing",
		"https://127.0.0.1:1/":         "loopback",
		"http://localhost:1/":          "not a loopback",
		"http://127.0.0.1/":            "no port",
		"http://127.0.0.1:0/":          "not a port",
		"http://127.0.0.1:99999/":      "not a port",
		"http://user@127.0.0.1:1/":     "user info",
		"http://127.0.0.1:1/#f":        "fragment",
		"http://[::2]:1/":              "not a loopback",
		"http://127.0.0.1.evil.com:1/": "not a loopback",
		"javascript:alert(1)":          "loopback",
		"http://127.0.0.1:1\\@evil/":   "",
		"http:127.0.0.1:1":             "",
		"http://0x7f000001:1/":         "not a loopback",
		"http://%31%32%37.0.0.1:1/cb":  "",
	}
	for _, u := range good {
		if err := checkRedirectURI(u); err != nil {
			t.Errorf("%q: %v", u, err)
		}
	}
	for u, msg := range bad {
		err := checkRedirectURI(u)
		if err == nil || !strings.Contains(err.Error(), msg) {
			t.Errorf("%q: got %v, want an error naming %q", u, err, msg)
		}
	}
}

func TestUserCodes(t *testing.T) {
	for range 100 {
		c, err := newUserCode()
		if err != nil {
			t.Fatal(err)
		}
		n, err := normalizeUserCode(strings.ToLower(formatUserCode(c)))
		if err != nil || n != c {
			t.Fatalf("%q → %q, %v", c, n, err)
		}
	}
	for in, msg := range map[string]string{"BCDF-GHJ": "7 letters", "BCDF-GHJA": `'A'`, "": "0 letters"} {
		if _, err := normalizeUserCode(in); err == nil || !strings.Contains(err.Error(), msg) {
			t.Errorf("%q: %v", in, err)
		}
	}
}

func TestValidate(t *testing.T) {
	users := []User{{Email: "a@example.com", PasswordHash: "x"}, {Email: "A@example.com", PasswordHash: "$2a$10$7EqJtq98hPqEX7fNZaFWoOHiA7OW5Ah4dGGu3m4yEmHz9f0bkNp4W", Groups: []string{""}}, {Email: "bob"}}
	var msgs []string
	for _, e := range ValidateUsers(users) {
		msgs = append(msgs, e.Error())
	}
	got := strings.Join(msgs, "\n")
	for _, want := range []string{"users[0].password_hash: is not a bcrypt hash", `users[1].email: "a@example.com" appears twice`, "users[1].groups[0]: is empty", `users[2].email: "bob" is not an email`} {
		if !strings.Contains(got, want) {
			t.Errorf("missing %q in:\n%s", want, got)
		}
	}
	for o, want := range map[*OIDCConfig]string{
		{Issuer: "", ClientID: "x"}:                                                      "oidc.issuer: is required",
		{Issuer: "http://idp.example.com", ClientID: "x"}:                                "only on loopback",
		{Issuer: "ftp://idp", ClientID: "x"}:                                             "not an http(s) URL",
		{Issuer: "https://idp.example.com", ClientID: ""}:                                "oidc.client_id: is required",
		{Issuer: "https://idp.example.com", ClientID: "x", SessionLifetime: time.Minute}: "oidc.session_lifetime: 1m0s: between 5m and",
	} {
		errs := ValidateOIDC(o)
		if len(errs) == 0 || !strings.Contains(errs[0].Error(), want) {
			t.Errorf("%+v: %v, want %q", o, errs, want)
		}
	}
	if errs := ValidateOIDC(&OIDCConfig{Issuer: "http://127.0.0.1:5556/dex", ClientID: "x"}); len(errs) != 0 {
		t.Errorf("loopback http issuer: %v", errs)
	}
	if _, err := HashPassword("short"); err == nil {
		t.Error("a 5-character password was hashed")
	}
}

// TestUpstreamSessionLifetime: a sign-in through the upstream provider
// ends at its absolute lifetime however often it is refreshed; the
// built-in user list's does not.
func TestUpstreamSessionLifetime(t *testing.T) {
	for _, tc := range []struct {
		name     string
		lifetime time.Duration // 0: the default
		idp      string
		ends     bool
	}{
		{"upstream, default lifetime", 0, IDPOIDC, true},
		{"upstream, configured lifetime", 2 * time.Hour, IDPOIDC, true},
		{"built-in users", 0, IDPUsers, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			clk := &clock{t: time.Now()}
			srv, hs := newTestServer(t, clk)
			set := srv.cur.Load().Settings
			o := OIDCConfig{Name: DefaultProviderName, Issuer: "https://idp.test", ClientID: "edge", SessionLifetime: tc.lifetime}
			set.Providers = []OIDCConfig{o}
			set.prepared = []*upstream{{cfg: o}} // not asked: idp.test does not exist
			if err := srv.Update(context.Background(), set); err != nil {
				t.Fatal(err)
			}
			life := o.sessionLifetime()
			resp, _, err := srv.issue(context.Background(), Identity{Subject: "s", Email: "alice@example.com", IDP: tc.idp}, nil, ClientID, "")
			if err != nil {
				t.Fatal(err)
			}
			rt := resp.RefreshToken
			// Refreshed every 10 minutes until the end: each access token
			// ends by the end at the latest.
			start := clk.Now()
			for clk.Now().Add(10 * time.Minute).Before(start.Add(life)) {
				clk.Add(10 * time.Minute)
				got := post(t, hs, "/oauth/token", url.Values{"client_id": {ClientID}, "grant_type": {"refresh_token"}, "refresh_token": {rt}})
				rt, _ = got["refresh_token"].(string)
				if rt == "" {
					t.Fatalf("refresh at %s: %v", clk.Now().Sub(start), got)
				}
				if exp := clk.Now().Add(time.Duration(got["expires_in"].(float64)) * time.Second); tc.ends && exp.After(start.Add(life)) {
					t.Fatalf("an access token at %s lives past the end", clk.Now().Sub(start))
				}
			}
			clk.Add(start.Add(life).Sub(clk.Now()))
			got := post(t, hs, "/oauth/token", url.Values{"client_id": {ClientID}, "grant_type": {"refresh_token"}, "refresh_token": {rt}})
			if !tc.ends {
				if got["refresh_token"] == nil {
					t.Fatalf("a built-in user's sign-in ended at %s: %v", life, got)
				}
				return
			}
			if got["error"] != "invalid_grant" || !strings.Contains(got["error_description"].(string), "sign in again") {
				t.Fatalf("refresh at the end: %v", got)
			}
		})
	}
}
