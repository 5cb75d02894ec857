package cli_test

import (
	"encoding/json"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/airlockhq/airlock/daemon"
	"github.com/airlockhq/airlock/daemon/apitype"
	"github.com/airlockhq/airlock/daemon/config"
	"github.com/airlockhq/airlock/daemon/core"
	"github.com/airlockhq/airlock/daemon/daemontest"
)

// TestReadableKubeconfigMadePrivate is issue 10's attack on the kubeconfig:
// a 0644 kubeconfig would give every local user the SOCKS password the
// daemon writes into it. Against a real daemon: the file ends 0600 (no
// group or other bits: no other user can open it), and `airlock status`,
// its JSON and `airlock doctor` say what was done.
func TestReadableKubeconfigMadePrivate(t *testing.T) {
	kc := filepath.Join(t.TempDir(), "config")
	good := "apiVersion: v1\nkind: Config\nclusters:\n- name: prod-eks\n  cluster:\n    server: https://10.0.0.1:6443\n"
	if err := os.WriteFile(kc, []byte(good), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(kc, 0o644); err != nil { // as an exec-plugin setup leaves it; not subject to the umask
		t.Fatal(err)
	}
	cfg := &config.Config{
		Edges: []config.Edge{{Name: "main", Address: "127.0.0.1:7844"}},
		Clusters: []config.Cluster{{Name: "prod", App: "k8s.prod.example.com", Token: "t",
			Kubeconfig: config.Kubeconfig{Clusters: []string{"prod-eks"}}}},
	}
	d := daemontest.Start(t, cfg, func(o *daemon.Options) {
		o.Core.NewEdge = func(config.Edge, *slog.Logger) core.Edge { return refusingEdge{} }
		o.Kubeconfig.Paths = []string{kc}
	})
	out := waitOutput(t, d, `prod: kubeconfig: proxy-url on "prod-eks" in `+kc+"\n")

	st, err := os.Stat(kc)
	if err != nil {
		t.Fatal(err)
	}
	if perm := st.Mode().Perm(); perm != 0o600 {
		t.Fatalf("kubeconfig mode %04o once it holds the password, want 0600", perm)
	}
	b, err := os.ReadFile(kc)
	if err != nil {
		t.Fatal(err)
	}
	if proxy := d.ProxyURL(t, "prod"); !strings.Contains(string(b), proxy) || !strings.Contains(proxy, ":") {
		t.Fatalf("the file does not carry the proxy-url %q:\n%s", proxy, b)
	}

	t.Run("status", func(t *testing.T) {
		want := "kubeconfig " + kc + " was readable by other users (mode 0644): made 0600 at "
		if !strings.Contains(out, want) {
			t.Errorf("status output lacks %q:\n%s", want, out)
		}
		if n := strings.Count(out, "was readable by other users"); n != 1 {
			t.Errorf("said %d times, want once:\n%s", n, out)
		}
	})
	t.Run("status json", func(t *testing.T) {
		code, o, errs := run(t, "status", "--json", "--socket", d.Socket)
		if code != 0 {
			t.Fatalf("exit %d: %s", code, errs)
		}
		var s apitype.Status
		if err := json.Unmarshal([]byte(o), &s); err != nil {
			t.Fatal(err)
		}
		if len(s.KubeconfigTightened) != 1 {
			t.Fatalf("kubeconfig_tightened = %+v, want one file", s.KubeconfigTightened)
		}
		m := s.KubeconfigTightened[0]
		if m.File != kc || m.From != "0644" || m.To != "0600" || time.Since(m.Time) < 0 || m.Time.IsZero() {
			t.Errorf("kubeconfig_tightened[0] = %+v", m)
		}
	})
	t.Run("doctor", func(t *testing.T) {
		_, o := doctorRun(t, goodConfig, "--socket", d.Socket)
		for _, want := range []string{"warn  kubeconfig mode", kc + " was readable by other users (mode 0644): made 0600", "fix: keep it private (chmod 600 " + kc} {
			if !strings.Contains(o, want) {
				t.Errorf("doctor output lacks %q:\n%s", want, o)
			}
		}
	})
	t.Run("log", func(t *testing.T) {
		if n := strings.Count(d.Logs(), "made it private"); n != 1 {
			t.Errorf("the daemon logged the change %d times, want once:\n%s", n, d.Logs())
		}
	})
}
