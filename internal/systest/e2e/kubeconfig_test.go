package e2e

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/airlockhq/airlock/internal/systest/kapitest"
	"github.com/airlockhq/airlock/internal/systest/stack"
	"github.com/airlockhq/airlock/internal/testenv"
)

// TestKubeconfigWrittenByDaemon follows the user's kubeconfig through the
// daemon's life with the real programs: the harness writes the kubeconfig
// without proxy-url, and everything kubectl does through Airlock here works
// through the proxy-url the daemon wrote (the kubeconfig's server name
// resolves nowhere, see TestKubectl).
func TestKubeconfigWrittenByDaemon(t *testing.T) {
	s := startStack(t, stack.Options{})
	bin := kubectls(t)[0]
	original := originalKubeconfig(t, s)

	t.Run("applied at start", func(t *testing.T) {
		if got := proxyInKubeconfig(t, s, bin); got != s.ProxyURL() {
			t.Fatalf("kubectl config view shows proxy-url %q, want the daemon's %q", got, s.ProxyURL())
		}
		if bytes.Equal(readKubeconfig(t, s), original) {
			t.Fatal("the kubeconfig is the harness's original: the daemon wrote nothing")
		}
		getNamespaces(t, s, bin)
		out := airlock(t, s, "status")
		want := fmt.Sprintf("demo: kubeconfig: proxy-url on %q in %s", kapitest.ClusterName, s.Kubeconfig)
		if !strings.Contains(out, want) {
			t.Errorf("airlock status lacks %q:\n%s", want, out)
		}
	})

	t.Run("disconnect gives it back, connect applies it again", func(t *testing.T) {
		airlock(t, s, "disconnect", stack.DefaultCluster)
		if got := readKubeconfig(t, s); !bytes.Equal(got, original) {
			t.Fatalf("after airlock disconnect the kubeconfig is not the original byte for byte:\n%s", got)
		}
		if out, err := runKubectl(s, bin, "--request-timeout=5s", "get", "ns"); err == nil {
			t.Fatalf("kubectl reached the server with airlock disconnected: %s", out)
		}
		airlock(t, s, "connect", stack.DefaultCluster)
		now := currentProxy(t, s)
		if got := proxyInKubeconfig(t, s, bin); got != now {
			t.Fatalf("after airlock connect the proxy-url is %q, want %q", got, now)
		}
		getNamespaces(t, s, bin)
	})

	t.Run("SIGTERM gives it back", func(t *testing.T) {
		if err := s.Daemon.Stop(15 * time.Second); err != nil {
			t.Fatal(err)
		}
		if got := readKubeconfig(t, s); !bytes.Equal(got, original) {
			t.Fatalf("after SIGTERM the kubeconfig is not the original byte for byte:\n%s", got)
		}
		startDaemon(t, s)
		if got := proxyInKubeconfig(t, s, bin); got != s.ProxyURL() {
			t.Fatalf("after restart the proxy-url is %q, want %q", got, s.ProxyURL())
		}
		getNamespaces(t, s, bin)
	})

	t.Run("kill -9 then restart cleans up and re-applies", func(t *testing.T) {
		old := s.ProxyURL()
		s.Daemon.Kill()
		if got := proxyInKubeconfig(t, s, bin); got != old {
			t.Fatalf("after kill -9 the proxy-url is %q; want the dead daemon's %q still there", got, old)
		}
		startDaemon(t, s)
		if s.ProxyURL() == old {
			t.Fatalf("the restarted daemon has the dead one's proxy-url %q", old)
		}
		if got := proxyInKubeconfig(t, s, bin); got != s.ProxyURL() {
			t.Fatalf("after restart the proxy-url is %q, want the new %q", got, s.ProxyURL())
		}
		getNamespaces(t, s, bin)
		// What the dead daemon left was taken back, not stacked: a clean
		// stop now gives the original.
		if err := s.Daemon.Stop(15 * time.Second); err != nil {
			t.Fatal(err)
		}
		if got := readKubeconfig(t, s); !bytes.Equal(got, original) {
			t.Fatalf("after kill -9, restart and SIGTERM the kubeconfig is not the original:\n%s", got)
		}
		startDaemon(t, s)
	})

	t.Run("kubectl config rewrites", func(t *testing.T) {
		// set-cluster rewrites the whole file and keeps proxy-url.
		kubectl(t, s, bin, "config", "set-cluster", kapitest.ClusterName, "--server="+stack.KubeServer)
		if got := proxyInKubeconfig(t, s, bin); got != s.ProxyURL() {
			t.Fatalf("after set-cluster the proxy-url is %q, want %q", got, s.ProxyURL())
		}
		getNamespaces(t, s, bin)
		// unset drops it; the daemon puts it back.
		writes := daemonWrites(s)
		start := time.Now()
		kubectl(t, s, bin, "config", "unset", "clusters."+kapitest.ClusterName+".proxy-url")
		waitReapplied(t, s, bin, writes)
		t.Logf("proxy-url back %v after kubectl config unset", time.Since(start).Round(time.Millisecond))
		getNamespaces(t, s, bin)
	})

	t.Run("replaced by rename", func(t *testing.T) {
		// A tool (gcloud, aws eks, an editor) writes a fresh file and renames
		// it over the kubeconfig: no proxy-url, no record.
		writes := daemonWrites(s)
		start := time.Now()
		if err := s.WriteKubeconfig(s.Kubeconfig, ""); err != nil {
			t.Fatal(err)
		}
		waitReapplied(t, s, bin, writes)
		t.Logf("proxy-url back %v after a rename-replace", time.Since(start).Round(time.Millisecond))
		getNamespaces(t, s, bin)
		if err := s.Daemon.Stop(15 * time.Second); err != nil {
			t.Fatal(err)
		}
		if got := readKubeconfig(t, s); !bytes.Equal(got, original) {
			t.Fatalf("after SIGTERM the kubeconfig is not the tool's file byte for byte:\n%s", got)
		}
	})
}

