package demo

import (
	"errors"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

func TestResolveBrowser(t *testing.T) {
	dir := t.TempDir()
	chromium := filepath.Join(dir, "chromium")
	if err := os.WriteFile(chromium, []byte("#!/bin/sh\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	notExec := filepath.Join(dir, "not-exec")
	if err := os.WriteFile(notExec, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	missing := filepath.Join(dir, "missing")
	withXDG := func(string) (string, error) { return "/usr/bin/xdg-open", nil }
	noXDG := func(string) (string, error) { return "", errors.New("not found") }
	vars := func(kv ...string) func(string) string {
		return func(k string) string {
			for i := 0; i+1 < len(kv); i += 2 {
				if kv[i] == k {
					return kv[i+1]
				}
			}
			return ""
		}
	}
	tests := []struct {
		name     string
		in       Browser
		getenv   func(string) string
		lookPath func(string) (string, error)
		chromium string
		want     Browser
		wantWhy  string
		wantErr  string
	}{
		{"auto on X11", BrowserAuto, vars("DISPLAY", ":0"), withXDG, chromium, BrowserSystem, "$DISPLAY", ""},
		{"auto on Wayland", BrowserAuto, vars("WAYLAND_DISPLAY", "wayland-0"), withXDG, missing, BrowserSystem, "$WAYLAND_DISPLAY", ""},
		{"auto, display but no xdg-open", BrowserAuto, vars("DISPLAY", ":0"), noXDG, chromium, BrowserChromium, "no desktop", ""},
		{"auto headless with chromium", BrowserAuto, vars(), withXDG, chromium, BrowserChromium, "Chromium installed", ""},
		{"auto headless without chromium", "", vars(), withXDG, missing, BrowserForm, "no Chromium", ""},
		{"auto, chromium not executable", BrowserAuto, vars(), noXDG, notExec, BrowserForm, "no Chromium", ""},
		{"system", BrowserSystem, vars(), withXDG, missing, BrowserSystem, "your own browser", ""},
		{"system without xdg-open", BrowserSystem, vars("DISPLAY", ":0"), noXDG, chromium, "", "", "xdg-utils"},
		{"chromium", BrowserChromium, vars("DISPLAY", ":0"), withXDG, chromium, BrowserChromium, "headless Chromium", ""},
		{"chromium missing", BrowserChromium, vars(), withXDG, missing, "", "", "Debian package chromium"},
		{"chromium is a folder", BrowserChromium, vars(), withXDG, dir, "", "", "not an executable"},
		{"form", BrowserForm, vars("DISPLAY", ":0"), withXDG, chromium, BrowserForm, "login form", ""},
		{"none", BrowserNone, vars("DISPLAY", ":0"), withXDG, chromium, BrowserNone, "device flow", ""},
		{"unknown", Browser("lynx"), vars(), withXDG, chromium, "", "", "unknown browser"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, why, err := env{getenv: tt.getenv, lookPath: tt.lookPath, chromium: tt.chromium}.resolve(tt.in)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("resolve(%q) = %q, %v; want an error with %q", tt.in, got, err, tt.wantErr)
				}
				return
			}
			if err != nil || got != tt.want || !strings.Contains(why, tt.wantWhy) {
				t.Fatalf("resolve(%q) = %q, %q, %v; want %q with %q", tt.in, got, why, err, tt.want, tt.wantWhy)
			}
		})
	}
}

func TestParseBrowser(t *testing.T) {
	tests := []struct {
		in      string
		want    Browser
		wantErr bool
	}{
		{"", BrowserAuto, false},
		{"auto", BrowserAuto, false},
		{"system", BrowserSystem, false},
		{"chromium", BrowserChromium, false},
		{"form", BrowserForm, false},
		{"none", BrowserNone, false},
		{"Chromium", "", true},
		{"firefox", "", true},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := ParseBrowser(tt.in)
			if (err != nil) != tt.wantErr || got != tt.want {
				t.Fatalf("ParseBrowser(%q) = %q, %v", tt.in, got, err)
			}
			if err != nil && !strings.Contains(err.Error(), "auto, system, chromium, form or none") {
				t.Fatalf("the error does not list the choices: %v", err)
			}
		})
	}
}

func TestHostPort(t *testing.T) {
	tests := []struct {
		in, want string
		wantErr  bool
	}{
		{"https://k8s.example.com:6443", "k8s.example.com:6443", false},
		{"https://k8s.example.com", "k8s.example.com:443", false},
		{"10.0.0.1:6443", "10.0.0.1:6443", false},
		{"k8s.example.com", "k8s.example.com:443", false},
		{"https://", "", true},
		{"https://bad host", "", true},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := hostPort(tt.in)
			if (err != nil) != tt.wantErr || got != tt.want {
				t.Fatalf("hostPort(%q) = %q, %v; want %q (error %v)", tt.in, got, err, tt.want, tt.wantErr)
			}
		})
	}
}

func TestNewPassword(t *testing.T) {
	re := regexp.MustCompile(`^[a-km-np-z2-9]{4}-[a-km-np-z2-9]{4}-[a-km-np-z2-9]{4}$`)
	seen := map[string]bool{}
	for range 100 {
		p := newPassword()
		if !re.MatchString(p) {
			t.Fatalf("password %q is not three groups of four unambiguous letters and digits", p)
		}
		if seen[p] {
			t.Fatalf("password %q came twice", p)
		}
		seen[p] = true
	}
}

func TestShellQuote(t *testing.T) {
	tests := []struct{ in, want string }{
		{"/tmp/airlock-demo-123/kubeconfig", "/tmp/airlock-demo-123/kubeconfig"},
		{"/home/me/my demo", "'/home/me/my demo'"},
		{"/tmp/it's", `'/tmp/it'\''s'`},
		{"", "''"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			if got := shellQuote(tt.in); got != tt.want {
				t.Fatalf("shellQuote(%q) = %s, want %s", tt.in, got, tt.want)
			}
		})
	}
}
