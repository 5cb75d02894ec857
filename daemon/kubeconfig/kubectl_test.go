package kubeconfig

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/airlockhq/airlock/internal/testenv"
)

// kubectlInstall says where this machine's kubectls come from.
const kubectlInstall = "apt-get install kubectl google-cloud-cli-kubectl"

// kubectls are the real kubectl binaries of this machine: the dispatcher and the
// versioned ones next to it.
func kubectls(t *testing.T) []string {
	bins := []string{testenv.File(t, "/usr/bin/kubectl", kubectlInstall)}
	more, _ := filepath.Glob("/usr/lib/google-cloud-sdk/bin/kubectl.1.*")
	if len(more) == 0 && testenv.CI() {
		t.Fatal("no versioned kubectl in /usr/lib/google-cloud-sdk/bin")
	}
	return append(bins, more...)
}

// kubectl runs bin with KUBECONFIG set and a private HOME.
func kubectl(t testing.TB, bin, kubeconfig string, args ...string) (string, error) {
	cmd := exec.Command(bin, args...)
	cmd.Env = append(os.Environ(), "KUBECONFIG="+kubeconfig, "HOME="+filepath.Dir(strings.Split(kubeconfig, string(os.PathListSeparator))[0]))
	out, err := cmd.CombinedOutput()
	if err != nil {
		return string(out), fmt.Errorf("%s %v: %w: %s", filepath.Base(bin), args, err, out)
	}
	return string(out), nil
}

func proxyJSONPath(cluster string) string {
	return fmt.Sprintf(`jsonpath={.clusters[?(@.name=="%s")].cluster.proxy-url}`, cluster)
}

// TestKubectlSeesProxy: after Connect every kubectl version shows the proxy-url in
// `config view --raw`, with several files in $KUBECONFIG; after kubectl rewrote the
// file, Disconnect still restores the user's own proxy-url and keeps kubectl's change.
func TestKubectlSeesProxy(t *testing.T) {
	for _, bin := range kubectls(t) {
		t.Run(filepath.Base(bin), func(t *testing.T) {
			dir := t.TempDir()
			firstContent := "# mine\napiVersion: v1\nkind: Config\nclusters:\n- name: dev\n  cluster:\n    server: https://10.0.0.2:6443\n"
			first := writeFile(t, dir, "first", firstContent)
			userProxy := strings.Replace(simple, "    server: https://10.0.0.1:6443\n", "    server: https://10.0.0.1:6443\n    proxy-url: http://corp:3128\n", 1)
			second := writeFile(t, dir, "second", userProxy)
			kc := first + string(os.PathListSeparator) + second
			s := newSyncer(t, Options{Paths: []string{first, second}})
			ctx := context.Background()
			if err := s.Connect(ctx, Target{Name: "prod", Clusters: []string{"prod", "dev"}}, testProxy); err != nil {
				t.Fatal(err)
			}
			for _, c := range []string{"prod", "dev"} {
				out, err := kubectl(t, bin, kc, "config", "view", "--raw", "-o", proxyJSONPath(c))
				if err != nil || out != testProxy {
					t.Fatalf("kubectl sees proxy-url %q for %s (%v)", out, c, err)
				}
			}
			if out, err := kubectl(t, bin, kc, "config", "current-context"); err != nil || strings.TrimSpace(out) != "prod" {
				t.Fatalf("current-context = %q %v", out, err)
			}
			// kubectl rewrites the file that owns prod (dropping comments, reordering keys).
			if _, err := kubectl(t, bin, kc, "config", "set-cluster", "prod", "--server=https://10.0.0.99:6443"); err != nil {
				t.Fatal(err)
			}
			if out, _ := kubectl(t, bin, kc, "config", "view", "--raw", "-o", proxyJSONPath("prod")); out != testProxy {
				t.Fatalf("kubectl dropped the proxy-url: %q", out)
			}
			if err := s.Disconnect(ctx, "prod"); err != nil {
				t.Fatal(err)
			}
			if out, _ := kubectl(t, bin, kc, "config", "view", "--raw", "-o", proxyJSONPath("prod")); out != "http://corp:3128" {
				t.Errorf("user's proxy-url not restored: %q", out)
			}
			if out, _ := kubectl(t, bin, kc, "config", "view", "--raw", "-o", `jsonpath={.clusters[?(@.name=="prod")].cluster.server}`); out != "https://10.0.0.99:6443" {
				t.Errorf("kubectl's change lost: server %q", out)
			}
			if out, _ := kubectl(t, bin, kc, "config", "view", "--raw", "-o", `jsonpath={.clusters[*].cluster.extensions}`); out != "" {
				t.Errorf("extensions left: %q", out)
			}
			if got := readFile(t, first); got != firstContent {
				t.Errorf("first file not given back:\n%s", got)
			}
		})
	}
}

