package edge

import (
	"context"
	"crypto/tls"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"golang.org/x/oauth2"

	"github.com/airlockhq/airlock/edge/oauth"
	"github.com/airlockhq/airlock/edge/store/postgres"
	"github.com/airlockhq/airlock/internal/systest/pgtest"
	"github.com/airlockhq/airlock/internal/testenv"
	"github.com/airlockhq/airlock/internal/wire"
)

func TestStoreConfig(t *testing.T) {
	const store = "store:\n  url_file: store-url\n"
	cases := []struct {
		name, extra, want string // want "": valid
	}{
		{"url file", store, ""},
		{"all fields", store + "  max_conns: 20\n  query_timeout: 2s\n", ""},
		{"beside store_file", "store_file: signin.db\n" + store, "store_file: is the embedded store of one edge"},
		{"no url file", "store:\n  max_conns: 5\n", "store.url_file: is required"},
		{"empty url file", "store:\n  url_file: ''\n", "store.url_file: is required"},
		{"a url", "store:\n  url: postgres://u:pw@db/x\n", "store.url is not accepted: the URL holds the database password"},
		{"unknown field", store + "  pool: 3\n", `store: unknown field "pool"`},
		{"not a mapping", "store: postgres://db/x\n", "store: want a mapping"},
		{"negative max conns", store + "  max_conns: -1\n", "store.max_conns: -1 is outside"},
		{"huge max conns", store + "  max_conns: 5000\n", "store.max_conns: 5000 is outside"},
		{"negative timeout", store + "  query_timeout: -1s\n", "store.query_timeout: must be positive"},
		{"bad timeout", store + "  query_timeout: soon\n", `"soon" is not a duration`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cfg, err := ParseConfig([]byte(validConfig+tc.extra), "/state")
			if tc.want == "" {
				if err != nil {
					t.Fatal(err)
				}
				if cfg.StoreFile != "" || cfg.Store == nil || cfg.Store.URLFile != "store-url" {
					t.Fatalf("store_file %q, store %+v", cfg.StoreFile, cfg.Store)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, want an error naming %q", err, tc.want)
			}
			if strings.Contains(tc.extra, "pw@") && strings.Contains(err.Error(), "pw@") {
				t.Fatalf("the error quotes the URL: %v", err)
			}
		})
	}
	t.Run("no store keeps store_file", func(t *testing.T) {
		cfg, err := ParseConfig([]byte(validConfig), "/state")
		if err != nil || cfg.Store != nil || cfg.StoreFile != DefaultStoreFile {
			t.Fatalf("%v, store %+v, store_file %q", err, cfg.Store, cfg.StoreFile)
		}
	})
	t.Run("reload names a store change", func(t *testing.T) {
		a, _ := ParseConfig([]byte(validConfig), "/state")
		b, _ := ParseConfig([]byte(validConfig+store), "/state")
		c, _ := ParseConfig([]byte(validConfig+store+"  max_conns: 3\n"), "/state")
		if storeChange(a, a) != "" || storeChange(b, b) != "" {
			t.Fatal("a change reported for the same store")
		}
		if !strings.Contains(storeChange(a, b), "until it restarts") || storeChange(b, c) == "" {
			t.Fatalf("store changes not reported: %q, %q", storeChange(a, b), storeChange(b, c))
		}
	})
}

