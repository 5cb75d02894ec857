package e2e

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/airlockhq/airlock/internal/systest/kapitest"
	"github.com/airlockhq/airlock/internal/systest/stack"
)

// TestKubectl runs ordinary kubectl commands, with every kubectl on the
// machine, against a real kube-apiserver that kubectl can reach only through
// Airlock: the kubeconfig names https://kubernetes.default.svc:443, which
// resolves nowhere here; the daemon never resolves it and the connector
// dials the origin its ingress rule names.
func TestKubectl(t *testing.T) {
	s := startStack(t, stack.Options{KubeAPI: kapitest.Options{Audit: true}})
	kubectlBin := "/usr/bin/kubectl"

	t.Run("no path around airlock", func(t *testing.T) {
		// The same kubeconfig without proxy-url must fail: the server name
		// does not resolve, so success below is Airlock's doing.
		direct := filepath.Join(t.TempDir(), "direct")
		if err := s.WriteKubeconfig(direct, ""); err != nil {
			t.Fatal(err)
		}
		cmd := exec.Command(kubectlBin, "--kubeconfig", direct, "--request-timeout=5s", "get", "--raw", "/version")
		if out, err := cmd.CombinedOutput(); err == nil {
			t.Fatalf("kubectl reached the server without airlock: %s", out)
		}
	})

	for _, bin := range kubectls(t) {
		t.Run("version/"+filepath.Base(bin), func(t *testing.T) {
			var v struct {
				ServerVersion struct{ GitVersion string } `json:"serverVersion"`
			}
			out := kubectl(t, s, bin, "version", "-o", "json")
			if err := json.Unmarshal([]byte(out), &v); err != nil {
				t.Fatalf("version output: %v\n%s", err, out)
			}
			if !strings.HasPrefix(v.ServerVersion.GitVersion, "v1.") {
				t.Fatalf("server version = %q, want v1.x", v.ServerVersion.GitVersion)
			}
			if out := kubectl(t, s, bin, "get", "namespaces", "-o", "name"); !strings.Contains(out, "namespace/default") {
				t.Fatalf("get namespaces = %q, want namespace/default", out)
			}
		})
	}

	t.Run("create apply delete", func(t *testing.T) {
		kubectl(t, s, kubectlBin, "create", "configmap", "e2e-create", "--from-literal=k=v1")
		if got := kubectl(t, s, kubectlBin, "get", "configmap", "e2e-create", "-o", "jsonpath={.data.k}"); got != "v1" {
			t.Fatalf("after create: %q", got)
		}
		manifest := filepath.Join(t.TempDir(), "cm.yaml")
		os.WriteFile(manifest, []byte("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: e2e-create\ndata:\n  k: v2\n"), 0o600)
		kubectl(t, s, kubectlBin, "apply", "-f", manifest)
		if got := kubectl(t, s, kubectlBin, "get", "configmap", "e2e-create", "-o", "jsonpath={.data.k}"); got != "v2" {
			t.Fatalf("after apply: %q", got)
		}
		kubectl(t, s, kubectlBin, "apply", "--server-side", "--force-conflicts", "-f", manifest)
		kubectl(t, s, kubectlBin, "delete", "configmap", "e2e-create")
		if _, err := runKubectl(s, kubectlBin, "get", "configmap", "e2e-create"); err == nil || !strings.Contains(err.Error(), "NotFound") {
			t.Fatalf("after delete: %v, want NotFound", err)
		}
	})

	t.Run("api-resources", func(t *testing.T) {
		out := kubectl(t, s, kubectlBin, "api-resources", "-o", "name")
		for _, want := range []string{"configmaps", "deployments.apps", "customresourcedefinitions.apiextensions.k8s.io"} {
			if !strings.Contains(out, want) {
				t.Fatalf("api-resources lacks %s:\n%s", want, out)
			}
		}
	})

	t.Run("watch while another kubectl edits", func(t *testing.T) {
		kubectl(t, s, kubectlBin, "create", "configmap", "e2e-watch", "--from-literal=v=0")
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		defer cancel()
		cmd := exec.CommandContext(ctx, kubectlBin, "--kubeconfig", s.Kubeconfig, "get", "configmap", "e2e-watch",
			"--watch", "-o", "jsonpath={.data.v}{\"\\n\"}")
		cmd.Env = append(os.Environ(), "HOME="+s.Dir)
		stdout, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		defer func() { cmd.Process.Kill(); cmd.Wait() }()
		lines := bufio.NewScanner(stdout)
		next := func() string {
			if !lines.Scan() {
				t.Fatalf("watch ended: %v", lines.Err())
			}
			return strings.TrimSpace(lines.Text())
		}
		if got := next(); got != "0" {
			t.Fatalf("first watch event = %q, want 0", got)
		}
		for i := 1; i <= 3; i++ {
			kubectl(t, s, kubectlBin, "patch", "configmap", "e2e-watch", "-p", fmt.Sprintf(`{"data":{"v":"%d"}}`, i))
			if got := next(); got != fmt.Sprint(i) {
				t.Fatalf("watch event %d = %q", i, got)
			}
		}
	})

	t.Run("50 in parallel", func(t *testing.T) {
		var wg sync.WaitGroup
		errs := make(chan error, 50)
		for i := range 50 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				out, err := runKubectl(s, kubectlBin, "get", "--raw", "/api/v1/namespaces/default")
				if err == nil && !strings.Contains(out, `"name":"default"`) {
					err = fmt.Errorf("run %d: unexpected output %q", i, out)
				}
				errs <- err
			}()
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			if err != nil {
				t.Error(err)
			}
		}
	})

	t.Run("audited at the edge", func(t *testing.T) {
		// Every stream left one JSON audit line naming the user, the app
		// and the outcome.
		var ok int
		for _, line := range strings.Split(s.Edge.Output(), "\n") {
			if !strings.Contains(line, `"msg":"stream"`) {
				continue
			}
			var rec struct {
				User, App, Outcome, Tunnel string
				BytesFrom                  int64 `json:"bytes_from_client"`
				BytesTo                    int64 `json:"bytes_to_client"`
			}
			if err := json.Unmarshal([]byte(line), &rec); err != nil {
				t.Fatalf("audit line is not JSON: %v: %s", err, line)
			}
			if rec.Outcome == "ok" && rec.User == s.Email && rec.App == s.App && rec.Tunnel == stack.DefaultTunnel && rec.BytesFrom > 0 && rec.BytesTo > 0 {
				ok++
			}
		}
		if ok < 50 {
			t.Fatalf("%d ok audit lines with user, app, tunnel and byte counts; want at least 50", ok)
		}
	})
}
