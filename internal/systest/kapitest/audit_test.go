package kapitest

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

const auditAdmin = `{"kind":"Event","apiVersion":"audit.k8s.io/v1","level":"Metadata","stage":"ResponseComplete","requestURI":"/api/v1/namespaces?limit=500","verb":"list","user":{"username":"kubernetes-admin","groups":["system:masters","system:authenticated"]},"sourceIPs":["127.0.0.3"],"userAgent":"kubectl/v1.27.16","responseStatus":{"metadata":{},"code":200}}`
const auditLoopback = `{"kind":"Event","stage":"ResponseComplete","requestURI":"/api/v1/services","verb":"list","user":{"username":"system:apiserver"},"sourceIPs":["127.0.0.1"],"responseStatus":{"code":200}}`
const auditDirect = `{"kind":"Event","stage":"ResponseComplete","requestURI":"/version","verb":"get","user":{"username":"kubernetes-admin"},"sourceIPs":["127.0.0.1","10.1.1.1"]}`

func TestParseAudit(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		want    int
		wantErr string
	}{
		{name: "empty", in: "", want: 0},
		{name: "one", in: auditAdmin + "\n", want: 1},
		{name: "partial last line left", in: auditAdmin + "\n" + auditLoopback, want: 1},
		{name: "blank lines", in: "\n" + auditAdmin + "\n\n" + auditLoopback + "\n", want: 2},
		{name: "bad json", in: auditAdmin + "\n{nope\n", wantErr: "line 2"},
		{name: "too long", in: `{"x":"` + strings.Repeat("a", maxAuditLine) + "\"}\n", wantErr: "longer than"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := parseAudit(strings.NewReader(tc.in))
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err %v, want %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != tc.want {
				t.Fatalf("%d events, want %d: %+v", len(got), tc.want, got)
			}
		})
	}
	t.Run("fields", func(t *testing.T) {
		got, err := parseAudit(strings.NewReader(auditAdmin + "\n"))
		if err != nil {
			t.Fatal(err)
		}
		want := AuditEvent{Stage: "ResponseComplete", Verb: "list", RequestURI: "/api/v1/namespaces?limit=500",
			User: AdminUser, UserAgent: "kubectl/v1.27.16", SourceIPs: []string{"127.0.0.3"}, Code: 200}
		if len(got) != 1 || !equalEvent(got[0], want) {
			t.Errorf("got %+v, want %+v", got, want)
		}
	})
}

func equalEvent(a, b AuditEvent) bool {
	return a.Stage == b.Stage && a.Verb == b.Verb && a.RequestURI == b.RequestURI && a.User == b.User &&
		a.UserAgent == b.UserAgent && slices.Equal(a.SourceIPs, b.SourceIPs) && a.Code == b.Code
}

func TestAuditSourceIPs(t *testing.T) {
	t.Run("off", func(t *testing.T) {
		if _, err := (&Server{}).AuditSourceIPs(); err == nil || !strings.Contains(err.Error(), "Options.Audit") {
			t.Fatalf("err %v", err)
		}
	})
	t.Run("not yet written", func(t *testing.T) {
		s := &Server{auditFile: filepath.Join(t.TempDir(), "audit.log")}
		ips, err := s.AuditSourceIPs()
		if err != nil || len(ips) != 0 {
			t.Fatalf("ips %v err %v", ips, err)
		}
	})
	t.Run("admin only, peer first, distinct", func(t *testing.T) {
		s := &Server{auditFile: filepath.Join(t.TempDir(), "audit.log")}
		log := strings.Join([]string{auditDirect, auditLoopback, auditAdmin, auditAdmin, auditDirect}, "\n") + "\n"
		if err := os.WriteFile(s.auditFile, []byte(log), 0o600); err != nil {
			t.Fatal(err)
		}
		ips, err := s.AuditSourceIPs()
		if err != nil {
			t.Fatal(err)
		}
		if want := []string{"127.0.0.1", "127.0.0.3"}; !slices.Equal(ips, want) {
			t.Errorf("got %v, want %v", ips, want)
		}
	})
}

func FuzzParseAudit(f *testing.F) {
	for _, s := range []string{"", "\n", auditAdmin + "\n", auditAdmin + "\n" + auditLoopback, "{nope\n", `{"sourceIPs":7}` + "\n", `null` + "\n"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		events, err := parseAudit(strings.NewReader(string(b)))
		if err != nil && events != nil {
			t.Fatalf("events %v with error %v", events, err)
		}
		if n := strings.Count(string(b), "\n"); len(events) > n {
			t.Fatalf("%d events from %d lines", len(events), n)
		}
	})
}
