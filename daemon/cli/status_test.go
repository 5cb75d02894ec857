package cli_test

import (
	"bytes"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/airlockhq/airlock/daemon"
	"github.com/airlockhq/airlock/daemon/apitype"
	"github.com/airlockhq/airlock/daemon/cli"
	"github.com/airlockhq/airlock/daemon/config"
	"github.com/airlockhq/airlock/daemon/core"
	"github.com/airlockhq/airlock/daemon/daemontest"
	"github.com/airlockhq/airlock/internal/testenv"
)

func TestPrintStatusTokenStore(t *testing.T) {
	tests := []struct {
		name    string
		ts      *apitype.TokenStore
		want    string
		notWant string
	}{
		{"keychain", &apitype.TokenStore{Kind: "keychain", Path: "/s/tokens.json"}, "", "token"},
		{"file", &apitype.TokenStore{Kind: "file", Path: "/s/tokens.json", Reason: "no Secret Service"}, "tokens are kept in /s/tokens.json (no Secret Service)\n", ""},
		{"locked", &apitype.TokenStore{Kind: "memory", Cause: "locked", Path: "/s/tokens.json", Reason: "the keyring is locked: unlock it; the sign-in is kept in memory until then"},
			"token store: the keyring is locked: unlock it; the sign-in is kept in memory until then\n", "/s/tokens.json"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var b bytes.Buffer
			cli.PrintStatus(&b, &apitype.Status{TokenStore: tt.ts})
			if !strings.Contains(b.String(), tt.want) || (tt.notWant != "" && strings.Contains(b.String(), tt.notWant)) {
				t.Errorf("status:\n%s\nwant %q, not %q", b.String(), tt.want, tt.notWant)
			}
		})
	}
}

func TestPrintStatusKubeconfig(t *testing.T) {
	tests := []struct {
		name    string
		kube    *apitype.Kubeconfig
		want    []string
		notWant []string
	}{
		{"maps nothing", nil, nil, []string{"kubeconfig"}},
		{"applied in two files", &apitype.Kubeconfig{
			Clusters: []string{"a", "b", "c"},
			Applied:  []apitype.KubeconfigEntry{{File: "/k/one", Cluster: "a"}, {File: "/k/one", Cluster: "b"}, {File: "/k/two", Cluster: "c"}},
		}, []string{`  prod: kubeconfig: proxy-url on "a", "b" in /k/one; "c" in /k/two` + "\n"}, []string{"kubeconfig problem"}},
		{"locked", &apitype.Kubeconfig{
			Clusters: []string{"a"},
			Problem:  &apitype.Problem{Code: apitype.KubeconfigLocked, Message: "kubeconfig /k/one: locked by another process"},
		}, []string{"  prod: kubeconfig problem: locked: kubeconfig /k/one: locked by another process\n"}, []string{"proxy-url on"}},
		{"applied and missing", &apitype.Kubeconfig{
			Clusters: []string{"a", "gone"},
			Applied:  []apitype.KubeconfigEntry{{File: "/k/one", Cluster: "a"}},
			Missing:  []string{"gone"},
			Problem:  &apitype.Problem{Code: apitype.KubeconfigEntryMissing, Message: `no kubeconfig cluster entry matches "gone" in /k/one`},
		}, []string{`  prod: kubeconfig: proxy-url on "a" in /k/one` + "\n", `  prod: kubeconfig problem: entry_missing: no kubeconfig cluster entry matches "gone"`}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st := &apitype.Status{
				KubeconfigFiles: []string{"/k/one", "/k/two"},
				Clusters:        []apitype.Cluster{{Name: "prod", State: apitype.StateConnected, Listen: "127.0.0.2:1080", Kubeconfig: tt.kube}},
			}
			if tt.kube == nil {
				st.KubeconfigFiles = nil
			}
			var b bytes.Buffer
			cli.PrintStatus(&b, st)
			out := b.String()
			for _, w := range tt.want {
				if !strings.Contains(out, w) {
					t.Errorf("output lacks %q:\n%s", w, out)
				}
			}
			for _, w := range tt.notWant {
				if strings.Contains(out, w) {
					t.Errorf("output has %q:\n%s", w, out)
				}
			}
			if tt.kube != nil && !strings.Contains(out, "kubeconfig files: /k/one, /k/two\n") {
				t.Errorf("output lacks the files followed:\n%s", out)
			}
		})
	}
}

// TestStatusKubeconfig runs `airlock status` against a daemon whose cluster
// maps a kubeconfig entry: it names the entry and file that carry the
// proxy-url, then the cause when the file stops parsing.
func TestStatusKubeconfig(t *testing.T) {
	kc := filepath.Join(t.TempDir(), "config")
	good := "apiVersion: v1\nkind: Config\nclusters:\n- name: prod-eks\n  cluster:\n    server: https://10.0.0.1:6443\n"
	if err := os.WriteFile(kc, []byte(good), 0o600); err != nil {
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
		o.Kubeconfig.RetryInterval = 50 * time.Millisecond
	})
	waitOutput(t, d, `prod: kubeconfig: proxy-url on "prod-eks" in `+kc+"\n")
	if err := os.WriteFile(kc+".tmp", []byte("clusters: [\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(kc+".tmp", kc); err != nil {
		t.Fatal(err)
	}
	out := waitOutput(t, d, "prod: kubeconfig problem: parse_error: kubeconfig "+kc+": does not parse")
	if !strings.Contains(out, "kubeconfig files: "+kc+"\n") {
		t.Errorf("status lacks the files followed:\n%s", out)
	}
}

// waitOutput runs `airlock status` until its output holds want.
func waitOutput(t *testing.T, d *daemontest.Daemon, want string) string {
	t.Helper()
	var out string
	testenv.Eventually(t, "`airlock status`", func() error {
		code, o, errs := run(t, "status", "--socket", d.Socket)
		if code != 0 {
			t.Fatalf("status exit %d: %s", code, errs)
		}
		if out = o; !strings.Contains(out, want) {
			return fmt.Errorf("status output lacks %q:\n%s", want, out)
		}
		return nil
	})
	return out
}