// originalKubeconfig is what the harness wrote before the daemon started:
// the same arguments give the same bytes.
func originalKubeconfig(t *testing.T, s *stack.Stack) []byte {
	t.Helper()
	p := filepath.Join(t.TempDir(), "original")
	if err := s.WriteKubeconfig(p, ""); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(b, []byte("proxy-url")) {
		t.Fatalf("the harness's kubeconfig has a proxy-url:\n%s", b)
	}
	return b
}

func readKubeconfig(t *testing.T, s *stack.Stack) []byte {
	t.Helper()
	b, err := os.ReadFile(s.Kubeconfig)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// proxyInKubeconfig is the proxy-url of the demo entry as kubectl reads it.
func proxyInKubeconfig(t *testing.T, s *stack.Stack, bin string) string {
	t.Helper()
	return kubectl(t, s, bin, "config", "view", "--raw", "-o",
		fmt.Sprintf(`jsonpath={.clusters[?(@.name==%q)].cluster.proxy-url}`, kapitest.ClusterName))
}

// currentProxy is the demo cluster's proxy-url as the daemon reports it now.
func currentProxy(t *testing.T, s *stack.Stack) string {
	t.Helper()
	u, err := s.ClusterProxy(context.Background(), stack.DefaultCluster)
	if err != nil {
		t.Fatal(err)
	}
	return u.String()
}

func getNamespaces(t *testing.T, s *stack.Stack, bin string) {
	t.Helper()
	if out := kubectl(t, s, bin, "get", "ns", "-o", "name"); !strings.Contains(out, "namespace/default") {
		t.Fatalf("kubectl get ns = %q, want namespace/default", out)
	}
}

// daemonWrites counts the kubeconfig writes the running daemon logged.
func daemonWrites(s *stack.Stack) int {
	return strings.Count(s.Daemon.Output(), "kubeconfig updated")
}

// waitReapplied waits until the daemon has written the kubeconfig again
// (more than writes times) and kubectl sees its proxy-url.
func waitReapplied(t *testing.T, s *stack.Stack, bin string, writes int) {
	t.Helper()
	want := s.ProxyURL()
	testenv.Eventually(t, "proxy-url re-applied", func() error {
		if n := daemonWrites(s); n <= writes {
			return fmt.Errorf("the daemon has not written the kubeconfig since (%d writes)", n)
		}
		out, err := runKubectl(s, bin, "config", "view", "--raw", "-o",
			fmt.Sprintf(`jsonpath={.clusters[?(@.name==%q)].cluster.proxy-url}`, kapitest.ClusterName))
		if err != nil {
			return err
		}
		if out != want {
			return fmt.Errorf("proxy-url %q, want %q", out, want)
		}
		return nil
	})
}

// startDaemon restarts the daemon; the harness waits until it reports the
// proxy-url written.
func startDaemon(t *testing.T, s *stack.Stack) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if err := s.StartDaemon(ctx); err != nil {
		t.Fatal(err)
	}
}

// airlock runs the real `airlock` CLI against the stack's daemon and
// returns its stdout; it fails the test on a non-zero exit.
func airlock(t *testing.T, s *stack.Stack, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, filepath.Join(s.Bin, "airlock"), args...)
	cmd.Env = s.Env()
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("airlock %s: %v: %s%s", strings.Join(args, " "), err, out, stderr.String())
	}
	return string(out)
}
