package ingress

import (
	"strings"
	"testing"
)

func mustRules(t testing.TB, flags ...string) *Rules {
	t.Helper()
	var rules []Rule
	for _, f := range flags {
		r, err := ParseFlag(f, "--ingress")
		if err != nil {
			t.Fatal(err)
		}
		rules = append(rules, r)
	}
	rs, err := New(rules)
	if err != nil {
		t.Fatal(err)
	}
	return rs
}

func TestMatchFirstRuleWins(t *testing.T) {
	rs := mustRules(t,
		"k8s.example.com=tcp://10.0.0.1:6443",
		"secret.apps.example.com=deny",
		"*.apps.example.com=tcp://apps.internal:8080",
		"K8S-2.Example.com=tcp://[fd00::1]:6443",
		"*.example.com=tcp://10.0.0.9:443",
	)
	tests := []struct {
		app        string
		wantOrigin string // "" means denied
	}{
		{"k8s.example.com", "10.0.0.1:6443"},
		{"K8S.EXAMPLE.COM.", "10.0.0.1:6443"},
		{"secret.apps.example.com", ""},
		{"web.apps.example.com", "apps.internal:8080"},
		{"a.b.apps.example.com", "apps.internal:8080"},
		{"k8s-2.example.com", "[fd00::1]:6443"},
		{"apps.example.com", "10.0.0.9:443"}, // the wildcard's apex is not its own match
		{"other.example.com", "10.0.0.9:443"},
		{"example.com", ""}, // the implicit deny-all
		{"evil.com", ""},
		{"xexample.com", ""},
		{"", ""},
	}
	for _, tt := range tests {
		t.Run(tt.app, func(t *testing.T) {
			r := rs.Match(tt.app)
			if r.Origin() != tt.wantOrigin {
				t.Fatalf("Match(%q) = %s, origin %q; want %q", tt.app, r.Name(), r.Origin(), tt.wantOrigin)
			}
			if r.Deny() != (tt.wantOrigin == "") {
				t.Fatalf("Match(%q).Deny() = %v", tt.app, r.Deny())
			}
		})
	}
}

func TestDenyAllAlwaysLast(t *testing.T) {
	tests := []struct {
		name      string
		flags     []string
		wantLen   int
		wantDeny  bool
		wantAllow string // an app the catch-all serves, if it allows
	}{
		{"deny-all appended", []string{"a.example.com=tcp://127.0.0.1:1"}, 2, true, ""},
		{"explicit deny-all kept", []string{"a.example.com=tcp://127.0.0.1:1", "*=deny"}, 2, true, ""},
		{"empty hostname is a catch-all", []string{"a.example.com=tcp://127.0.0.1:1", "=deny"}, 2, true, ""},
		{"catch-all origin is last", []string{"a.example.com=tcp://127.0.0.1:1", "*=tcp://127.0.0.1:2"}, 2, false, "anything.example.org"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rs := mustRules(t, tt.flags...)
			all := rs.All()
			if len(all) != tt.wantLen {
				t.Fatalf("got %d rules, want %d: %v", len(all), tt.wantLen, all)
			}
			last := all[len(all)-1]
			if !last.CatchAll() || last.Deny() != tt.wantDeny {
				t.Fatalf("last rule %s: catch-all %v deny %v", last.Name(), last.CatchAll(), last.Deny())
			}
			if tt.wantAllow != "" && rs.Match(tt.wantAllow).Origin() != "127.0.0.1:2" {
				t.Fatalf("catch-all does not serve %s", tt.wantAllow)
			}
		})
	}
}

