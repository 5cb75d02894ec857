package oauth_test

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/zitadel/oidc/v3/example/server/exampleop"
	"github.com/zitadel/oidc/v3/example/server/storage"
	"github.com/zitadel/oidc/v3/pkg/oidc"
	"github.com/zitadel/oidc/v3/pkg/op"

	"github.com/airlockhq/airlock/edge"
	"github.com/airlockhq/airlock/edge/edgetest"
	"github.com/airlockhq/airlock/edge/oauth"
	"github.com/airlockhq/airlock/internal/wire"
)

// The upstream identity provider is zitadel/oidc's OpenID Provider (op)
// with its example storage and login UI, run in-process on loopback: a
// real OIDC implementation (discovery, code flow with PKCE, signed ID
// tokens, userinfo), not a fake.
const (
	idpClientID     = "airlock-edge"
	idpClientSecret = "edge-secret"
	idpUser         = "test-user@127.0.0.1" // the example store's user for a 127.0.0.1 issuer
	idpPassword     = "verysecure"
	idpEmail        = "test-user@zitadel.ch"
	idpGroup        = "oidc-sre"
)

// groupsStorage adds a groups claim to the example storage's userinfo,
// says the email is unverified while unverified is set, and refuses the
// client's credentials while rejectClient is set (a secret rotated at
// the provider).
type groupsStorage struct {
	*storage.Storage
	unverified, rejectClient *atomic.Bool
}

func (s groupsStorage) SetUserinfoFromToken(ctx context.Context, ui *oidc.UserInfo, tokenID, subject, origin string) error {
	if err := s.Storage.SetUserinfoFromToken(ctx, ui, tokenID, subject, origin); err != nil {
		return err
	}
	s.amend(ui)
	return nil
}

func (s groupsStorage) SetUserinfoFromRequest(ctx context.Context, ui *oidc.UserInfo, tok op.IDTokenRequest, scopes []string) error {
	if err := s.Storage.SetUserinfoFromRequest(ctx, ui, tok, scopes); err != nil {
		return err
	}
	s.amend(ui)
	return nil
}

func (s groupsStorage) AuthorizeClientIDSecret(ctx context.Context, clientID, clientSecret string) error {
	if s.rejectClient.Load() {
		return errors.New("invalid secret")
	}
	return s.Storage.AuthorizeClientIDSecret(ctx, clientID, clientSecret)
}

func (s groupsStorage) amend(ui *oidc.UserInfo) {
	ui.AppendClaims("groups", []string{idpGroup, "everyone"})
	if s.unverified.Load() && ui.Email != "" {
		ui.EmailVerified = false
	}
}

// idp is a running upstream provider and its switches.
type idp struct {
	issuer string
	// unverified: the email is said to be unverified; rejectClient: the
	// client's secret is refused; tokenDown: the token endpoint answers
	// 503.
	unverified, rejectClient, tokenDown *atomic.Bool
	// authorize is the query of the last authorization request.
	authorize atomic.Pointer[url.Values]
}

// startIdP runs the provider with one confidential client whose redirect
// URI is the edge's callback.
func startIdP(tb testing.TB, edgeCallback string) *idp {
	tb.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	p := &idp{issuer: "http://" + ln.Addr().String(), unverified: new(atomic.Bool), rejectClient: new(atomic.Bool), tokenDown: new(atomic.Bool)}
	clients := map[string]*storage.Client{idpClientID: storage.WebClient(idpClientID, idpClientSecret, edgeCallback)}
	st := groupsStorage{storage.NewStorageWithClients(storage.NewUserStore(p.issuer), clients), p.unverified, p.rejectClient}
	router := exampleop.SetupServer(p.issuer, st, nil, false)
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch {
		case r.URL.Path == "/oauth/token" && p.tokenDown.Load():
			http.Error(w, "down for maintenance", http.StatusServiceUnavailable)
			return
		case r.URL.Path == "/auth": // exampleop's authorization endpoint
			q := r.URL.Query()
			p.authorize.Store(&q)
		}
		router.ServeHTTP(w, r)
	})
	srv := &httptest.Server{Listener: ln, Config: &http.Server{Handler: h}}
	srv.Start()
	tb.Cleanup(srv.Close)
	return p
}

