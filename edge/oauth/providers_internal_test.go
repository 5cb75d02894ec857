package oauth

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/airlockhq/airlock/internal/testenv"
	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"
)

// TestCheckClient: the check's made-up code tells a refused client
// (invalid_client, unauthorized_client: a config error) from a provider
// that is down (5xx, unreachable) and from one that knows the client
// (invalid_grant), as Dex and Okta answer. The token endpoint here stands
// in for such a provider: the op of the other tests checks the code
// before the client.
func TestCheckClient(t *testing.T) {
	closed := "http://" + testenv.RefusedAddr(t) + "/token"
	for _, tc := range []struct {
		name        string
		status      int
		body        string
		url         string // instead of the test server's
		want        string // "" no error
		unavailable bool
	}{
		{name: "client known", status: 400, body: `{"error":"invalid_grant"}`},
		{name: "client refused", status: 401, body: `{"error":"invalid_client","error_description":"bad secret"}`, want: `refused the client "edge" (invalid_client bad secret)`},
		{name: "grant not allowed for the client", status: 400, body: `{"error":"unauthorized_client"}`, want: "refused the client"},
		{name: "token endpoint down", status: 503, body: `down`, want: "answered 503", unavailable: true},
		{name: "token endpoint unreachable", url: closed, want: "cannot reach its token endpoint", unavailable: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Type", "application/json")
				w.WriteHeader(tc.status)
				w.Write([]byte(tc.body)) //nolint:errcheck
			}))
			defer srv.Close()
			tokenURL := srv.URL + "/token"
			if tc.url != "" {
				tokenURL = tc.url
			}
			p := (&oidc.ProviderConfig{IssuerURL: srv.URL, AuthURL: srv.URL + "/auth", TokenURL: tokenURL}).NewProvider(context.Background())
			u := &upstream{cfg: OIDCConfig{Name: "corp", Issuer: srv.URL, ClientID: "edge"}, secret: "s", client: srv.Client(), redirect: "https://edge.test/oauth/callback"}
			err := u.checkClient(context.Background(), p)
			var pe *ProviderError
			switch {
			case tc.want == "" && err != nil:
				t.Fatalf("check: %v", err)
			case tc.want == "":
			case err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), "identity provider corp"):
				t.Fatalf("check: %v, want %q", err, tc.want)
			case !errors.As(err, &pe) || pe.Unavailable != tc.unavailable:
				t.Fatalf("unavailable %v, want %v", pe != nil && pe.Unavailable, tc.unavailable)
			}
		})
	}
}

// TestPrepareAtStart: at start (not strict) a provider that does not
// answer is logged and the edge starts; on a reload it is an error. A
// wrong config is an error either way.
func TestPrepareAtStart(t *testing.T) {
	down := "http://" + testenv.RefusedAddr(t)
	s := &Server{log: slog.New(slog.DiscardHandler), client: http.DefaultClient}
	set := &Settings{PublicURL: "https://edge.test", Providers: []OIDCConfig{{Name: "corp", Issuer: down, ClientID: "edge"}}}
	ups, err := s.prepareUpstreams(context.Background(), set, false)
	if err != nil || len(ups) != 1 || ups[0].redirect != "https://edge.test/oauth/callback" {
		t.Fatalf("at start: %v, %v", ups, err)
	}
	if _, err := s.prepareUpstreams(context.Background(), set, true); err == nil || !strings.Contains(err.Error(), "identity provider corp") {
		t.Fatalf("on reload: %v", err)
	}
	set.Providers[0].ClientSecretFile = "/nonexistent/secret"
	if _, err := s.prepareUpstreams(context.Background(), set, false); err == nil || !strings.Contains(err.Error(), "client_secret_file") {
		t.Fatalf("a missing secret file at start: %v", err)
	}
}

