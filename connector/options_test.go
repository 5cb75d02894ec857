package connector_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/airlockhq/airlock/connector"
	"github.com/airlockhq/airlock/connector/ingress"
	"github.com/airlockhq/airlock/connector/internal/fakeedge"
	"github.com/airlockhq/airlock/internal/credentials"
)

func writeCreds(t *testing.T) string {
	t.Helper()
	fe := fakeedge.Start(t)
	path := filepath.Join(t.TempDir(), "tunnel.json")
	if err := credentials.WriteCredentials(path, fe.Credentials()); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestParseOptions(t *testing.T) {
	const full = `
credentials-file: /etc/airlock/tunnel.json
edges: [edge-1.example.com:7844, "10.0.0.2:7844"]
ha-connections: 3
grace: 45s
origin-dial-timeout: 2s
admin: 127.0.0.1:9000
ingress:
  - hostname: k8s.example.com
    service: tcp://10.0.0.1:6443
  - hostname: "*.apps.example.com"
    service: tcp://apps.internal:8080
  - service: deny
`
	o, err := connector.ParseOptions([]byte(full), "c.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if o.CredentialsFile != "/etc/airlock/tunnel.json" || len(o.Edges) != 2 || o.HAConnections != 3 ||
		o.Grace != 45*time.Second || o.OriginDialTimeout != 2*time.Second || o.Admin != "127.0.0.1:9000" || len(o.Ingress) != 3 {
		t.Fatalf("options %+v", o)
	}
	if o.Ingress[1].Source != "c.yaml ingress[1]" {
		t.Errorf("rule source %q", o.Ingress[1].Source)
	}

	bad := []struct {
		name, yaml, want string
	}{
		{"typo in a key", "ingres:\n  - hostname: a.example.com\n", "field ingres not found"},
		{"typo in a rule", "ingress:\n  - hostname: a.example.com\n    servce: tcp://x:1\n", "field servce not found"},
		{"bad service names the rule", "ingress:\n  - hostname: a.example.com\n    service: tcp://x:1\n  - hostname: b.example.com\n    service: http://x\n", "c.yaml ingress[1]"},
		{"bad edge", "edges: [nope]\n", "edges[0]"},
		{"too many connections", "ha-connections: 100\n", "ha-connections 100"},
		{"bad duration", "grace: soon\n", "soon"},
		{"bad url", "url: http://x:1\n", "url:"},
		{"not a map", "- a\n", "cannot unmarshal"},
	}
	for _, tt := range bad {
		t.Run(tt.name, func(t *testing.T) {
			_, err := connector.ParseOptions([]byte(tt.yaml), "c.yaml")
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want it to mention %q", err, tt.want)
			}
		})
	}
	if o, err := connector.ParseOptions(nil, "empty.yaml"); err != nil || o == nil {
		t.Fatalf("an empty file: %v", err)
	}
}

func TestOptionsOverrideAndResolve(t *testing.T) {
	creds := writeCreds(t)
	file := &connector.Options{
		CredentialsFile: "/nonexistent", HAConnections: 3, Grace: time.Minute, Admin: "127.0.0.1:9000",
		Ingress: []ingress.Rule{{Hostname: "b.example.com", Service: "tcp://127.0.0.1:2", Source: "file"}},
	}
	flagRule, _ := ingress.ParseFlag("a.example.com=tcp://127.0.0.1:1", "--ingress #1")
	flags := connector.Options{CredentialsFile: creds, HAConnections: 2, Grace: 0, URL: "tcp://127.0.0.1:3", Ingress: []ingress.Rule{flagRule}}
	set := map[string]bool{"credentials": true, "grace": true, "url": true}
	o := file.Override(flags, func(n string) bool { return set[n] })
	if o.CredentialsFile != creds || o.HAConnections != 3 || o.Grace >= 0 || o.Admin != "127.0.0.1:9000" {
		t.Fatalf("override %+v", o)
	}
	cfg, err := o.Resolve()
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, r := range cfg.Rules.All() {
		got = append(got, r.String())
	}
	want := "a.example.com=tcp://127.0.0.1:1 b.example.com=tcp://127.0.0.1:2 *=tcp://127.0.0.1:3"
	if strings.Join(got, " ") != want {
		t.Fatalf("rules %v, want %s", got, want)
	}
	if cfg.AdminAddr != "127.0.0.1:9000" || cfg.Credentials == nil || cfg.HAConnections != 3 {
		t.Fatalf("config %+v", cfg)
	}

	tests := []struct {
		name string
		o    connector.Options
		want string
	}{
		{"no credentials", connector.Options{URL: "tcp://x:1"}, "no credentials file"},
		{"missing credentials", connector.Options{CredentialsFile: "/nonexistent", URL: "tcp://x:1"}, "/nonexistent"},
		{"no rules", connector.Options{CredentialsFile: creds}, "no ingress rule allows"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := tt.o.Resolve(); err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want %q", err, tt.want)
			}
		})
	}
	t.Run("admin defaults and off", func(t *testing.T) {
		for admin, want := range map[string]string{"": connector.DefaultAdminAddr, "off": "", "127.0.0.1:0": "127.0.0.1:0"} {
			cfg, err := connector.Options{CredentialsFile: creds, URL: "tcp://x:1", Admin: admin}.Resolve()
			if err != nil || cfg.AdminAddr != want {
				t.Errorf("admin %q: %q, %v; want %q", admin, cfg.AdminAddr, err, want)
			}
		}
	})
}

func TestLoadOptions(t *testing.T) {
	path := filepath.Join(t.TempDir(), "c.yaml")
	if err := os.WriteFile(path, []byte("url: tcp://127.0.0.1:6443\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	o, err := connector.LoadOptions(path)
	if err != nil || o.URL != "tcp://127.0.0.1:6443" {
		t.Fatalf("%+v, %v", o, err)
	}
	if _, err := connector.LoadOptions(path + ".missing"); err == nil {
		t.Fatal("a missing file loaded")
	}
}

func TestConfigChecks(t *testing.T) {
	fe := fakeedge.Start(t)
	rs := rules(t, "a.example.com=tcp://127.0.0.1:1")
	tests := []struct {
		name string
		cfg  connector.Config
		want string
	}{
		{"no credentials", connector.Config{Rules: rs}, "no credentials"},
		{"no rules", connector.Config{Credentials: fe.Credentials()}, "no ingress rules"},
		{"bad edge", connector.Config{Credentials: fe.Credentials(), Rules: rs, Edges: []string{"x"}}, "edge 1"},
		{"duplicate edge", connector.Config{Credentials: fe.Credentials(), Rules: rs, Edges: []string{"a:1", "a:1"}}, "listed twice"},
		{"too many connections", connector.Config{Credentials: fe.Credentials(), Rules: rs, HAConnections: 17}, "HA connections"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := connector.New(tt.cfg); err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want %q", err, tt.want)
			}
		})
	}
}
