package e2e

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/airlockhq/airlock/internal/systest/kapitest"
	"github.com/airlockhq/airlock/internal/systest/stack"
)

// TestKubectlOverTCP: the real daemon, edge and connector processes with
// the daemon's edge entry set to `transport: tcp`: the real kubectl
// reaches the real kube-apiserver over TLS on TCP (the edge's TCP port is
// its QUIC port), and `airlock status` and `airlock doctor` say so.
func TestKubectlOverTCP(t *testing.T) {
	s := startStack(t, stack.Options{KubeAPI: kapitest.Options{}})
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if err := s.Daemon.Stop(10 * time.Second); err != nil {
		t.Fatalf("stop the daemon: %v", err)
	}
	b, err := os.ReadFile(s.DaemonConfig)
	if err != nil {
		t.Fatal(err)
	}
	cfg := strings.Replace(string(b), "    server_name: "+stack.EdgeServerName+"\n",
		"    server_name: "+stack.EdgeServerName+"\n    transport: tcp\n", 1)
	if cfg == string(b) {
		t.Fatalf("no server_name line to add transport after:\n%s", b)
	}
	if err := os.WriteFile(s.DaemonConfig, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := s.StartDaemon(ctx); err != nil {
		t.Fatalf("start the daemon with transport: tcp: %v", err)
	}
	bin := testenvKubectl(t)
	if out := kubectl(t, s, bin, "get", "namespaces", "-o", "name"); !strings.Contains(out, "namespace/default") {
		t.Fatalf("get namespaces = %q, want namespace/default", out)
	}
	for _, verb := range []string{"status", "doctor"} {
		cmd := exec.CommandContext(ctx, filepath.Join(s.Bin, "airlock"), verb)
		cmd.Env = s.Env()
		out, _ := cmd.CombinedOutput() // doctor exits non-zero on a warning
		if !strings.Contains(string(out), "over TCP (transport: tcp in the configuration)") {
			t.Fatalf("airlock %s does not say TCP:\n%s", verb, out)
		}
		t.Logf("airlock %s: %s", verb, lineWith(string(out), "over TCP"))
	}
}

func testenvKubectl(tb testing.TB) string { return kubectls(tb)[0] }

func lineWith(s, sub string) string {
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, sub) {
			return strings.TrimSpace(l)
		}
	}
	return ""
}
