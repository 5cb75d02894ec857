package cli

import (
	"errors"
	"strings"
	"testing"

	"github.com/airlockhq/airlock/daemon/apitype"
	"github.com/airlockhq/airlock/internal/desktop"
)

func TestDoctorChecks(t *testing.T) {
	ok := func(string) (string, string, error) { return "/c.yaml", "fine", nil }
	host := desktop.HostReport{Bus: true, Watcher: true, Notifier: true}
	tests := []struct {
		name  string
		st    *apitype.Status
		host  desktop.HostReport
		want  []string
		fails int
	}{
		{"kubeconfig applied", &apitype.Status{Clusters: []apitype.Cluster{{Name: "a", State: apitype.StateConnected, ProxyURL: "socks5://x", Listen: "127.0.0.2:1080",
			Kubeconfig: &apitype.Kubeconfig{Applied: []apitype.KubeconfigEntry{{File: "/k", Cluster: "eks-a"}}}}}}, host,
			[]string{"ok    kubeconfig a  proxy-url set on eks-a in /k", "ok    tray host"}, 0},
		{"kubeconfig missing and broken", &apitype.Status{KubeconfigFiles: []string{"/k"}, Clusters: []apitype.Cluster{{Name: "a", State: apitype.StateConnected,
			Kubeconfig: &apitype.Kubeconfig{Missing: []string{"eks-x"}, Problem: &apitype.Problem{Code: "parse_error", Message: "/k:3: bad"}}}}}, host,
			[]string{"FAIL  kubeconfig a  parse_error: /k:3: bad", "not found in any kubeconfig file: eks-x", "files followed: /k"}, 2},
		{"no watcher", &apitype.Status{}, desktop.HostReport{Bus: true}, []string{"warn  tray host", "AppIndicator", "warn  notifications"}, 0},
		{"edge down, file token store, config reload error", &apitype.Status{
			Edges:       []apitype.Edge{{Name: "e", Address: "edge:7844", Error: "timeout: no recent network activity"}},
			TokenStore:  &apitype.TokenStore{Kind: "file", Path: "/s/tokens", Reason: "no Secret Service"},
			ConfigError: &apitype.ConfigError{Message: "/c.yaml:4: edges[0].address: missing port"}}, host,
			[]string{"FAIL  edge e", "UDP", "warn  token store    a 0600 file: /s/tokens (no Secret Service)", "FAIL  config reload", "/c.yaml:4: edges[0].address"}, 2},
		{"locked keyring: the token waits in memory", &apitype.Status{
			TokenStore: &apitype.TokenStore{Kind: "memory", Cause: "locked", Path: "/s/tokens", Pending: 1, Attempts: 2,
				Reason: "the keyring is locked: unlock it; the sign-in is kept in memory until then", Fix: "unlock the keyring (the desktop's unlock prompt)"}}, host,
			[]string{"warn  token store  the keyring is locked: unlock it; the sign-in is kept in memory until then (asked again 2 times)", "unlock the keyring (the desktop's unlock prompt)"}, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			checks := doctor("", tt.st, nil, "/sock", ok, tt.host)
			var b strings.Builder
			code := printChecks(&b, checks)
			out := b.String()
			for _, w := range tt.want {
				if !strings.Contains(out, w) {
					t.Errorf("lacks %q:\n%s", w, out)
				}
			}
			fails := strings.Count(out, "FAIL  ")
			if fails != tt.fails || (fails > 0) != (code == 1) {
				t.Errorf("%d fails, exit %d; want %d fails:\n%s", fails, code, tt.fails, out)
			}
		})
	}
	checks := doctor("", nil, errors.New("boom"), "/sock", ok, desktop.HostReport{})
	var b strings.Builder
	if printChecks(&b, checks) != 1 || !strings.Contains(b.String(), "FAIL  daemon") {
		t.Errorf("daemon error:\n%s", b.String())
	}
}
