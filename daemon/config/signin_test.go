package config

import (
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestSignInConfig(t *testing.T) {
	const yaml = `browser: firefox --new-window
sign_in:
  wait: 90s
  browser_interval: 0s
edges:
  - name: main
    address: edge.example.com:7844
  - name: other
    address: 10.0.0.1:7844
    server_name: other.example.com
    auth_url: https://login.example.com:8443/
clusters:
  - name: a
    app: a.example.com
    edge: main
  - name: b
    app: b.example.com
    edge: main
    token: svc
  - name: c
    app: c.example.com
    edge: main
  - name: d
    app: c.example.com
    edge: main
    listen: 127.0.0.9:1080
`
	cfg, err := Parse([]byte(yaml), "")
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Browser != "firefox --new-window" || cfg.SignIn.Wait != 90*time.Second || cfg.SignIn.BrowserInterval != 0 {
		t.Errorf("sign-in settings: browser %q wait %s interval %s", cfg.Browser, cfg.SignIn.Wait, cfg.SignIn.BrowserInterval)
	}
	if got := cfg.Edge("main").AuthURL; got != "https://edge.example.com:7843" {
		t.Errorf("default auth_url = %q", got)
	}
	if got := cfg.Edge("other").AuthURL; got != "https://login.example.com:8443" {
		t.Errorf("auth_url = %q, want it without the trailing slash", got)
	}
	if !cfg.Cluster("a").UsesSignIn() || cfg.Cluster("b").UsesSignIn() {
		t.Error("UsesSignIn: a signs in, b has a service token")
	}
	if got := cfg.SignInEdges(); !reflect.DeepEqual(got, []string{"main"}) {
		t.Errorf("SignInEdges = %v", got)
	}
	if got := cfg.SignInApps("main"); !reflect.DeepEqual(got, []string{"a.example.com", "c.example.com"}) {
		t.Errorf("SignInApps = %v (service-token apps are left out, repeats once)", got)
	}

	t.Run("defaults", func(t *testing.T) {
		cfg, err := Parse([]byte("edges:\n  - name: e\n    address: '[::1]:7844'\nclusters:\n  - name: a\n    app: a.example.com\n"), "")
		if err != nil {
			t.Fatal(err)
		}
		if cfg.SignIn.Wait != DefaultSignInWait || cfg.SignIn.BrowserInterval != DefaultBrowserInterval {
			t.Errorf("defaults: %+v", cfg.SignIn)
		}
		if got := cfg.Edges[0].AuthURL; got != "https://[::1]:7843" {
			t.Errorf("default auth_url of an IPv6 edge = %q", got)
		}
	})
}

func TestSignInConfigErrors(t *testing.T) {
	const edges = "edges:\n  - name: main\n    address: 127.0.0.1:7844\n"
	const clusters = "clusters:\n  - name: a\n    app: a.example.com\n"
	tests := []struct {
		name, yaml string
		line       int
		field, msg string
	}{
		{"http auth_url", edges + "    auth_url: http://127.0.0.1:7843\n" + clusters, 4, "edges[0].auth_url", "must be an https:// URL"},
		{"auth_url no host", edges + "    auth_url: https:///x\n" + clusters, 4, "edges[0].auth_url", "no host"},
		{"auth_url user", edges + "    auth_url: https://u:p@e.example.com\n" + clusters, 4, "edges[0].auth_url", "user or password"},
		{"auth_url query", edges + "    auth_url: https://e.example.com/?x=1\n" + clusters, 4, "edges[0].auth_url", "query"},
		{"auth_url bad host", edges + "    auth_url: https://e_x!.com\n" + clusters, 4, "edges[0].auth_url", "host"},
		{"auth_url not a string", edges + "    auth_url: [x]\n" + clusters, 4, "edges[0].auth_url", "must be a string"},
		{"wait not a duration", "sign_in:\n  wait: soon\n" + edges + clusters, 2, "sign_in.wait", "not a duration"},
		{"wait too long", "sign_in:\n  wait: 5h\n" + edges + clusters, 2, "sign_in.wait", "out of range"},
		{"negative interval", "sign_in:\n  browser_interval: -1m\n" + edges + clusters, 2, "sign_in.browser_interval", "out of range"},
		{"unknown sign_in field", "sign_in:\n  retries: 3\n" + edges + clusters, 2, "sign_in.retries", "unknown field"},
		{"sign_in not a mapping", "sign_in: yes\n" + edges + clusters, 1, "sign_in", "must be a mapping"},
		{"blank browser", "browser: ' '\n" + edges + clusters, 1, "browser", "blank"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse([]byte(tt.yaml), "c.yaml")
			var ce *Error
			if !errors.As(err, &ce) {
				t.Fatalf("Parse: %v, want a *config.Error", err)
			}
			p := ce.Problems[0]
			if p.Line != tt.line || p.Field != tt.field || !strings.Contains(p.Msg, tt.msg) {
				t.Fatalf("first problem line %d field %q msg %q; want line %d field %q containing %q\n(all: %v)", p.Line, p.Field, p.Msg, tt.line, tt.field, tt.msg, err)
			}
		})
	}
}