func TestStoreURLFile(t *testing.T) {
	dir := t.TempDir()
	const dsn = "postgres://airlock:s3cret@127.0.0.1:5432/airlock"
	write := func(name string, mode os.FileMode) {
		t.Helper()
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(dsn+"\n"), mode); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(p, mode); err != nil {
			t.Fatal(err)
		}
	}
	write("creds/store-url", 0o600)
	write("secrets/store-url", 0o600)
	write("open-url", 0o644)
	cases := []struct {
		name, file, credDir, want string // want "": reads dsn
	}{
		{"bare name from the credentials directory", "store-url", filepath.Join(dir, "creds"), ""},
		{"relative path against the config folder", "secrets/store-url", "", ""},
		{"absolute path", filepath.Join(dir, "creds/store-url"), "", ""},
		{"bare name without a credentials directory", "store-url", "", "CREDENTIALS_DIRECTORY"},
		{"world-readable", "./open-url", "", "lets every user read it"},
		{"missing", "./nothing", "", "no such file"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Setenv("CREDENTIALS_DIRECTORY", tc.credDir)
			cfg, err := ParseConfig([]byte(validConfig+"store:\n  url_file: "+tc.file+"\n  max_conns: 4\n"), dir)
			if err != nil {
				t.Fatal(err)
			}
			o, err := cfg.StoreOptions(testLogger(t))
			if tc.want == "" {
				if err != nil || o.URL != dsn || o.MaxConns != 4 {
					t.Fatalf("%v, options %d", err, o.MaxConns)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), "store.url_file") {
				t.Fatalf("got %v, want a store.url_file error naming %q", err, tc.want)
			}
			if strings.Contains(err.Error(), "s3cret") {
				t.Fatalf("the error shows the password: %v", err)
			}
		})
	}
}

// TestFleetSignIn runs two edges on one real PostgreSQL database: a
// sign-in at edge A refreshes at edge B, and the refresh token it replaced
// is then refused at A as a reuse (which revokes the family everywhere).
func TestFleetSignIn(t *testing.T) {
	ctx := testenv.Context(t)
	c := pgtest.Start(ctx, t)
	dsn := c.NewDatabase(ctx, t)
	urlFile := filepath.Join(t.TempDir(), "store-url")
	if err := os.WriteFile(urlFile, []byte(dsn+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	hash, err := oauth.HashPassword("correct horse")
	if err != nil {
		t.Fatal(err)
	}
	withStore := func(c *Config) {
		c.StoreFile, c.Store = "", &StoreConfig{URLFile: urlFile, MaxConns: 4}
		c.Users = []oauth.User{{Email: "alice@example.com", PasswordHash: hash}}
	}

	t.Run("schema behind", func(t *testing.T) {
		cfg, err := ParseConfig([]byte(validConfig+"store:\n  url_file: "+urlFile+"\n"), t.TempDir())
		if err != nil {
			t.Fatal(err)
		}
		_, err = openStore(ctx, cfg, testLogger(t))
		if !errors.Is(err, postgres.ErrSchemaBehind) || !strings.Contains(err.Error(), "migrate") {
			t.Fatalf("open on an empty database: %v, want ErrSchemaBehind naming migrate", err)
		}
	})
	mig, err := postgres.Open(ctx, postgres.Options{URL: dsn, Migrate: true})
	if err != nil {
		t.Fatal(err)
	}
	defer mig.Close()

	a, b := startEdge(t, withStore), startEdge(t, withStore)
	tok := fleetSignIn(t, a, "alice@example.com", "correct horse")
	if tok.RefreshToken == "" || tok.AccessToken == "" {
		t.Fatalf("token %+v", tok)
	}
	// The access token A signed passes B's per-stream check: B verifies
	// with the keys A published (the edges have key files of their own).
	if _, _, err := b.srv.check(&wire.Open{App: testApp, Token: tok.AccessToken}); err != nil {
		t.Fatalf("A's access token at B: %v", err)
	}
	next, err := fleetOAuth(b).TokenSource(fleetCtx(t, b), &oauth2.Token{RefreshToken: tok.RefreshToken, Expiry: time.Now().Add(-time.Hour)}).Token()
	if err != nil || next.RefreshToken == "" || next.RefreshToken == tok.RefreshToken {
		t.Fatalf("refresh at edge B: %+v, %v", next, err)
	}
	_, err = fleetOAuth(a).TokenSource(fleetCtx(t, a), &oauth2.Token{RefreshToken: tok.RefreshToken, Expiry: time.Now().Add(-time.Hour)}).Token()
	var re *oauth2.RetrieveError
	if !errors.As(err, &re) || re.ErrorCode != "invalid_grant" {
		t.Fatalf("the replaced refresh token at edge A: %v, want invalid_grant", err)
	}
	if _, err := fleetOAuth(b).TokenSource(fleetCtx(t, b), &oauth2.Token{RefreshToken: next.RefreshToken, Expiry: time.Now().Add(-time.Hour)}).Token(); err == nil {
		t.Fatal("after the reuse at A, the family's newest refresh token still works at B")
	}
	revoked, err := mig.RevokedSince(ctx, time.Time{})
	if err != nil || len(revoked) != 1 || revoked[0] != accessFamily(t, tok.AccessToken) {
		t.Fatalf("revoked families in the shared database: %v, %v; want the signed-in family", revoked, err)
	}
}

// accessFamily is the "fam" claim of an access token (not verified).
func accessFamily(tb testing.TB, tok string) string {
	tb.Helper()
	parts := strings.Split(tok, ".")
	if len(parts) != 3 {
		tb.Fatalf("not a JWT: %d parts", len(parts))
	}
	b, err := base64.RawURLEncoding.DecodeString(parts[1])
	var claims struct {
		Fam string `json:"fam"`
	}
	if err != nil || json.Unmarshal(b, &claims) != nil || claims.Fam == "" {
		tb.Fatalf("no fam claim in the access token (%v)", err)
	}
	return claims.Fam
}

// fleetOAuth is the daemon's oauth2 configuration for edge e.
func fleetOAuth(e *testEdge) *oauth2.Config {
	base := e.srv.PublicURL()
	return &oauth2.Config{
		ClientID: oauth.ClientID,
		Endpoint: oauth2.Endpoint{
			AuthURL: base + "/oauth/authorize", TokenURL: base + "/oauth/token", AuthStyle: oauth2.AuthStyleInParams,
		},
		RedirectURL: "http://127.0.0.1:1/callback", // never reached: the browser stops at the redirect
	}
}

// fleetClient trusts e's CA and reaches its sign-in server (public URL
// https://localhost:PORT) on loopback.
func fleetClient(e *testEdge) *http.Client {
	return &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: e.pool, MinVersion: tls.VersionTLS12}}}
}

