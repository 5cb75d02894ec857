package cli_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/airlockhq/airlock/edge"
	"github.com/airlockhq/airlock/internal/joinlink"
	"github.com/airlockhq/airlock/internal/testenv"
)

// TestAppSet: app set writes an app's name, display name and Kubernetes
// details into the config, keeping its comments; a bad value is refused
// naming the field and changes nothing; an empty value removes a field.
func TestAppSet(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "state")
	mustRun(t, "", "init", "--dir", dir)
	mustRun(t, "", "tunnel", "create", "demo", "--hostname", "k8s.demo.test", "--allow-email-domain", "example.com", "--dir", dir)
	cfgPath := filepath.Join(dir, "config.yaml")
	ca := filepath.Join(dir, "ca.crt")
	mustRun(t, "", "app", "set", "K8S.demo.test", "--dir", dir, "--name", "demo", "--display-name", "Demo cluster",
		"--kube-server", "https://10.0.0.1:6443", "--kube-ca-file", ca, "--kube-tls-server-name", "kubernetes.default")
	cfg, err := edge.LoadConfig(cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	a := cfg.Apps[0]
	if a.Name != "demo" || a.DisplayName != "Demo cluster" || a.Kubernetes == nil || a.Kubernetes.Server != "https://10.0.0.1:6443" ||
		a.Kubernetes.CAFile != ca || a.Kubernetes.TLSServerName != "kubernetes.default" {
		t.Fatalf("app %+v %+v", a, a.Kubernetes)
	}
	raw, _ := os.ReadFile(cfgPath)
	if !strings.Contains(string(raw), "# The first key signs, all verify.") {
		t.Fatal("app set lost the config's comments")
	}

	for _, tc := range []struct {
		name   string
		args   []string
		naming string
	}{
		{"http server", []string{"--kube-server", "http://10.0.0.1"}, "apps[0].kubernetes.server"},
		{"bad name", []string{"--name", "Demo Cluster"}, "apps[0].name"},
		{"unknown app", []string{"--name", "x"}, "no app"},
		{"not a CA", []string{"--kube-ca-file", cfgPath}, "apps[0].kubernetes.ca_file"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			app := "k8s.demo.test"
			if tc.name == "unknown app" {
				app = "nope.test"
			}
			code, _, errOut := runCmd(t, "", append([]string{"app", "set", app, "--dir", dir}, tc.args...)...)
			if after, _ := os.ReadFile(cfgPath); code != 1 || !strings.Contains(errOut, tc.naming) || string(after) != string(raw) {
				t.Fatalf("exit %d, stderr %q, want naming %q and the file unchanged", code, errOut, tc.naming)
			}
		})
	}
	mustRun(t, "", "app", "set", "k8s.demo.test", "--dir", dir, "--display-name=", "--kube-ca-file=", "--kube-tls-server-name=")
	if cfg, err = edge.LoadConfig(cfgPath); err != nil {
		t.Fatal(err)
	}
	if a := cfg.Apps[0]; a.DisplayName != "" || a.Kubernetes.CAFile != "" || a.Kubernetes.TLSServerName != "" || a.Kubernetes.Server == "" {
		t.Fatalf("after removing fields: %+v %+v", a, a.Kubernetes)
	}
}

// TestInvite: invite prints the link, the command and the CA fingerprint,
// the one openssl computes as kubeadm documents.
func TestInvite(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "state")
	mustRun(t, "", "init", "--dir", dir)
	testenv.LookPath(t, "openssl", "apt-get install openssl")
	out := mustRun(t, "", "invite", "--dir", dir, "--public-url", "https://edge.example.com:7843")
	sh := exec.Command("sh", "-c", `openssl x509 -pubkey -noout -in "$1" | openssl pkey -pubin -outform der | sha256sum`, "sh", filepath.Join(dir, "ca.crt"))
	sum, err := sh.Output()
	if err != nil {
		t.Fatalf("openssl: %v", err)
	}
	fp := "sha256:" + strings.Fields(string(sum))[0]
	inv := joinlink.Invite{Edge: "https://edge.example.com:7843", CA: fp}
	for _, want := range []string{"link:    " + inv.Link(), "command: " + inv.Command(), "CA:      " + fp, "https://edge.example.com:7843/connect"} {
		if !strings.Contains(out, want) {
			t.Errorf("invite output lacks %q:\n%s", want, out)
		}
	}
	if code, _, errOut := runCmd(t, "", "invite", "--dir", dir, "--public-url", "http://edge.example.com"); code != 1 || !strings.Contains(errOut, "not https") {
		t.Fatalf("an http URL: exit %d, %q", code, errOut)
	}
}
