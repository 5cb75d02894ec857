package config_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/airlockhq/airlock/daemon/config"
)

func testPEM(t testing.TB) string {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "ca"}, NotAfter: time.Now().Add(time.Hour), IsCA: true, BasicConstraintsValid: true}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}))
}

func joinedEdge() config.Edge {
	return config.Edge{Name: "example", Addresses: []string{"edge.example.com:7844"}, ServerName: "edge.example.com",
		AuthURL: "https://edge.example.com:7843", Catalogue: true}
}

func TestAddRemoveEdge(t *testing.T) {
	for _, tc := range []struct {
		name, before string
	}{
		{"with comments and a cluster", `# my airlock
edges:
  - name: main   # the office
    address: edge.corp.example:7844
    # a comment inside

# clusters below
clusters:
  - name: prod
    app: k8s.prod.example.com
`},
		{"no edges key", "browser: firefox\n"},
		{"no trailing newline", "edges:\n- name: main\n  address: a.example:7844\nclusters:\n- name: p\n  app: p.example.com"},
		{"edges last with trailing comment", "clusters:\n  - name: p\n    app: p.example.com\n    edge: main\nedges:\n  - name: main\n    address: a.example:7844\n# the end\n"},
		{"null edges", "edges:\nbrowser: firefox\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "config.yaml")
			if err := os.WriteFile(path, []byte(tc.before), 0o640); err != nil {
				t.Fatal(err)
			}
			if err := config.AddEdge(path, joinedEdge()); err != nil {
				t.Fatalf("AddEdge: %v", err)
			}
			mid, _ := os.ReadFile(path)
			if !strings.Contains(string(mid), "catalogue: true") {
				t.Fatalf("no edge written:\n%s", mid)
			}
			if err := config.AddEdge(path, joinedEdge()); !errors.Is(err, config.ErrEdgeExists) {
				t.Fatalf("second AddEdge: %v, want ErrEdgeExists", err)
			}
			if err := config.RemoveEdge(path, "example"); err != nil {
				t.Fatalf("RemoveEdge: %v", err)
			}
			after, _ := os.ReadFile(path)
			if string(after) != tc.before {
				t.Fatalf("not given back byte for byte:\nbefore:\n%q\nmiddle:\n%s\nafter:\n%q", tc.before, mid, after)
			}
			if st, _ := os.Stat(path); st.Mode().Perm() != 0o640 {
				t.Errorf("mode %v, want 0640", st.Mode().Perm())
			}
		})
	}
}

func TestAddEdgeCreatesFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "airlock", "config.yaml")
	e := joinedEdge()
	e.CA = testPEM(t)
	if err := config.AddEdge(path, e); err != nil {
		t.Fatalf("AddEdge: %v", err)
	}
	data, _ := os.ReadFile(path)
	if _, err := config.Parse(data, path); err != nil {
		t.Fatalf("written file does not load: %v\n%s", err, data)
	}
	if err := config.RemoveEdge(path, "example"); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(path); !os.IsNotExist(err) {
		t.Fatalf("file join created is still there: %v", err)
	}
}

func TestAddEdgeRefusesFlowStyle(t *testing.T) {
	path := filepath.Join(t.TempDir(), "config.yaml")
	before := `{"edges": [{"name": "main", "address": "a.example:7844"}], "clusters": [{"name": "p", "app": "p.example.com"}]}`
	os.WriteFile(path, []byte(before), 0o600)
	err := config.AddEdge(path, joinedEdge())
	if !errors.Is(err, config.ErrNotEditable) {
		t.Fatalf("AddEdge: %v, want ErrNotEditable", err)
	}
	if got, _ := os.ReadFile(path); string(got) != before {
		t.Fatal("file changed")
	}
}

func TestCatalogueEdgeNeedsNoClusters(t *testing.T) {
	cfg, err := config.Parse([]byte("edges:\n  - name: example\n    address: edge.example.com:7844\n    catalogue: true\n    kubeconfig_prefix: ex-\n"), "")
	if err != nil {
		t.Fatal(err)
	}
	if e := cfg.Edge("example"); !e.Catalogue || e.Prefix() != "ex-" {
		t.Fatalf("edge %+v", e)
	}
	if got := cfg.SignInEdges(); len(got) != 1 {
		t.Fatalf("SignInEdges %v", got)
	}
	if err := config.NotJoined("/x/config.yaml").Validate(); err != nil {
		t.Fatalf("NotJoined: %v", err)
	}
}