func fleetCtx(tb testing.TB, e *testEdge) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	tb.Cleanup(cancel)
	return context.WithValue(ctx, oauth2.HTTPClient, fleetClient(e))
}

var (
	fleetReqField  = regexp.MustCompile(`name="req" value="([^"]+)"`)
	fleetCSRFField = regexp.MustCompile(`name="csrf" value="([^"]+)"`)
)

// fleetSignIn runs the browser flow at e (authorize, the login form) and
// exchanges the code there.
func fleetSignIn(tb testing.TB, e *testEdge, email, pw string) *oauth2.Token {
	tb.Helper()
	conf := fleetOAuth(e)
	state, verifier := oauth2.GenerateVerifier(), oauth2.GenerateVerifier()
	u := conf.AuthCodeURL(state, oauth2.S256ChallengeOption(verifier), oauth2.SetAuthURLParam("audience", testApp))
	browser := fleetClient(e)
	browser.Jar, _ = cookiejar.New(nil)
	browser.CheckRedirect = func(r *http.Request, _ []*http.Request) error {
		if r.URL.Path == "/callback" {
			return http.ErrUseLastResponse
		}
		return nil
	}
	res, err := browser.Get(u)
	if err != nil {
		tb.Fatal(err)
	}
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	m1, m2 := fleetReqField.FindSubmatch(body), fleetCSRFField.FindSubmatch(body)
	if res.StatusCode != http.StatusOK || m1 == nil || m2 == nil {
		tb.Fatalf("no login form: %s\n%s", res.Status, body)
	}
	res, err = browser.PostForm(e.srv.PublicURL()+"/oauth/login", url.Values{
		"req": {string(m1[1])}, "csrf": {string(m2[1])}, "email": {email}, "password": {pw}, "action": {"login"},
	})
	if err != nil {
		tb.Fatal(err)
	}
	body, _ = io.ReadAll(res.Body)
	res.Body.Close()
	loc, err := res.Location()
	if err != nil || loc.Query().Get("state") != state || loc.Query().Get("code") == "" {
		tb.Fatalf("login: %s, location %v (%v)\n%s", res.Status, loc, err, body)
	}
	tok, err := conf.Exchange(fleetCtx(tb, e), loc.Query().Get("code"), oauth2.VerifierOption(verifier), oauth2.SetAuthURLParam("audience", testApp))
	if err != nil {
		tb.Fatalf("exchange at %s: %v", e.srv.PublicURL(), err)
	}
	return tok
}