// TestScopes: the configured scopes add to openid email profile, and the
// groups scope is asked for when groups are used, unless "none".
func TestScopes(t *testing.T) {
	for _, tc := range []struct {
		name   string
		cfg    OIDCConfig
		groups bool
		want   string
	}{
		{"defaults", OIDCConfig{}, false, "openid email profile"},
		{"added, not replacing email", OIDCConfig{Scopes: []string{"offline_access", "email"}}, false, "openid email profile offline_access"},
		{"groups used", OIDCConfig{}, true, "openid email profile groups"},
		{"groups scope of the provider's own", OIDCConfig{GroupsScope: "okta.groups"}, true, "openid email profile okta.groups"},
		{"groups scope none", OIDCConfig{GroupsScope: GroupsScopeNone}, true, "openid email profile"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := strings.Join(tc.cfg.scopes(tc.groups), " "); got != tc.want {
				t.Fatalf("%q, want %q", got, tc.want)
			}
		})
	}
}

// TestValidateProviders names each wrong field of oidc_providers.
func TestValidateProviders(t *testing.T) {
	ok := OIDCConfig{Name: "corp", Issuer: "https://idp.example.com", ClientID: "x"}
	for _, tc := range []struct {
		name string
		edit func(*OIDCConfig)
		want string
	}{
		{"no name", func(o *OIDCConfig) { o.Name = "" }, "oidc_providers[0].name: is required"},
		{"bad name", func(o *OIDCConfig) { o.Name = "Corp SSO" }, "oidc_providers[0].name"},
		{"both secrets", func(o *OIDCConfig) { o.ClientSecret, o.ClientSecretFile = "a", "b" }, "not both"},
		{"reserved parameter", func(o *OIDCConfig) { o.AuthParams = map[string]string{"redirect_uri": "https://evil.test"} }, "auth_params.redirect_uri"},
		{"redirect elsewhere", func(o *OIDCConfig) { o.RedirectURI = "https://edge.example.com/callback" }, "the path must be /oauth/callback"},
		{"scope with a space", func(o *OIDCConfig) { o.Scopes = []string{"a b"} }, "scopes[0]"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			o := ok
			tc.edit(&o)
			errs := ValidateProviders([]OIDCConfig{o})
			if len(errs) == 0 || !strings.Contains(errs[0].Error(), tc.want) {
				t.Fatalf("%v, want %q", errs, tc.want)
			}
		})
	}
	if errs := ValidateProviders([]OIDCConfig{ok, ok}); len(errs) != 1 || !strings.Contains(errs[0].Error(), "appears twice") {
		t.Fatalf("twice: %v", errs)
	}
	o := ok
	o.RedirectURI = "https://edge.example.com/oauth/callback/corp"
	o.AuthParams = map[string]string{"connector_id": "github", "prompt": "login", "max_age": "3600"}
	if errs := ValidateProviders([]OIDCConfig{o}); len(errs) != 0 {
		t.Fatalf("valid: %v", errs)
	}
}

// TestUpstreamUnreachableAtSignIn: a provider that was down at start (so
// never discovered) and still is when a person signs in sends the daemon
// temporarily_unavailable naming it, not a page saying "try again".
func TestUpstreamUnreachableAtSignIn(t *testing.T) {
	down := "http://" + testenv.RefusedAddr(t)
	srv, hs := newTestServer(t, &clock{t: time.Now()})
	set := srv.cur.Load().Settings
	set.Users, set.Providers = nil, []OIDCConfig{{Name: "corp", Issuer: down, ClientID: "edge"}}
	if err := srv.Update(context.Background(), set); err != nil { // at start: logged, not an error
		t.Fatalf("update: %v", err)
	}
	c := hs.Client()
	c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	q := url.Values{
		"client_id": {ClientID}, "response_type": {"code"}, "redirect_uri": {"http://127.0.0.1:4711/callback"},
		"state": {"st"}, "code_challenge": {oauth2.S256ChallengeFromVerifier(oauth2.GenerateVerifier())}, "code_challenge_method": {"S256"},
	}
	res, err := c.Get(hs.URL + "/oauth/authorize?" + q.Encode())
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	loc, err := url.Parse(res.Header.Get("Location"))
	if err != nil || res.StatusCode != http.StatusSeeOther || loc.Host != "127.0.0.1:4711" {
		t.Fatalf("authorize: %s, Location %q", res.Status, res.Header.Get("Location"))
	}
	got := loc.Query()
	if got.Get("error") != "temporarily_unavailable" || !strings.Contains(got.Get("error_description"), "the identity provider corp is temporarily unavailable: cannot reach the discovery document") || got.Get("state") != "st" {
		t.Fatalf("redirect %v", got)
	}
}
