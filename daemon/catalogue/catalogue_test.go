package catalogue_test

import (
	"context"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/airlockhq/airlock/daemon/catalogue"
	"github.com/airlockhq/airlock/daemon/config"
	"github.com/airlockhq/airlock/internal/joinlink"
)

func TestParseInvite(t *testing.T) {
	pin := "sha256:" + strings.Repeat("ab", 32)
	for _, tc := range []struct {
		name, in, ca string
		url          string
		pinned       bool
		err          bool
	}{
		{name: "host", in: "edge.example.com", url: "https://edge.example.com:7843"},
		{name: "host and port", in: "edge.example.com:9443", url: "https://edge.example.com:9443"},
		{name: "https url", in: "https://edge.example.com:7843/", url: "https://edge.example.com:7843"},
		{name: "https url without port", in: "https://edge.example.com", url: "https://edge.example.com"},
		{name: "flag pin", in: "https://edge.example.com:7843", ca: pin, url: "https://edge.example.com:7843", pinned: true},
		{name: "link", in: "airlock://join?edge=https%3A%2F%2Fedge.example.com%3A7843&ca=" + pin, url: "https://edge.example.com:7843", pinned: true},
		{name: "link without ca", in: "airlock://join?edge=https://edge.example.com:7843", url: "https://edge.example.com:7843"},
		{name: "link and same flag", in: "airlock://join?edge=https://edge.example.com:7843&ca=" + pin, ca: pin, url: "https://edge.example.com:7843", pinned: true},
		{name: "link and other flag", in: "airlock://join?edge=edge.example.com&ca=" + pin, ca: "sha256:" + strings.Repeat("cd", 32), err: true},
		{name: "http", in: "http://edge.example.com", err: true},
		{name: "path", in: "https://edge.example.com/x", err: true},
		{name: "user", in: "https://u:p@edge.example.com", err: true},
		{name: "short pin", in: "edge.example.com", ca: "sha256:abcd", err: true},
		{name: "pin without sha256", in: "edge.example.com", ca: strings.Repeat("ab", 32), err: true},
		{name: "other link", in: "airlock://leave?edge=x", err: true},
		{name: "link without edge", in: "airlock://join?ca=" + pin, err: true},
		{name: "empty", in: " ", err: true},
		{name: "huge", in: strings.Repeat("a", 5000), err: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			inv, err := catalogue.ParseInvite(tc.in, tc.ca)
			if tc.err {
				if !errors.Is(err, catalogue.ErrBadInvite) {
					t.Fatalf("ParseInvite = %+v, %v; want ErrBadInvite", inv, err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if inv.Edge != tc.url || (inv.CA != "") != tc.pinned {
				t.Fatalf("ParseInvite = %+v", inv)
			}
		})
	}
}

// edge serves the metadata, the CA and a catalogue over real TLS.
func edge(t testing.TB, cat string) (*httptest.Server, string) {
	t.Helper()
	mux := http.NewServeMux()
	srv := httptest.NewUnstartedServer(mux)
	srv.StartTLS()
	t.Cleanup(srv.Close)
	ca := srv.Certificate() // httptest's self-signed certificate is its own CA
	mux.HandleFunc(catalogue.CAPath, func(w http.ResponseWriter, r *http.Request) {
		pem.Encode(w, &pem.Block{Type: "CERTIFICATE", Bytes: ca.Raw})
	})
	mux.HandleFunc(catalogue.MetadataPath, func(w http.ResponseWriter, r *http.Request) {
		json.NewEncoder(w).Encode(catalogue.Metadata{Version: 1, Fleet: "example", ServerName: "edge.example.com",
			Addresses: []string{"127.0.0.1:7844"}, AuthURL: srv.URL, CatalogueEndpoint: srv.URL + catalogue.CataloguePath})
	})
	mux.HandleFunc(catalogue.CataloguePath, func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer good" {
			w.WriteHeader(http.StatusUnauthorized)
			w.Write([]byte(`{"error":"invalid_token","error_description":"bad"}`))
			return
		}
		w.Write([]byte(cat))
	})
	return srv, joinlink.Fingerprint(ca)
}

func TestDiscover(t *testing.T) {
	srv, pin := edge(t, "")
	ctx := context.Background()
	t.Run("pinned", func(t *testing.T) {
		inv, err := catalogue.ParseInvite(srv.URL, pin)
		if err != nil {
			t.Fatal(err)
		}
		e, err := catalogue.Discover(ctx, inv)
		if err != nil {
			t.Fatal(err)
		}
		if e.Fleet != "example" || e.CAPEM == "" || e.AuthURL != srv.URL {
			t.Fatalf("Discover = %+v", e)
		}
		ce := e.ConfigEdge()
		if !ce.Catalogue || ce.Name != "example" {
			t.Fatalf("ConfigEdge = %+v", ce)
		}
	})
	t.Run("wrong pin", func(t *testing.T) {
		inv, _ := catalogue.ParseInvite(srv.URL, "sha256:"+strings.Repeat("00", 32))
		_, err := catalogue.Discover(ctx, inv)
		if !errors.Is(err, catalogue.ErrUntrusted) || !strings.Contains(err.Error(), pin) {
			t.Fatalf("Discover = %v, want ErrUntrusted naming the edge's CA", err)
		}
	})
	t.Run("system roots", func(t *testing.T) {
		inv, _ := catalogue.ParseInvite(srv.URL, "")
		_, err := catalogue.Discover(ctx, inv)
		if !errors.Is(err, catalogue.ErrUntrusted) || !strings.Contains(err.Error(), "invitation link") {
			t.Fatalf("Discover = %v, want ErrUntrusted telling to use the invitation link", err)
		}
	})
}

