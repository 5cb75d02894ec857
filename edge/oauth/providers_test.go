package oauth_test

import (
	"html"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/airlockhq/airlock/edge"
	"github.com/airlockhq/airlock/edge/edgetest"
	"github.com/airlockhq/airlock/edge/oauth"
	"github.com/airlockhq/airlock/internal/testenv"
)

// reloadWith reloads the running edge with its config file's content as
// edit changes it (the file itself is left alone) and returns the error.
func reloadWith(tb testing.TB, e *edgetest.Edge, edit func(*edge.Config)) error {
	tb.Helper()
	cfg, err := edge.LoadConfig(e.ConfigPath)
	if err != nil {
		tb.Fatal(err)
	}
	edit(cfg)
	return e.Server().Reload(cfg)
}

// closedAddr is a loopback address nothing listens on.

// upstreamHost is where the edge's authorization request sends the
// browser (not followed).
func upstreamHost(tb testing.TB, f *fixture) string {
	tb.Helper()
	u, _, _ := f.authURL(app)
	res, err := f.noRedirect().Get(u)
	if err != nil {
		tb.Fatal(err)
	}
	res.Body.Close()
	loc, err := url.Parse(res.Header.Get("Location"))
	if res.StatusCode != http.StatusFound || err != nil {
		tb.Fatalf("authorize: %s, Location %q", res.Status, res.Header.Get("Location"))
	}
	return loc.Host
}

// TestUpstreamProviderChecks: a reload with a provider that cannot work
// fails at once with an error naming the provider and the cause, and the
// running provider stays; one that works is applied. (A wrong client
// secret is not among them: zitadel's op looks up the code before the
// client, so the check's made-up code tells nothing about the client;
// providers that check the client first, such as Dex and Okta, answer
// invalid_client, which TestCheckClient covers. With the op, a wrong
// secret shows at the first sign-in, as temporarily_unavailable naming
// the provider: TestUpstreamUnavailable.)
func TestUpstreamProviderChecks(t *testing.T) {
	f, up := newOIDCFixture(t)
	running := strings.TrimPrefix(up.issuer, "http://")
	dir := t.TempDir()
	junk := filepath.Join(dir, "junk.pem")
	os.WriteFile(junk, []byte("not a certificate"), 0o600) //nolint:errcheck
	for _, tc := range []struct {
		name string
		edit func(o *oauth.OIDCConfig)
		want string
	}{
		{"issuer not exact (trailing slash)", func(o *oauth.OIDCConfig) { o.Issuer += "/" }, "did not match the issuer URL returned by provider"},
		{"no discovery document", func(o *oauth.OIDCConfig) { o.Issuer += "/tenant" }, "no discovery document"},
		{"provider unreachable", func(o *oauth.OIDCConfig) { o.Issuer = "http://" + testenv.RefusedAddr(t) }, "cannot reach the discovery document"},
		{"secret file missing", func(o *oauth.OIDCConfig) { o.ClientSecret, o.ClientSecretFile = "", filepath.Join(dir, "none") }, "client_secret_file"},
		{"CA file without a certificate", func(o *oauth.OIDCConfig) { o.CAFile = junk }, "holds no PEM certificate"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := reloadWith(t, f.e, func(c *edge.Config) { tc.edit(c.OIDC) })
			if err == nil || !strings.Contains(err.Error(), "identity provider oidc") || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("reload: %v, want an error naming the provider and %q", err, tc.want)
			}
			if h := upstreamHost(t, f); h != running {
				t.Fatalf("after the refused reload sign-in goes to %s, not the running provider %s", h, running)
			}
		})
	}
	t.Run("both oidc and oidc_providers", func(t *testing.T) {
		err := reloadWith(t, f.e, func(c *edge.Config) {
			c.OIDCProviders = []oauth.OIDCConfig{{Name: "corp", Issuer: up.issuer, ClientID: idpClientID}}
		})
		if err == nil || !strings.Contains(err.Error(), "not both") {
			t.Fatalf("reload: %v", err)
		}
	})
	t.Run("secret from a file", func(t *testing.T) {
		secret := filepath.Join(dir, "secret")
		os.WriteFile(secret, []byte(idpClientSecret+"\n"), 0o600) //nolint:errcheck
		f.e.UpdateConfig(t, func(c *edge.Config) error {
			c.OIDC.ClientSecret, c.OIDC.ClientSecretFile = "", secret
			return nil
		})
		u, state, _ := f.authURL(app)
		idpLogin(t, f.browser(t), u, idpUser, idpPassword)
		if q := f.cb.wait(t, 10*time.Second); q.Get("code") == "" || q.Get("state") != state {
			t.Fatalf("callback %v", q)
		}
	})
}

var providerButton = regexp.MustCompile(`data-provider="([^"]+)" href="([^"]+)">Sign in with ([^<]+)</a>`)

