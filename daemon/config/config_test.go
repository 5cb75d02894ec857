package config

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
	"strconv"
	"strings"
	"testing"
	"time"
)

// selfSignedPEM returns a throw-away CA certificate in PEM.
func selfSignedPEM(t testing.TB) string {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}))
}

func writeFile(t testing.TB, dir, name, data string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(data), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestParseGood(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, dir, "prod.token", "tok-prod\n")
	path := writeFile(t, dir, "config.yaml", `
edges:
  - name: main
    address: edge.example.com:7844
    server_name: edge.example.com
clusters:
  - name: prod
    app: k8s.prod.example.com
    token_file: prod.token
    kubeconfig:
      clusters: [prod-eks, prod-admin]
      servers: ["https://10.0.0.1:6443"]
  - name: stage
    app: k8s.stage.example.com
    token: tok-stage
    autoconnect: false
  - name: fixed
    app: k8s.fixed.example.com
    token: tok
    listen: 127.0.0.2:1080
  - name: dev
    app: k8s.dev.example.com
    token: tok
`)
	cfg, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	want := []struct {
		name, listen, fallback, edge string
		auto                         bool
	}{
		{"prod", "127.0.0.3:1080", "127.0.0.1:1080", "main", true},
		{"stage", "127.0.0.4:1080", "127.0.0.1:1081", "main", false},
		{"fixed", "127.0.0.2:1080", "", "main", true},
		{"dev", "127.0.0.5:1080", "127.0.0.1:1082", "main", true},
	}
	for i, w := range want {
		c := cfg.Clusters[i]
		if c.Name != w.name || c.Listen != w.listen || c.ListenFallback != w.fallback || c.Edge != w.edge || c.AutoconnectEnabled() != w.auto {
			t.Errorf("cluster %d = %+v, want %+v", i, c, w)
		}
	}
	if got := cfg.Clusters[0].TokenFile; got != filepath.Join(dir, "prod.token") {
		t.Errorf("token_file = %q, want it resolved against the config's folder", got)
	}
	if got := cfg.Clusters[0].Kubeconfig.Clusters; strings.Join(got, ",") != "prod-eks,prod-admin" {
		t.Errorf("kubeconfig.clusters = %v", got)
	}
	if err := cfg.Validate(); err != nil {
		t.Errorf("second Validate: %v", err)
	}
	if cfg.Clusters[0].Listen != "127.0.0.3:1080" {
		t.Errorf("second Validate moved a listen address: %s", cfg.Clusters[0].Listen)
	}
}