func TestFetch(t *testing.T) {
	good := `{"version":1,"fleet":"example","apps":[{"hostname":"k8s.prod.example.com","name":"prod","display_name":"Production",
	 "kubernetes":{"server":"https://10.0.0.1:6443","oidc":{"audience":"kubernetes:prod"}}},{"hostname":"web.example.com","name":"web"}]}`
	srv, _ := edge(t, good)
	pool := x509.NewCertPool()
	pool.AddCert(srv.Certificate())
	hc := catalogue.Client(pool)
	ctx := context.Background()
	c, err := catalogue.Fetch(ctx, hc, srv.URL+catalogue.CataloguePath, "good")
	if err != nil {
		t.Fatal(err)
	}
	if len(c.Apps) != 2 || c.Apps[0].Kubernetes.OIDC.Audience != "kubernetes:prod" {
		t.Fatalf("Fetch = %+v", c)
	}
	if _, err := catalogue.Fetch(ctx, hc, srv.URL+catalogue.CataloguePath, "bad"); !errors.Is(err, catalogue.ErrUnauthorized) {
		t.Fatalf("Fetch with a bad token = %v, want ErrUnauthorized", err)
	}
}

func TestCheck(t *testing.T) {
	for _, tc := range []struct{ name, doc, want string }{
		{"version", `{"version":2,"apps":[]}`, "version 2"},
		{"bad name", `{"version":1,"apps":[{"hostname":"a.example.com","name":"A_B"}]}`, "DNS label"},
		{"twice", `{"version":1,"apps":[{"hostname":"a.example.com","name":"a"},{"hostname":"a.example.com","name":"b"}]}`, "twice"},
		{"http server", `{"version":1,"apps":[{"hostname":"a.example.com","name":"a","kubernetes":{"server":"http://x"}}]}`, "https"},
		{"ca data", `{"version":1,"apps":[{"hostname":"a.example.com","name":"a","kubernetes":{"server":"https://x","ca_data":"!!"}}]}`, "base64"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var c catalogue.Catalogue
			if err := json.Unmarshal([]byte(tc.doc), &c); err != nil {
				t.Fatal(err)
			}
			if err := catalogue.Check(&c); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Check = %v, want %q", err, tc.want)
			}
		})
	}
}

func TestStore(t *testing.T) {
	s := catalogue.Store{Dir: t.TempDir()}
	c, err := s.Load("example")
	if err != nil || len(c.Apps) != 0 {
		t.Fatalf("Load of nothing = %+v, %v", c, err)
	}
	c.Apps = []catalogue.App{{Hostname: "a.example.com", Name: "a"}}
	c.Kube.Created = true
	if err := s.Save(c); err != nil {
		t.Fatal(err)
	}
	back, err := s.Load("example")
	if err != nil || len(back.Apps) != 1 || !back.Kube.Created {
		t.Fatalf("Load = %+v, %v", back, err)
	}
	if err := s.Remove("example"); err != nil {
		t.Fatal(err)
	}
}

func FuzzParseInviteFlag(f *testing.F) {
	f.Add("airlock://join?edge=https%3A%2F%2Fedge.example.com%3A7843&ca=sha256:"+strings.Repeat("ab", 32), "")
	f.Add("edge.example.com", "sha256:00")
	f.Fuzz(func(t *testing.T, s, ca string) {
		inv, err := catalogue.ParseInvite(s, ca)
		if err == nil && !strings.HasPrefix(inv.Edge, "https://") {
			t.Fatalf("accepted %q as %q", s, inv.Edge)
		}
	})
}

func FuzzCatalogue(f *testing.F) {
	f.Add([]byte(`{"version":1,"apps":[{"hostname":"a.example.com","name":"a","kubernetes":{"server":"https://x","ca_data":"LS0t"}}]}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		var c catalogue.Catalogue
		if json.Unmarshal(data, &c) != nil {
			return
		}
		_ = catalogue.Check(&c)
	})
}

// TestClustersCatalogueBound: the catalogue's most apps make a
// configuration that validates (listen addresses do not run out).
func TestClustersCatalogueBound(t *testing.T) {
	cfg := &config.Config{Edges: []config.Edge{{Name: "acme", Address: "edge.example.com:7844", Catalogue: true}}}
	c := &catalogue.Cached{Edge: "acme"}
	for i := range joinlink.MaxCatalogueApps {
		c.Apps = append(c.Apps, catalogue.App{Hostname: fmt.Sprintf("app%d.example.com", i), Name: fmt.Sprintf("app%d", i)})
	}
	cfg.Clusters = catalogue.Clusters(&cfg.Edges[0], c, nil)
	if err := cfg.Validate(); err != nil {
		t.Fatalf("Validate: %v", err)
	}
	if len(cfg.Clusters) != joinlink.MaxCatalogueApps || cfg.Clusters[0].Name != "acme-app0" {
		t.Fatalf("%d clusters, first %q", len(cfg.Clusters), cfg.Clusters[0].Name)
	}
}