// TestUpstreamProviders: two providers in oidc_providers, each a button
// of the login page with its display name; the second is asked with its
// extra parameters and the scopes added to the defaults (groups, since
// the app's policy names one), and its name is in the token and in the
// stream's audit line, with the groups.
func TestUpstreamProviders(t *testing.T) {
	e := edgetest.Start(t, edgetest.Options{})
	tun := e.CreateTunnelWith(t, "demo", edge.TunnelOptions{
		Hostnames: []string{app}, Policy: edge.Policy{Allow: edge.Rule{Groups: []string{idpGroup}}},
	})
	corp, dex := startIdP(t, e.OAuthURL+"/oauth/callback"), startIdP(t, e.OAuthURL+"/oauth/callback")
	e.UpdateConfig(t, func(c *edge.Config) error {
		c.OIDCProviders = []oauth.OIDCConfig{
			{Name: "corp", DisplayName: "Corp SSO", Issuer: corp.issuer, ClientID: idpClientID, ClientSecret: idpClientSecret},
			{Name: "dex", Issuer: dex.issuer, ClientID: idpClientID, ClientSecret: idpClientSecret,
				Scopes:     []string{"offline_access"},
				AuthParams: map[string]string{"connector_id": "github", "prompt": "login", "max_age": "3600"}},
		}
		return nil
	})
	e.EchoConnector(t, tun)
	f := &fixture{e: e, conn: e.DialClient(t), cb: newCallback(t)}

	b := f.browser(t)
	u, state, verifier := f.authURL(app)
	res, err := b.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	page, _ := io.ReadAll(res.Body)
	res.Body.Close()
	buttons := map[string][2]string{}
	for _, m := range providerButton.FindAllStringSubmatch(string(page), -1) {
		buttons[m[1]] = [2]string{html.UnescapeString(m[2]), m[3]}
	}
	if len(buttons) != 2 || buttons["corp"][1] != "Corp SSO" || buttons["dex"][1] != "127.0.0.1" {
		t.Fatalf("login page buttons %v\n%s", buttons, page)
	}
	res, body := idpLogin(t, b, f.e.OAuthURL+buttons["dex"][0], idpUser, idpPassword)
	if res.StatusCode != http.StatusOK {
		t.Fatalf("after the provider's login: %s\n%s", res.Status, body)
	}
	if corp.authorize.Load() != nil {
		t.Fatal("the other provider was asked")
	}
	aq := *dex.authorize.Load()
	if got := strings.Fields(aq.Get("scope")); !slices.Equal(got, []string{"openid", "email", "profile", "offline_access", "groups"}) {
		t.Errorf("scopes asked for: %v", got)
	}
	for k, v := range map[string]string{"connector_id": "github", "prompt": "login", "max_age": "3600", "code_challenge_method": "S256"} {
		if aq.Get(k) != v {
			t.Errorf("authorization request %s=%q, want %q", k, aq.Get(k), v)
		}
	}
	q := f.cb.wait(t, 10*time.Second)
	if q.Get("state") != state || q.Get("code") == "" {
		t.Fatalf("callback %v", q)
	}
	tok, err := f.exchange(t, q.Get("code"), verifier, app)
	if err != nil {
		t.Fatal(err)
	}
	if c := parseClaims(t, tok.AccessToken); c["idp_name"] != "dex" || c["idp"] != "oidc" {
		t.Fatalf("claims %v", c)
	}
	if err := f.stream(t, app, tok.AccessToken); err != nil {
		t.Fatal(err)
	}
	rec := e.WaitAudit(t, func(r edge.AuditRecord) bool { return r.User == idpEmail })
	if rec.Provider != "dex" || !slices.Contains(rec.Groups, idpGroup) {
		t.Fatalf("audit line: provider %q, groups %v", rec.Provider, rec.Groups)
	}
}

// TestUpstreamUnavailable: a failure on the provider's side reaches the
// daemon as temporarily_unavailable naming the provider, never as
// access_denied.
func TestUpstreamUnavailable(t *testing.T) {
	f, up := newOIDCFixture(t)
	for _, tc := range []struct {
		name string
		set  func(on bool)
		want string
	}{
		{name: "token endpoint down", set: up.tokenDown.Store, want: "503"},
		{name: "client refused at the code's redemption", set: up.rejectClient.Store, want: "invalid_client"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.set(true)
			defer tc.set(false)
			u, _, _ := f.authURL(app)
			idpLogin(t, f.browser(t), u, idpUser, idpPassword)
			q := f.cb.wait(t, 10*time.Second)
			desc := q.Get("error_description")
			if q.Get("error") != "temporarily_unavailable" || !strings.Contains(desc, "identity provider oidc") || !strings.Contains(desc, tc.want) || q.Get("code") != "" {
				t.Fatalf("callback %v", q)
			}
		})
	}
}
