package edge_test

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/airlockhq/airlock/edge"
	"github.com/airlockhq/airlock/edge/edgetest"
	"github.com/airlockhq/airlock/edge/oauth"
	"github.com/airlockhq/airlock/internal/joinlink"
	"github.com/airlockhq/airlock/internal/testenv"
	"github.com/airlockhq/airlock/internal/token"
)

// get fetches path of e's sign-in server with an optional bearer token.
func get(tb testing.TB, e *edgetest.Edge, path, bearer string) (int, http.Header, []byte) {
	tb.Helper()
	req, err := http.NewRequest("GET", e.OAuthURL+path, nil)
	if err != nil {
		tb.Fatal(err)
	}
	if bearer != "" {
		req.Header.Set("Authorization", "Bearer "+bearer)
	}
	res, err := e.HTTPClient().Do(req)
	if err != nil {
		tb.Fatal(err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(io.LimitReader(res.Body, 2<<20))
	if err != nil {
		tb.Fatal(err)
	}
	return res.StatusCode, res.Header, b
}

// accessToken signs a person's access token from sign-in of the built-in
// user list for aud, issued a minute ago.
func accessToken(tb testing.TB, s *token.Signer, email string, groups []string, exp time.Time, aud ...string) string {
	tb.Helper()
	now := time.Now()
	tok, err := s.Sign(token.Claims{Subject: email, Email: email, Groups: groups, Audience: aud,
		IssuedAt: now.Add(-time.Minute), NotBefore: now.Add(-time.Minute), ExpiresAt: exp,
		Kind: token.KindAccess, Family: "fam-test", IDP: oauth.IDPUsers})
	if err != nil {
		tb.Fatal(err)
	}
	return tok
}

// TestJoinConfiguration: the public metadata names the fleet, the UDP
// addresses daemons dial, the sign-in URL and the catalogue; fleet_name
// and public_addrs change it on reload; without public_addrs the address
// is the sign-in host with the QUIC port.
func TestJoinConfiguration(t *testing.T) {
	e := edgetest.Start(t, edgetest.Options{})
	conf := func(t *testing.T) joinlink.Configuration {
		t.Helper()
		code, h, b := get(t, e, joinlink.ConfigurationPath, "")
		if code != http.StatusOK || h.Get("Content-Type") != "application/json" {
			t.Fatalf("%d %s: %s", code, h.Get("Content-Type"), b)
		}
		var c joinlink.Configuration
		if err := json.Unmarshal(b, &c); err != nil {
			t.Fatal(err)
		}
		return c
	}
	t.Run("defaults", func(t *testing.T) {
		c := conf(t)
		want := joinlink.Configuration{Version: 1, Fleet: "localhost", ServerName: "localhost", Addresses: []string{e.Addr},
			AuthURL: e.OAuthURL, Issuer: e.OAuthURL, CatalogueEndpoint: e.OAuthURL + "/api/v1/catalogue"}
		if !equalConf(c, want) {
			t.Fatalf("configuration %+v, want %+v", c, want)
		}
	})
	t.Run("fleet_name and public_addrs", func(t *testing.T) {
		e.UpdateConfig(t, func(c *edge.Config) error {
			c.FleetName, c.PublicAddrs = "prod", []string{"edge-1.example.com:7844", "edge-2.example.com:7844"}
			return nil
		})
		if c := conf(t); c.Fleet != "prod" || !slices.Equal(c.Addresses, []string{"edge-1.example.com:7844", "edge-2.example.com:7844"}) {
			t.Fatalf("configuration %+v", c)
		}
	})
	t.Run("no public_addrs", func(t *testing.T) {
		e.UpdateConfig(t, func(c *edge.Config) error {
			c.PublicAddrs = nil
			return nil
		})
		_, port, _ := strings.Cut(e.Addr, ":")
		if c := conf(t); !slices.Equal(c.Addresses, []string{"127.0.0.1:" + port}) {
			t.Fatalf("addresses %v, want the sign-in host with port %s", c.Addresses, port)
		}
	})
}

func equalConf(a, b joinlink.Configuration) bool {
	return slices.Equal(a.Addresses, b.Addresses) && a.Version == b.Version && a.Fleet == b.Fleet && a.ServerName == b.ServerName &&
		a.AuthURL == b.AuthURL && a.Issuer == b.Issuer && a.CatalogueEndpoint == b.CatalogueEndpoint
}

// TestJoinCA: the edge serves its CA's PEM, and the fingerprint of its
// invitation is what kubeadm's recipe computes with openssl:
// openssl x509 -pubkey | openssl pkey -pubin -outform der | sha256sum.
func TestJoinCA(t *testing.T) {
	e := edgetest.Start(t, edgetest.Options{})
	code, h, b := get(t, e, joinlink.CAPath, "")
	if code != http.StatusOK || string(b) != string(e.CAPEM) || h.Get("Content-Type") != "application/x-pem-file" {
		t.Fatalf("%d %s:\n%s", code, h.Get("Content-Type"), b)
	}
	openssl := testenv.LookPath(t, "openssl", "apt-get install openssl")
	pub := exec.Command(openssl, "x509", "-pubkey", "-noout")
	pub.Stdin = strings.NewReader(string(b))
	pubPEM, err := pub.Output()
	if err != nil {
		t.Fatalf("openssl x509 -pubkey: %v", err)
	}
	der := exec.Command(openssl, "pkey", "-pubin", "-outform", "der")
	der.Stdin = strings.NewReader(string(pubPEM))
	spki, err := der.Output()
	if err != nil {
		t.Fatalf("openssl pkey: %v", err)
	}
	sum := sha256.Sum256(spki)
	want := "sha256:" + hex.EncodeToString(sum[:])
	cfg, err := edge.LoadConfig(e.ConfigPath)
	if err != nil {
		t.Fatal(err)
	}
	inv, err := cfg.Invite(e.OAuthURL)
	if err != nil {
		t.Fatal(err)
	}
	if inv.CA != want || !joinlink.MatchPEM(b, want) {
		t.Fatalf("fingerprint %s, openssl says %s", inv.CA, want)
	}
}

// TestCatalogue: only the bearer of a valid access token from sign-in
// gets the catalogue, and it lists only the apps the policy lets them use
// now, with the Kubernetes details the operator published.
func TestCatalogue(t *testing.T) {
	e := edgetest.Start(t, edgetest.Options{})
	const prod, wiki = "k8s.prod.test", "wiki.prod.test"
	e.CreateTunnel(t, "prod", prod, wiki)
	e.AddUser(t, "alice@example.com", "correct horse", "sre")
	e.AddUser(t, "bob@example.com", "battery staple")
	e.UpdateConfig(t, func(c *edge.Config) error {
		for i := range c.Apps {
			switch c.Apps[i].Hostname {
			case prod:
				c.Apps[i].Name, c.Apps[i].DisplayName = "prod", "Production"
				c.Apps[i].Policy = edge.Policy{Allow: edge.Rule{Groups: []string{"sre"}}}
				c.Apps[i].Kubernetes = &edge.AppKubernetes{Server: "https://10.0.0.1:6443", CAFile: edge.CACertFile,
					TLSServerName: "kubernetes.default", OIDC: &edge.KubeOIDC{Audience: "kubernetes:prod"}}
			case wiki:
				c.Apps[i].Policy = edge.Policy{Allow: edge.Rule{EmailDomains: []string{"example.com"}}}
			}
		}
		return nil
	})
	hour := time.Now().Add(time.Hour)
	alice := accessToken(t, e.Signer(), "alice@example.com", []string{"sre"}, hour, wiki)
	bob := accessToken(t, e.Signer(), "bob@example.com", nil, hour, wiki, prod)

	catalogue := func(t *testing.T, tok string) joinlink.Catalogue {
		t.Helper()
		code, _, b := get(t, e, joinlink.CataloguePath, tok)
		if code != http.StatusOK {
			t.Fatalf("%d: %s", code, b)
		}
		var c joinlink.Catalogue
		if err := json.Unmarshal(b, &c); err != nil {
			t.Fatal(err)
		}
		return c
	}
	hosts := func(c joinlink.Catalogue) []string {
		var out []string
		for _, a := range c.Apps {
			out = append(out, a.Hostname)
		}
		return out
	}

	t.Run("refused", func(t *testing.T) {
		_, foreignKey, err := token.GenerateKey()
		if err != nil {
			t.Fatal(err)
		}
		cfg, err := edge.LoadConfig(e.ConfigPath)
		if err != nil {
			t.Fatal(err)
		}
		foreign, err := token.NewSigner("ed-foreign", foreignKey, cfg.Tokens.Issuer)
		if err != nil {
			t.Fatal(err)
		}
		e.AddUser(t, "carol@example.com", "carol password")
		carol := accessToken(t, e.Signer(), "carol@example.com", nil, hour, wiki)
		e.RevokeUser(t, "carol@example.com")
		for _, tc := range []struct{ name, tok, why string }{
			{"no token", "", "no bearer token"},
			{"junk", "not-a-token", "malformed"},
			{"expired", accessToken(t, e.Signer(), "alice@example.com", []string{"sre"}, time.Now().Add(-time.Hour), wiki), "expired"},
			{"foreign-signed", accessToken(t, foreign, "alice@example.com", []string{"sre"}, hour, wiki), "key"},
			{"revoked", carol, "revoked"},
			{"user not in the list", accessToken(t, e.Signer(), "dave@example.com", nil, hour, wiki), "no longer"},
			{"for no app here", accessToken(t, e.Signer(), "alice@example.com", []string{"sre"}, hour, "elsewhere.test"), "none of them here"},
			{"service token", e.MintToken(t, wiki, "alice@example.com", time.Hour), "only a person's access token"},
		} {
			t.Run(tc.name, func(t *testing.T) {
				code, h, b := get(t, e, joinlink.CataloguePath, tc.tok)
				var je joinlink.Error
				json.Unmarshal(b, &je) //nolint:errcheck // checked below
				if code != http.StatusUnauthorized || je.Error != "invalid_token" || !strings.Contains(strings.ToLower(je.Description), tc.why) ||
					!strings.HasPrefix(h.Get("WWW-Authenticate"), "Bearer") {
					t.Fatalf("%d %q: %s; want 401 invalid_token saying %q", code, h.Get("WWW-Authenticate"), b, tc.why)
				}
			})
		}
	})
	t.Run("policy filters", func(t *testing.T) {
		c := catalogue(t, alice)
		if c.Version != 1 || c.Fleet != "localhost" || !slices.Equal(hosts(c), []string{prod, wiki}) {
			t.Fatalf("alice's catalogue %+v", c)
		}
		p := c.Apps[0]
		ca, _ := base64.StdEncoding.DecodeString(p.Kubernetes.CAData)
		if p.Name != "prod" || p.DisplayName != "Production" || p.Kubernetes.Server != "https://10.0.0.1:6443" ||
			string(ca) != string(e.CAPEM) || p.Kubernetes.TLSServerName != "kubernetes.default" || p.Kubernetes.OIDC == nil || p.Kubernetes.OIDC.Audience != "kubernetes:prod" {
			t.Fatalf("prod in the catalogue: %+v %+v", p, p.Kubernetes)
		}
		if w := c.Apps[1]; w.Name != "wiki" || w.DisplayName != "wiki" || w.Kubernetes != nil {
			t.Fatalf("wiki in the catalogue: %+v", w)
		}
		// bob's token names prod too, but the policy does not let him use it.
		if got := hosts(catalogue(t, bob)); !slices.Equal(got, []string{wiki}) {
			t.Fatalf("bob's catalogue %v, want only %s", got, wiki)
		}
	})
	t.Run("losing access", func(t *testing.T) {
		e.SetPolicy(t, prod, edge.Policy{Allow: edge.Rule{Groups: []string{"admins"}}})
		if got := hosts(catalogue(t, alice)); !slices.Equal(got, []string{wiki}) {
			t.Fatalf("alice's catalogue after losing prod: %v", got)
		}
		e.SetPolicy(t, wiki, edge.Policy{Allow: edge.Rule{Emails: []string{"bob@example.com"}}})
		if c := catalogue(t, alice); c.Apps == nil || len(c.Apps) != 0 {
			t.Fatalf("alice's catalogue after losing both: %+v (want an empty list)", c)
		}
	})
}

// TestConnectPage: the page holds the airlock:// link and the command,
// escaped for HTML, and no script.
func TestConnectPage(t *testing.T) {
	e := edgetest.Start(t, edgetest.Options{})
	code, h, b := get(t, e, joinlink.ConnectPath, "")
	page := string(b)
	if code != http.StatusOK || !strings.HasPrefix(h.Get("Content-Type"), "text/html") || !strings.Contains(h.Get("Content-Security-Policy"), "default-src 'none'") {
		t.Fatalf("%d %v", code, h)
	}
	cfg, err := edge.LoadConfig(e.ConfigPath)
	if err != nil {
		t.Fatal(err)
	}
	inv, err := cfg.Invite(e.OAuthURL)
	if err != nil {
		t.Fatal(err)
	}
	link := strings.ReplaceAll(inv.Link(), "&", "&amp;")
	for _, want := range []string{`href="` + link + `"`, "<code>" + inv.Command() + "</code>", inv.CA} {
		if !strings.Contains(page, want) {
			t.Errorf("the page lacks %s:\n%s", want, page)
		}
	}
	if strings.Contains(page, "<script") || strings.Contains(page, inv.Link()) {
		t.Errorf("a script, or the link's & unescaped:\n%s", page)
	}
}

// TestJoinConfigValidation: the new fields are checked, each error naming
// its field.
func TestJoinConfigValidation(t *testing.T) {
	e := edgetest.Start(t, edgetest.Options{})
	e.CreateTunnel(t, "t", "a.one.test", "a.two.test")
	raw, err := os.ReadFile(e.ConfigPath)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(e.Dir, "junk.pem"), []byte("not pem"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		edit func(c *edge.Config)
		want string // "" for valid
	}{
		{"defaults", func(*edge.Config) {}, ""},
		{"bad fleet name", func(c *edge.Config) { c.FleetName = "Prod Fleet" }, "fleet_name:"},
		{"bad app name", func(c *edge.Config) { c.Apps[0].Name = "-x" }, "apps[0].name:"},
		{"same explicit names", func(c *edge.Config) { c.Apps[0].Name, c.Apps[1].Name = "x", "x" }, "apps[1].name:"},
		{"same default names, kubernetes both", func(c *edge.Config) {
			c.Apps[0].Kubernetes = &edge.AppKubernetes{Server: "https://10.0.0.1:6443"}
			c.Apps[1].Kubernetes = &edge.AppKubernetes{Server: "https://10.0.0.2:6443"}
		}, "apps[1].name:"},
		{"display name with a newline", func(c *edge.Config) { c.Apps[0].DisplayName = "a\nb" }, "apps[0].display_name:"},
		{"display name too long", func(c *edge.Config) { c.Apps[0].DisplayName = strings.Repeat("x", 201) }, "apps[0].display_name:"},
		{"server not https", func(c *edge.Config) { c.Apps[0].Kubernetes = &edge.AppKubernetes{Server: "http://10.0.0.1:6443"} }, "apps[0].kubernetes.server:"},
		{"server with a query", func(c *edge.Config) { c.Apps[0].Kubernetes = &edge.AppKubernetes{Server: "https://10.0.0.1:6443/?a=b"} }, "apps[0].kubernetes.server:"},
		{"ca without server", func(c *edge.Config) { c.Apps[0].Kubernetes = &edge.AppKubernetes{CAFile: edge.CACertFile} }, "apps[0].kubernetes.server:"},
		{"ca_file and ca_data", func(c *edge.Config) {
			c.Apps[0].Kubernetes = &edge.AppKubernetes{Server: "https://k.test", CAFile: edge.CACertFile, CAData: string(e.CAPEM)}
		}, "apps[0].kubernetes.ca_data:"},
		{"missing ca_file", func(c *edge.Config) {
			c.Apps[0].Kubernetes = &edge.AppKubernetes{Server: "https://k.test", CAFile: "nope.pem"}
		}, "apps[0].kubernetes.ca_file:"},
		{"junk ca_file", func(c *edge.Config) {
			c.Apps[0].Kubernetes = &edge.AppKubernetes{Server: "https://k.test", CAFile: "junk.pem"}
		}, "apps[0].kubernetes.ca_file:"},
		{"junk ca_data", func(c *edge.Config) {
			c.Apps[0].Kubernetes = &edge.AppKubernetes{Server: "https://k.test", CAData: "x"}
		}, "apps[0].kubernetes.ca_data:"},
		{"bad tls_server_name", func(c *edge.Config) {
			c.Apps[0].Kubernetes = &edge.AppKubernetes{Server: "https://k.test", TLSServerName: "a b"}
		}, "apps[0].kubernetes.tls_server_name:"},
		{"all good", func(c *edge.Config) {
			c.FleetName = "prod"
			c.Apps[0].Name, c.Apps[0].DisplayName = "one", "Cluster one"
			c.Apps[0].Kubernetes = &edge.AppKubernetes{Server: "https://10.0.0.1:6443/k8s", CAData: string(e.CAPEM), TLSServerName: "kubernetes"}
			c.Apps[1].Kubernetes = &edge.AppKubernetes{Server: "https://10.0.0.2:6443", CAFile: edge.CACertFile}
		}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg, err := edge.ParseConfig(raw, e.Dir)
			if err != nil {
				t.Fatal(err)
			}
			tc.edit(cfg)
			err = cfg.Validate()
			if tc.want == "" && err != nil || tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)) {
				t.Fatalf("Validate: %v; want %q", err, tc.want)
			}
		})
	}
}