func TestParseErrors(t *testing.T) {
	dir := t.TempDir()
	notPEM := writeFile(t, dir, "bad-ca.pem", "not a certificate")
	const head = "edges:\n  - name: main\n    address: 127.0.0.1:7844\nclusters:\n"
	tests := []struct {
		name  string
		yaml  string
		line  int
		field string
		msg   string
	}{
		{"bad yaml", "edges: [\n", 1, "", "invalid YAML"},
		{"unknown transport", "edges:\n  - name: main\n    address: 127.0.0.1:7844\n    transport: udp\nclusters:\n  - name: prod\n    app: a.example.com\n    token: t\n", 4, "edges[0].transport", "not auto, quic or tcp"},
		{"quic_retry too short", "edges:\n  - name: main\n    address: 127.0.0.1:7844\n    quic_retry: 10ms\nclusters:\n  - name: prod\n    app: a.example.com\n    token: t\n", 4, "edges[0].quic_retry", "at least 1s"},
		{"quic_retry not a duration", "edges:\n  - name: main\n    address: 127.0.0.1:7844\n    quic_retry: soon\nclusters:\n  - name: prod\n    app: a.example.com\n    token: t\n", 4, "edges[0].quic_retry", "not a duration"},
		{"tab indentation", "edges:\n\t- name: x\n", 2, "", "invalid YAML"},
		{"empty file", "", 0, "", "empty"},
		{"root is a list", "- a\n- b\n", 1, "", "must be a mapping"},
		{"unknown top field", "edgez: []\n", 1, "edgez", "unknown field"},
		{"no clusters", "edges:\n  - name: main\n    address: 127.0.0.1:7844\n", 0, "clusters", "no clusters"},
		{"no edges", "clusters:\n  - name: a\n    app: a.example.com\n    token: t\n", 0, "edges", "no edges"},
		{"missing app", head + "  - name: prod\n    token: t\n", 5, "clusters[0].app", "is required"},
		{"missing name", head + "  - app: a.example.com\n    token: t\n", 5, "clusters[0].name", "is required"},
		{"both tokens", head + "  - name: prod\n    app: a.example.com\n    token: t\n    token_file: f\n", 8, "clusters[0].token_file", "not both"},
		{"missing token file", head + "  - name: prod\n    app: a.example.com\n    token_file: /nonexistent/tok\n", 7, "clusters[0].token_file", "cannot read"},
		{"non-loopback listen", head + "  - name: prod\n    app: a.example.com\n    token: t\n    listen: 10.1.2.3:1080\n", 8, "clusters[0].listen", "not a loopback address"},
		{"wildcard listen", head + "  - name: prod\n    app: a.example.com\n    token: t\n    listen: 0.0.0.0:1080\n", 8, "clusters[0].listen", "not a loopback address"},
		{"empty host listen", head + "  - name: prod\n    app: a.example.com\n    token: t\n    listen: :1080\n", 8, "clusters[0].listen", "loopback IP address"},
		{"name listen", head + "  - name: prod\n    app: a.example.com\n    token: t\n    listen: localhost:1080\n", 8, "clusters[0].listen", "not a name"},
		{"ipv6 wildcard listen", head + "  - name: prod\n    app: a.example.com\n    token: t\n    listen: '[::]:1080'\n", 8, "clusters[0].listen", "not a loopback address"},
		{"listen without port", head + "  - name: prod\n    app: a.example.com\n    token: t\n    listen: 127.0.0.2\n", 8, "clusters[0].listen", "not ip:port"},
		{"duplicate listen", head + "  - name: a\n    app: a.example.com\n    token: t\n    listen: 127.0.0.2:1080\n  - name: b\n    app: b.example.com\n    token: t\n    listen: 127.0.0.2:1080\n", 12, "clusters[1].listen", "also the listen address"},
		{"bad app", head + "  - name: prod\n    app: 'a b'\n    token: t\n", 6, "clusters[0].app", "bad character"},
		{"bad name", head + "  - name: 'a/b'\n    app: a.example.com\n    token: t\n", 5, "clusters[0].name", "must be 1-63"},
		{"duplicate cluster", head + "  - name: a\n    app: a.example.com\n    token: t\n  - name: a\n    app: b.example.com\n    token: t\n", 8, "clusters[1].name", "defined twice"},
		{"duplicate key", head + "  - name: a\n    name: b\n    app: a.example.com\n    token: t\n", 6, "clusters[0].name", "set twice"},
		{"unknown cluster field", head + "  - name: a\n    app: a.example.com\n    token: t\n    proxy: x\n", 8, "clusters[0].proxy", "unknown field"},
		{"unknown edge", head + "  - name: a\n    app: a.example.com\n    token: t\n    edge: other\n", 8, "clusters[0].edge", "no edge is named"},
		{"edge needed", "edges:\n  - name: one\n    address: 127.0.0.1:1\n  - name: two\n    address: 127.0.0.1:2\nclusters:\n  - name: a\n    app: a.example.com\n    token: t\n", 7, "clusters[0].edge", "is required when there are 2 edges"},
		{"edge address without port", "edges:\n  - name: main\n    address: edge.example.com\nclusters:\n  - name: a\n    app: a.example.com\n    token: t\n", 3, "edges[0].address", "must be host:port"},
		{"edge without address", "edges:\n  - name: main\nclusters:\n  - name: a\n    app: a.example.com\n    token: t\n", 2, "edges[0].address", "is required"},
		{"ca not pem", "edges:\n  - name: main\n    address: 127.0.0.1:7844\n    ca: " + notPEM + "\nclusters:\n  - name: a\n    app: a.example.com\n    token: t\n", 4, "edges[0].ca", "no PEM certificate"},
		{"ca missing", "edges:\n  - name: main\n    address: 127.0.0.1:7844\n    ca: /nonexistent.pem\nclusters:\n  - name: a\n    app: a.example.com\n    token: t\n", 4, "edges[0].ca", "cannot read"},
		{"autoconnect not bool", head + "  - name: a\n    app: a.example.com\n    token: t\n    autoconnect: maybe\n", 8, "clusters[0].autoconnect", "true or false"},
		{"app is a list", head + "  - name: a\n    app: [x]\n    token: t\n", 6, "clusters[0].app", "must be a string"},
		{"clusters not a list", head[:len(head)-len("clusters:\n")] + "clusters: x\n", 4, "clusters", "must be a list"},
		{"kubeconfig server not url", head + "  - name: a\n    app: a.example.com\n    token: t\n    kubeconfig:\n      servers: [foo]\n", 9, "clusters[0].kubeconfig.servers[0]", "not an http(s) URL"},
		{"kubeconfig unknown", head + "  - name: a\n    app: a.example.com\n    token: t\n    kubeconfig:\n      contexts: [foo]\n", 9, "clusters[0].kubeconfig.contexts", "unknown field"},
		{"kubeconfig cluster mapped twice", head + "  - name: a\n    app: a.example.com\n    token: t\n    kubeconfig:\n      clusters: [x]\n  - name: b\n    app: b.example.com\n    token: t\n    kubeconfig:\n      clusters: [y, x]\n", 14, "clusters[1].kubeconfig.clusters[1]", "also mapped by clusters[0]"},
		{"kubeconfig server mapped twice", head + "  - name: a\n    app: a.example.com\n    token: t\n    kubeconfig:\n      servers: [https://x:6443]\n  - name: b\n    app: b.example.com\n    token: t\n    kubeconfig:\n      servers: [https://x:6443]\n", 14, "clusters[1].kubeconfig.servers[0]", "also mapped by clusters[0]"},
		{"privileged port", head + "  - name: a\n    app: a.example.com\n    token: t\n    listen: 127.0.0.2:80\n", 8, "clusters[0].listen", "privileged"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse([]byte(tt.yaml), "/etc/airlock/config.yaml")
			if err == nil {
				t.Fatal("Parse succeeded; want an error")
			}
			var ce *Error
			if !errors.As(err, &ce) {
				t.Fatalf("error %T %v is not a *config.Error", err, err)
			}
			p := ce.Problems[0]
			if p.Line != tt.line || p.Field != tt.field || !strings.Contains(p.Msg, tt.msg) {
				t.Fatalf("first problem = line %d field %q msg %q; want line %d field %q containing %q\n(all: %v)", p.Line, p.Field, p.Msg, tt.line, tt.field, tt.msg, err)
			}
			want := "/etc/airlock/config.yaml"
			if tt.line > 0 {
				want += ":" + strconv.Itoa(tt.line)
			}
			if !strings.Contains(err.Error(), want) {
				t.Errorf("message %q does not name %s", err, want)
			}
		})
	}
}