// TestKubectlConcurrent: `kubectl config set-context`/`set-cluster` in a loop while
// Connect/Disconnect cycle (and Run re-applies): no update from either side is lost,
// and the file parses after every step.
func TestKubectlConcurrent(t *testing.T) {
	bin := testenv.File(t, "/usr/lib/google-cloud-sdk/bin/kubectl.1.33", kubectlInstall)
	p := writeFile(t, t.TempDir(), "config", simple)
	s := newSyncer(t, Options{Paths: []string{p}})
	startRun(t, s)
	ctx := context.Background()
	n := 25
	if testing.Short() {
		n = 8
	}
	// checked reads the file under the lock, as kubectl writes it in place.
	lk := newLocker(testLog(t), 5*time.Second, -1, 0)
	checked := func(what string) string {
		held, err := lk.lockAll(ctx, []string{p})
		if err != nil {
			t.Errorf("%s: lock: %v", what, err)
			return ""
		}
		defer lk.unlockAll(held)
		b, err := os.ReadFile(p)
		if err != nil {
			t.Errorf("%s: %v", what, err)
			return ""
		}
		if _, err := parseDocument(b); err != nil {
			t.Errorf("after %s the file does not parse: %v\n%s", what, err, b)
		}
		return string(b)
	}
	var wg sync.WaitGroup
	var busy atomic.Int32
	wg.Go(func() {
		for i := range n {
			for _, args := range [][]string{
				{"config", "set-context", fmt.Sprintf("ctx-%d", i), "--cluster=prod", "--user=u"},
				{"config", "set-cluster", fmt.Sprintf("c-%d", i), fmt.Sprintf("--server=https://10.1.0.%d:6443", i)},
			} {
				for try := 0; ; try++ {
					_, err := kubectl(t, bin, p, args...)
					if err == nil {
						break
					}
					// kubectl does not wait for a lock: it fails and changes nothing.
					busy.Add(1)
					if !strings.Contains(err.Error(), ".lock: file exists") || try > 200 {
						t.Errorf("kubectl: %v", err)
						return
					}
				}
				checked("kubectl " + args[1])
			}
		}
	})
	wg.Go(func() {
		for i := range n {
			url := fmt.Sprintf("socks5://airlock:pw%d@127.0.0.2:1080", i)
			if err := s.Connect(ctx, prodTarget, url); err != nil {
				t.Errorf("Connect: %v", err)
				return
			}
			// kubectl reads the file before it takes the lock, so one that
			// started before Connect may write back what it read; Run puts
			// the proxy-url back at once.
			settles(t, "after Connect", func() error {
				if got, rec := proxyOf(t, checked("Connect"), "prod"); got != url || !rec {
					return fmt.Errorf("proxy = %q, record %v", got, rec)
				}
				return nil
			})
			if err := s.Disconnect(ctx, "prod"); err != nil {
				t.Errorf("Disconnect: %v", err)
				return
			}
			settles(t, "after Disconnect", func() error {
				if got, rec := proxyOf(t, checked("Disconnect"), "prod"); got != "" || rec {
					return fmt.Errorf("proxy = %q, record %v", got, rec)
				}
				return nil
			})
		}
	})
	wg.Wait()
	t.Logf("kubectl found the lock taken %d times", busy.Load())
	final := checked("the end")
	for i := range n {
		if !strings.Contains(final, fmt.Sprintf("name: ctx-%d\n", i)) || !strings.Contains(final, fmt.Sprintf("name: c-%d\n", i)) {
			t.Errorf("kubectl's update %d was lost:\n%s", i, final)
			break
		}
	}
	if got, rec := proxyOf(t, final, "prod"); got != "" || rec {
		t.Errorf("proxy-url %q, record %v left after the last Disconnect", got, rec)
	}
}

// settles polls cond until it holds (Run re-applies within milliseconds)
// and, when it does not by the test's deadline, marks the test failed with
// its last error. Unlike testenv.Eventually it is safe off the test's
// goroutine.
func settles(t *testing.T, what string, cond func() error) {
	t.Helper()
	if err := testenv.Poll(testenv.Context(t), testenv.Interval, cond); err != nil {
		t.Errorf("%s: %v", what, err)
	}
}