// newOIDCFixture is an edge whose only identity provider is the upstream
// one (the single oidc section); app allows the IdP's group.
func newOIDCFixture(tb testing.TB) (*fixture, *idp) {
	tb.Helper()
	e := edgetest.Start(tb, edgetest.Options{})
	tun := e.CreateTunnelWith(tb, "demo", edge.TunnelOptions{
		Hostnames: []string{app}, Policy: edge.Policy{Allow: edge.Rule{Groups: []string{idpGroup}}},
	})
	p := startIdP(tb, e.OAuthURL+"/oauth/callback")
	e.UpdateConfig(tb, func(c *edge.Config) error {
		c.OIDC = &oauth.OIDCConfig{Issuer: p.issuer, ClientID: idpClientID, ClientSecret: idpClientSecret}
		return nil
	})
	e.EchoConnector(tb, tun)
	return &fixture{e: e, conn: e.DialClient(tb), cb: newCallback(tb)}, p
}

var idpFormID = regexp.MustCompile(`name="id" value="([^"]+)"`)

// idpLogin follows the edge's redirect to the provider, fills in the
// provider's login form and follows the redirects back through the edge
// to the loopback callback. It returns the final response.
func idpLogin(tb testing.TB, b *http.Client, authURL, user, pw string) (*http.Response, string) {
	tb.Helper()
	res, err := b.Get(authURL)
	if err != nil {
		tb.Fatal(err)
	}
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	m := idpFormID.FindSubmatch(body)
	if res.StatusCode != http.StatusOK || m == nil {
		tb.Fatalf("no provider login form at %s: %s\n%s", res.Request.URL, res.Status, body)
	}
	loginURL := res.Request.URL.ResolveReference(&url.URL{Path: "/login/username"})
	res, err = b.PostForm(loginURL.String(), url.Values{"id": {string(m[1])}, "username": {user}, "password": {pw}})
	if err != nil {
		tb.Fatal(err)
	}
	body, _ = io.ReadAll(res.Body)
	res.Body.Close()
	return res, string(body)
}