func TestNewRejects(t *testing.T) {
	tests := []struct {
		name    string
		flags   []string
		wantErr []string // substrings
	}{
		{"no rules", nil, []string{"no ingress rule allows"}},
		{"only deny", []string{"a.example.com=deny"}, []string{"no ingress rule allows"}},
		{"http scheme", []string{"a.example.com=http://x:80"}, []string{"--ingress #1", "scheme must be tcp"}},
		{"no port", []string{"a.example.com=tcp://x"}, []string{"--ingress #1", "no port"}},
		{"port zero", []string{"a.example.com=tcp://x:0"}, []string{"bad port"}},
		{"port too big", []string{"a.example.com=tcp://x:70000"}, []string{"bad port"}},
		{"no host", []string{"a.example.com=tcp://:80"}, []string{"no host"}},
		{"path", []string{"a.example.com=tcp://x:80/api"}, []string{"no user, path or query"}},
		{"user", []string{"a.example.com=tcp://u:p@x:80"}, []string{"no user, path or query"}},
		{"bare host:port", []string{"a.example.com=10.0.0.1:6443"}, []string{"want tcp://HOST:PORT"}},
		{"empty service", []string{"a.example.com="}, []string{"service is missing"}},
		{"bad origin host", []string{"a.example.com=tcp://bad_host!:80"}, []string{"--ingress #1"}},
		{"wildcard in the middle", []string{"a.*.example.com=tcp://x:1"}, []string{"wildcard must be the whole first label"}},
		{"partial wildcard", []string{"*a.example.com=tcp://x:1"}, []string{"wildcard must be the whole first label"}},
		{"bad hostname", []string{"a..example.com=tcp://x:1"}, []string{"empty label"}},
		{"second rule named", []string{"a.example.com=tcp://x:1", "b.example.com=ftp://x:1"}, []string{"--ingress #2"}},
		{"rule after catch-all", []string{"*=tcp://x:1", "a.example.com=tcp://y:1"}, []string{"--ingress #2 (a.example.com) is never used", "--ingress #1 (every hostname)"}},
		{"duplicate hostname", []string{"a.example.com=tcp://x:1", "A.example.com=tcp://y:1"}, []string{"--ingress #2 (A.example.com) is never used"}},
		{"exact after wildcard", []string{"*.example.com=tcp://x:1", "a.example.com=tcp://y:1"}, []string{"never used"}},
		{"narrower wildcard after wildcard", []string{"*.example.com=tcp://x:1", "*.a.example.com=tcp://y:1"}, []string{"never used"}},
		{"same wildcard twice", []string{"*.example.com=tcp://x:1", "*.example.com=deny"}, []string{"never used"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var rules []Rule
			for i, f := range tt.flags {
				r, err := ParseFlag(f, "--ingress #"+string(rune('1'+i)))
				if err != nil {
					t.Fatal(err)
				}
				rules = append(rules, r)
			}
			_, err := New(rules)
			if err == nil {
				t.Fatal("New accepted the rules")
			}
			for _, w := range tt.wantErr {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
		})
	}
}

func TestNewAcceptsNonShadowing(t *testing.T) {
	tests := [][]string{
		{"a.example.com=tcp://x:1", "*.example.com=tcp://y:1"},                   // exact before wildcard
		{"*.a.example.com=tcp://x:1", "*.example.com=tcp://y:1"},                 // narrow before wide
		{"*.example.com=tcp://x:1", "example.com=tcp://y:1"},                     // the apex is not under the wildcard
		{"*.example.com=tcp://x:1", "*.example.org=tcp://y:1"},                   // unrelated
		{"x.example.com=deny", "*.example.com=tcp://y:1", "*=deny"},              // explicit deny first
		{"a.example.com=tcp://127.0.0.1:6443", "b.example.com=tcp://[::1]:6443"}, // IP origins
	}
	for _, flags := range tests {
		t.Run(strings.Join(flags, " "), func(t *testing.T) {
			mustRules(t, flags...)
		})
	}
}

func TestParseFlag(t *testing.T) {
	tests := []struct {
		in       string
		wantHost string
		wantSvc  string
		wantErr  bool
	}{
		{"a.example.com=tcp://x:1", "a.example.com", "tcp://x:1", false},
		{"*=deny", "*", "deny", false},
		{"no-equals-sign", "", "", true},
		{"a=b=c", "a", "b=c", false},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			r, err := ParseFlag(tt.in, "--ingress")
			if (err != nil) != tt.wantErr {
				t.Fatalf("err = %v, want error %v", err, tt.wantErr)
			}
			if err == nil && (r.Hostname != tt.wantHost || r.Service != tt.wantSvc) {
				t.Fatalf("got %q=%q", r.Hostname, r.Service)
			}
			if err != nil && !strings.Contains(err.Error(), "--ingress") {
				t.Fatalf("error %q does not name the flag", err)
			}
		})
	}
}

func TestOrigins(t *testing.T) {
	rs := mustRules(t, "a.example.com=tcp://x:1", "b.example.com=tcp://x:1", "c.example.com=tcp://y:2", "d.example.com=deny")
	got := strings.Join(rs.Origins(), ",")
	if got != "x:1,y:2" {
		t.Fatalf("Origins = %s", got)
	}
}
