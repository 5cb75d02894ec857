package edge

import (
	"os"
	"strings"
	"testing"
	"time"
)

const validConfig = `
listen: 127.0.0.1:7844
tls: {cert_file: edge.crt, key_file: edge.key, ca_file: ca.crt}
tokens:
  issuer: airlock-edge
  signing_keys: [{id: k1, file: k1.pem}]
apps:
  - hostname: k8s.demo.test
    policy: {allow: {email_domains: [example.com]}}
  - hostname: web.demo.test
    tunnel: demo
    policy: {allow: {emails: [bob@example.com]}, deny: {groups: [gone]}}
tunnels:
  - name: demo
    id: 3f1c
    secret_hash: 0000000000000000000000000000000000000000000000000000000000000000
    hostnames: [k8s.demo.test, web.demo.test]
`

func TestParseConfigValid(t *testing.T) {
	cfg, err := ParseConfig([]byte(validConfig), "/state")
	if err != nil {
		t.Fatal(err)
	}
	if cfg.AdminListen != DefaultAdminListen || cfg.PublicAddrs[0] != "127.0.0.1:7844" || cfg.TLS.ServerName != "localhost" ||
		time.Duration(cfg.Tokens.ServiceTTL) != DefaultServiceTTL || cfg.Path("k1.pem") != "/state/k1.pem" || cfg.Path("/abs") != "/abs" {
		t.Fatalf("defaults: %+v", cfg)
	}
	snap := compile(cfg)
	if r := snap.lookup("K8S.demo.test"); r == nil || r.tunnel.name != "demo" {
		t.Fatalf("route %+v", r)
	}
}

func TestParseConfigInvalid(t *testing.T) {
	cases := []struct {
		name, from, to string // replace from with to in validConfig
		want           string
	}{
		{"empty", validConfig, "", "empty"},
		{"not yaml", validConfig, "listen: [", "yaml"},
		{"unknown field", "listen:", "lisen:", "field lisen not found"},
		{"bad listen", "127.0.0.1:7844", "nowhere", `listen: "nowhere" is not host:port`},
		{"bad duration", "tls:", "shutdown_grace: soon\ntls:", `"soon" is not a duration`},
		{"no cert", "cert_file: edge.crt, ", "", "tls.cert_file: is required"},
		{"no issuer", "issuer: airlock-edge", "issuer: ''", "tokens.issuer: is required"},
		{"no keys", "[{id: k1, file: k1.pem}]", "[]", "tokens.signing_keys: at least one"},
		{"dup key", "[{id: k1, file: k1.pem}]", "[{id: k1, file: k1.pem}, {id: k1, file: k2.pem}]", `tokens.signing_keys[1].id: "k1" appears twice`},
		{"bad app hostname", "- hostname: k8s.demo.test", "- hostname: 'k8s demo'", "apps[0].hostname"},
		{"bad email", "[bob@example.com]", "[bob]", `apps[1].policy.allow.emails[0]: "bob" is not an email address`},
		{"bad domain", "[example.com]", "['exa mple.com']", "apps[0].policy.allow.email_domains[0]"},
		{"unknown tunnel", "tunnel: demo", "tunnel: prod", `apps[1].tunnel: no tunnel is named "prod"`},
		{"app without tunnel", "hostnames: [k8s.demo.test, web.demo.test]", "hostnames: [web.demo.test]", `apps[0].hostname: no tunnel serves "k8s.demo.test"`},
		{"tunnel host without app", "[k8s.demo.test, web.demo.test]", "[k8s.demo.test, web.demo.test, db.demo.test]", `"db.demo.test" has no entry under apps`},
		{"bad secret hash", "secret_hash: 00000000", "secret_hash: zz000000", "tunnels[0].secret_hash: is not hex"},
		{"short secret hash", "0000000000000000000000000000000000000000000000000000000000000000", "abc", "must be 64 hex digits"},
		{"bad tunnel name", "name: demo", "name: Demo!", "tunnels[0].name"},
		{"no tunnel id", "id: 3f1c", "id: ''", "tunnels[0].id: is required"},
		{"service ttl over max", "tokens:\n", "tokens:\n  service_ttl: 100h\n  max_service_ttl: 10h\n", "tokens.service_ttl: 100h0m0s exceeds"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			in := strings.Replace(validConfig, tc.from, tc.to, 1)
			if in == validConfig && tc.name != "empty" {
				t.Fatalf("the replacement %q matched nothing", tc.from)
			}
			_, err := ParseConfig([]byte(in), "/state")
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, want an error naming %q", err, tc.want)
			}
		})
	}
}

func TestAllErrorsReported(t *testing.T) {
	in := strings.NewReplacer("issuer: airlock-edge", "issuer: ''", "[bob@example.com]", "[bob]").Replace(validConfig)
	_, err := ParseConfig([]byte(in), "/state")
	if err == nil || !strings.Contains(err.Error(), "tokens.issuer") || !strings.Contains(err.Error(), "emails[0]") {
		t.Fatalf("want both errors, got %v", err)
	}
}

func TestLoadConfigNamesFile(t *testing.T) {
	_, err := LoadConfig("/nonexistent/config.yaml")
	if err == nil || !os.IsNotExist(unwrapAll(err)) {
		t.Fatalf("got %v", err)
	}
}

func unwrapAll(err error) error {
	for {
		u, ok := err.(interface{ Unwrap() error })
		if !ok {
			return err
		}
		err = u.Unwrap()
	}
}

func FuzzParseConfig(f *testing.F) {
	f.Add([]byte(validConfig))
	f.Add([]byte("apps: []\ntunnels: []\n"))
	f.Add([]byte("listen: [\n"))
	f.Add([]byte("tokens: {leeway: 1x}"))
	f.Fuzz(func(t *testing.T, b []byte) {
		cfg, err := ParseConfig(b, "/state")
		if err != nil {
			return
		}
		// A config that validates compiles into routes for every app.
		snap := compile(cfg)
		for _, a := range cfg.Apps {
			if r := snap.lookup(a.Hostname); r == nil || r.tunnel == nil {
				t.Fatalf("app %q has no route", a.Hostname)
			}
		}
	})
}