func TestUpstreamOIDC(t *testing.T) {
	f, up := newOIDCFixture(t)
	unverified := up.unverified
	u, state, verifier := f.authURL(app)
	res, body := idpLogin(t, f.browser(t), u, idpUser, idpPassword)
	if res.StatusCode != http.StatusOK {
		t.Fatalf("after the provider's login: %s\n%s", res.Status, body)
	}
	q := f.cb.wait(t, 10e9)
	if q.Get("state") != state || q.Get("code") == "" {
		t.Fatalf("callback %v", q)
	}
	tok, err := f.exchange(t, q.Get("code"), verifier, app)
	if err != nil {
		t.Fatal(err)
	}
	c := parseClaims(t, tok.AccessToken)
	if c["email"] != idpEmail || c["idp"] != "oidc" || c["idp_name"] != oauth.DefaultProviderName || c["sub"] == "" || c["sub"] == idpEmail {
		t.Fatalf("claims %v", c)
	}
	if g, _ := c["groups"].([]any); len(g) != 2 || g[0] != idpGroup {
		t.Fatalf("groups %v", c["groups"])
	}
	if err := f.stream(t, app, tok.AccessToken); err != nil {
		t.Fatalf("stream: %v", err)
	}
	if exp := time.Until(tok.Expiry); exp > oauth.DefaultSessionLifetime {
		t.Fatalf("an access token of an upstream sign-in lives %s, past the session lifetime", exp)
	}
	next, err := f.refresh(t, tok.RefreshToken)
	if err != nil {
		t.Fatalf("refresh an upstream sign-in: %v", err)
	}

	t.Run("wrong password at the provider", func(t *testing.T) {
		u, _, _ := f.authURL(app)
		res, body := idpLogin(t, f.browser(t), u, idpUser, "wrong")
		if res.Request.URL.Host == strings.TrimPrefix(f.e.OAuthURL, "https://") || !strings.Contains(strings.ToLower(body), "password") {
			t.Fatalf("wrong password came back to %s: %s\n%s", res.Request.URL, res.Status, body)
		}
	})

	// The provider's email_verified false is left out of its JSON
	// (omitempty): missing counts as not verified.
	t.Run("email not verified at the provider", func(t *testing.T) {
		unverified.Store(true)
		defer unverified.Store(false)
		u, _, _ := f.authURL(app)
		idpLogin(t, f.browser(t), u, idpUser, idpPassword)
		q := f.cb.wait(t, 10*time.Second)
		if q.Get("error") != "access_denied" || !strings.Contains(q.Get("error_description"), "email_verified") || q.Get("code") != "" {
			t.Fatalf("callback %v", q)
		}
	})

	t.Run("forged upstream state", func(t *testing.T) {
		res, err := f.browser(t).Get(f.e.OAuthURL + "/oauth/callback?state=forged&code=x")
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(res.Body)
		res.Body.Close()
		if res.StatusCode != http.StatusBadRequest || !strings.Contains(string(b), "wrong or old state") {
			t.Fatalf("%s\n%s", res.Status, b)
		}
	})

	t.Run("group removed from the policy", func(t *testing.T) {
		f.e.SetPolicy(t, app, edge.Policy{Allow: edge.Rule{Groups: []string{"someone-else"}}})
		wantRefused(t, f.stream(t, app, next.AccessToken), wire.CodeForbidden, "not allowed")
	})
	t.Run("user revoked", func(t *testing.T) {
		f.e.SetPolicy(t, app, edge.Policy{Allow: edge.Rule{Groups: []string{idpGroup}}})
		if err := f.stream(t, app, next.AccessToken); err != nil {
			t.Fatal(err)
		}
		f.e.RevokeUser(t, idpEmail)
		wantRefused(t, f.stream(t, app, next.AccessToken), wire.CodeUnauthenticated, "revoked")
	})
}

func TestIdentityFromClaims(t *testing.T) {
	cases := []struct {
		name   string
		claims map[string]any
		allow  bool // oidc.allow_unverified_email
		err    string
		groups int
	}{
		{"verified", map[string]any{"email": "a@example.com", "email_verified": true, "roles": []any{"a", "b"}}, false, "", 2},
		{"no verified claim", map[string]any{"email": "a@example.com", "roles": "a b c"}, false, "no email_verified claim", 0},
		{"no verified claim, allowed by the operator", map[string]any{"email": "a@example.com", "roles": "a b c"}, true, "", 3},
		{"unverified", map[string]any{"email": "a@example.com", "email_verified": false}, false, "not verified", 0},
		{"unverified, allowed by the operator", map[string]any{"email": "a@example.com", "email_verified": false}, true, "", 0},
		{"verified as a string", map[string]any{"email": "a@example.com", "email_verified": "true"}, false, "not verified", 0},
		{"no email", map[string]any{"name": "a"}, false, `no "email" claim`, 0},
		{"not an email", map[string]any{"email": "alice", "email_verified": true}, false, "not an email", 0},
		{"groups of the wrong type", map[string]any{"email": "a@example.com", "email_verified": true, "roles": 3.0}, false, "neither a list nor a string", 0},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cfg := &oauth.OIDCConfig{Issuer: "https://idp.test", ClientID: "x", GroupsClaim: "roles", AllowUnverifiedEmail: tc.allow}
			id, err := oauth.IdentityFromClaims(tc.claims, "sub-1", cfg)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("got %v, want an error naming %q", err, tc.err)
				}
				return
			}
			if err != nil || len(id.Groups) != tc.groups || id.IDP != "oidc" || id.Subject != "sub-1" {
				t.Fatalf("%+v, %v", id, err)
			}
		})
	}
}