func TestValidateInCode(t *testing.T) {
	f := false
	cfg := &Config{
		Edges:    []Edge{{Name: "e", Address: "127.0.0.1:7844", CA: selfSignedPEM(t)}},
		Clusters: []Cluster{{Name: "a", App: "a.example.com", Token: "t", Autoconnect: &f}, {Name: "b", App: "b.example.com", Token: "t", Listen: "127.0.0.1:0"}},
	}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	if cfg.Edges[0].RootCAs == nil {
		t.Error("inline CA not parsed")
	}
	if cfg.Clusters[0].Listen != "127.0.0.2:1080" || cfg.Clusters[0].Edge != "e" || cfg.Clusters[0].AutoconnectEnabled() {
		t.Errorf("defaults not applied: %+v", cfg.Clusters[0])
	}
	cfg.Clusters[1].Listen = "192.168.1.1:1080"
	err := cfg.Validate()
	if err == nil || !strings.Contains(err.Error(), "clusters[1].listen: 192.168.1.1 is not a loopback address") {
		t.Fatalf("err = %v", err)
	}
}

func TestDefaultPath(t *testing.T) {
	env := func(m map[string]string) func(string) string { return func(k string) string { return m[k] } }
	for _, tt := range []struct {
		name string
		env  map[string]string
		want string
	}{
		{"xdg", map[string]string{"XDG_CONFIG_HOME": "/x", "HOME": "/h"}, "/x/airlock/config.yaml"},
		{"home", map[string]string{"HOME": "/h"}, "/h/.config/airlock/config.yaml"},
		{"relative xdg ignored", map[string]string{"XDG_CONFIG_HOME": "rel", "HOME": "/h"}, "/h/.config/airlock/config.yaml"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got, err := DefaultPath(env(tt.env))
			if err != nil || got != tt.want {
				t.Errorf("DefaultPath = %q, %v; want %q", got, err, tt.want)
			}
		})
	}
	if _, err := DefaultPath(env(nil)); err == nil {
		t.Error("DefaultPath without HOME succeeded")
	}
}

func FuzzParse(f *testing.F) {
	f.Add([]byte("edges:\n  - name: main\n    address: 127.0.0.1:7844\nclusters:\n  - name: a\n    app: a.example.com\n    token: t\n"))
	f.Add([]byte("edges: &e [x]\nclusters: *e\n"))
	f.Add([]byte("{"))
	f.Add([]byte("clusters:\n  - kubeconfig: {clusters: [a], servers: [https://x]}\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		cfg, err := Parse(data, "")
		if err == nil {
			for _, c := range cfg.Clusters {
				if CheckListen(c.Listen) != nil {
					t.Fatalf("accepted a non-loopback listen address %q", c.Listen)
				}
			}
		}
	})
}
