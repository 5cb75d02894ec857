package daemon_test

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/airlockhq/airlock/daemon"
	"github.com/airlockhq/airlock/daemon/apitype"
	"github.com/airlockhq/airlock/daemon/client"
	"github.com/airlockhq/airlock/daemon/config"
	"github.com/airlockhq/airlock/daemon/kubeconfig"
	"github.com/airlockhq/airlock/internal/testenv"
	"gopkg.in/yaml.v3"
)

// userKubeconfig is a kubeconfig as people keep them: comments, several
// contexts, a user's own proxy-url on an entry Airlock does not map.
const userKubeconfig = `# my clusters — do not lose this comment
apiVersion: v1
kind: Config
clusters:
- name: prod-eks   # production
  cluster:
    server: https://10.0.0.1:6443
    certificate-authority-data: "Zm9v"
- cluster:
    server: 'https://stage.example.com:6443'
  name: stage
- name: home
  cluster:
    server: https://192.168.1.10:6443
    proxy-url: http://corp-proxy:3128
contexts:
- name: prod
  context: {cluster: prod-eks, user: me}
- name: stage
  context:
    cluster: stage
    user: me
current-context: stage
users:
- name: me
  user:
    token: abc
`

// kubeTestConfig maps prod to the entry named prod-eks and stage to the
// entry whose server is stage's URL; plain maps nothing.
func kubeTestConfig() *config.Config {
	no := false
	return &config.Config{
		Edges: []config.Edge{{Name: "main", Address: "127.0.0.1:7844"}},
		Clusters: []config.Cluster{
			{Name: "prod", App: "k8s.prod.example.com", Token: "t", Listen: "127.0.0.1:0",
				Kubeconfig: config.Kubeconfig{Clusters: []string{"prod-eks"}}},
			{Name: "stage", App: "k8s.stage.example.com", Token: "t", Listen: "127.0.0.1:0", Autoconnect: &no,
				Kubeconfig: config.Kubeconfig{Servers: []string{"https://stage.example.com:6443"}}},
			{Name: "plain", App: "k8s.plain.example.com", Token: "t", Listen: "127.0.0.1:0"},
		},
	}
}

// runningDaemon is a daemon in this process that a test can stop itself.
type runningDaemon struct {
	*client.Client
	cancel context.CancelFunc
	done   chan error
	logs   *testenv.Buffer
	once   sync.Once
	err    error
}

func runDaemon(t *testing.T, cfg *config.Config, kopts kubeconfig.Options) *runningDaemon {
	t.Helper()
	dir, err := os.MkdirTemp("", "airlock-k-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	logs := &testenv.Buffer{}
	o := daemon.Options{
		Config:     cfg,
		Socket:     filepath.Join(dir, "airlock.sock"),
		Logger:     slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
		Kubeconfig: kopts,
	}
	withNullEdge(&o)
	d, err := daemon.New(o)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	r := &runningDaemon{Client: &client.Client{Socket: o.Socket}, cancel: cancel, done: make(chan error, 1), logs: logs}
	go func() { r.done <- d.Run(ctx) }()
	t.Cleanup(func() {
		if err := r.stop(); err != nil {
			t.Errorf("daemon stopped with %v", err)
		}
		if t.Failed() {
			t.Logf("daemon logs:\n%s", logs.String())
		}
	})
	testenv.Eventually(t, "the control API answers", func() error {
		_, err := r.Status(ctxT(t))
		return err
	})
	return r
}

// stop cancels the daemon's context and waits for Run to return.
func (r *runningDaemon) stop() error {
	r.once.Do(func() {
		r.cancel()
		select {
		case r.err = <-r.done:
		case <-time.After(15 * time.Second):
			r.err = fmt.Errorf("Run did not return within 15s of cancel")
		}
	})
	return r.err
}

func (r *runningDaemon) cluster(t *testing.T, name string) apitype.Cluster {
	t.Helper()
	st, err := r.Status(ctxT(t))
	if err != nil {
		t.Fatal(err)
	}
	cl := st.FindCluster(name)
	if cl == nil {
		t.Fatalf("no cluster %s", name)
	}
	return *cl
}

// waitKube waits until cluster name's kubeconfig status satisfies ok.
func (r *runningDaemon) waitKube(t *testing.T, name, what string, ok func(k *apitype.Kubeconfig) bool) apitype.Cluster {
	t.Helper()
	var cl apitype.Cluster
	testenv.Eventually(t, name+": "+what, func() error {
		cl = r.cluster(t, name)
		if cl.Kubeconfig != nil && ok(cl.Kubeconfig) {
			return nil
		}
		return fmt.Errorf("kubeconfig status %+v (problem %+v)", cl.Kubeconfig, problemOf(cl.Kubeconfig))
	})
	return cl
}

func problemOf(k *apitype.Kubeconfig) *apitype.Problem {
	if k == nil {
		return nil
	}
	return k.Problem
}

func applied(file, entry string) func(*apitype.Kubeconfig) bool {
	return func(k *apitype.Kubeconfig) bool {
		return k.Problem == nil && slices.Equal(k.Applied, []apitype.KubeconfigEntry{{File: file, Cluster: entry}})
	}
}

// proxyURLs returns each kubeconfig cluster entry's proxy-url.
func proxyURLs(t *testing.T, path string) map[string]string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var kc struct {
		Clusters []struct {
			Name    string
			Cluster struct {
				ProxyURL string `yaml:"proxy-url"`
			}
		}
	}
	if err := yaml.Unmarshal(b, &kc); err != nil {
		t.Fatalf("kubeconfig does not parse: %v\n%s", err, b)
	}
	out := map[string]string{}
	for _, c := range kc.Clusters {
		out[c.Name] = c.Cluster.ProxyURL
	}
	return out
}

func readString(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// replaceByRename replaces path as editors and tools do.
func replaceByRename(t *testing.T, path, content string) {
	t.Helper()
	tmp := path + ".tool-tmp"
	if err := os.WriteFile(tmp, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
}

// TestKubeconfigFollowsClusters runs the daemon over a user's kubeconfig:
// connected clusters' mapped entries carry their proxy-url (and only
// those), disconnect and the daemon's stop give the file back byte for
// byte, and status and the event stream say what was done.
func TestKubeconfigFollowsClusters(t *testing.T) {
	kc := filepath.Join(t.TempDir(), "config")
	if err := os.WriteFile(kc, []byte(userKubeconfig), 0o600); err != nil {
		t.Fatal(err)
	}
	r := runDaemon(t, kubeTestConfig(), kubeconfig.Options{Paths: []string{kc}})
	w, err := r.Watch(ctxT(t))
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()

	prod := r.waitKube(t, "prod", "prod-eks applied", applied(kc, "prod-eks"))
	if got := proxyURLs(t, kc); got["prod-eks"] != prod.ProxyURL || got["stage"] != "" || got["home"] != "http://corp-proxy:3128" {
		t.Fatalf("proxy-urls after start = %v, want prod-eks = %s only", got, prod.ProxyURL)
	}
	if !slices.Equal(prod.Kubeconfig.Clusters, []string{"prod-eks"}) {
		t.Errorf("status mapping = %+v", prod.Kubeconfig)
	}
	st, err := r.Status(ctxT(t))
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(st.KubeconfigFiles, []string{kc}) {
		t.Errorf("status kubeconfig files = %v, want [%s]", st.KubeconfigFiles, kc)
	}
	if k := st.FindCluster("plain").Kubeconfig; k != nil {
		t.Errorf("plain maps nothing but shows %+v", k)
	}
	text := readString(t, kc)
	for _, keep := range []string{"# my clusters — do not lose this comment", "- name: prod-eks   # production", "context: {cluster: prod-eks, user: me}", "current-context: stage"} {
		if !strings.Contains(text, keep) {
			t.Errorf("the file lost %q:\n%s", keep, text)
		}
	}

	// Connect and Disconnect answer after the kubeconfig followed.
	stage, err := r.Connect(ctxT(t), "stage")
	if err != nil {
		t.Fatal(err)
	}
	if !applied(kc, "stage")(stage.Kubeconfig) || proxyURLs(t, kc)["stage"] != stage.ProxyURL {
		t.Fatalf("after connect stage: status %+v, proxy-urls %v", stage.Kubeconfig, proxyURLs(t, kc))
	}
	if _, err := r.Disconnect(ctxT(t), "stage"); err != nil {
		t.Fatal(err)
	}
	if _, err := r.Disconnect(ctxT(t), "prod"); err != nil {
		t.Fatal(err)
	}
	if got := readString(t, kc); got != userKubeconfig {
		t.Fatalf("after disconnecting everything the file is not the original:\n%s", got)
	}
	if _, err := r.Disconnect(ctxT(t), "plain"); err != nil {
		t.Fatal(err)
	}

	// The event stream carried the applied entries.
	sawApplied := false
	for ctx := ctxT(t); !sawApplied; {
		ev, err := w.Next()
		if err != nil || ctx.Err() != nil {
			t.Fatalf("no event with stage's applied entry: %v", err)
		}
		if ev.Type == apitype.EventCluster && ev.Cluster.Name == "stage" && ev.Cluster.Kubeconfig != nil && len(ev.Cluster.Kubeconfig.Applied) == 1 {
			sawApplied = true
		}
	}

	// Connected again, then the daemon stops: the file comes back whole.
	again, err := r.Connect(ctxT(t), "prod")
	if err != nil || proxyURLs(t, kc)["prod-eks"] != again.ProxyURL {
		t.Fatalf("reconnect: %v, proxy-urls %v", err, proxyURLs(t, kc))
	}
	if err := r.stop(); err != nil {
		t.Fatal(err)
	}
	if got := readString(t, kc); got != userKubeconfig {
		t.Fatalf("after the daemon stopped the file is not the original:\n%s", got)
	}
	if !strings.Contains(r.logs.String(), "kubeconfig entries pointed at airlock") {
		t.Errorf("the log does not say what was pointed at airlock:\n%s", r.logs.String())
	}
}

// TestKubeconfigReappliedAfterRewrite: another tool replaces the file (as
// `aws eks update-kubeconfig` or an editor does) and drops the proxy-url;
// the daemon puts it back.
func TestKubeconfigReappliedAfterRewrite(t *testing.T) {
	kc := filepath.Join(t.TempDir(), "config")
	if err := os.WriteFile(kc, []byte(userKubeconfig), 0o600); err != nil {
		t.Fatal(err)
	}
	r := runDaemon(t, kubeTestConfig(), kubeconfig.Options{Paths: []string{kc}})
	prod := r.waitKube(t, "prod", "prod-eks applied", applied(kc, "prod-eks"))
	rewritten := strings.Replace(userKubeconfig, "https://10.0.0.1:6443", "https://10.0.0.9:6443", 1)
	replaceByRename(t, kc, rewritten)
	testenv.Eventually(t, "proxy-url re-applied", func() error {
		if got := proxyURLs(t, kc)["prod-eks"]; got != prod.ProxyURL {
			return fmt.Errorf("prod-eks proxy-url %q", got)
		}
		return nil
	})
	if err := r.stop(); err != nil {
		t.Fatal(err)
	}
	if got := readString(t, kc); got != rewritten {
		t.Fatalf("after stop the file is not the tool's version:\n%s", got)
	}
}

// TestKubeconfigProblemsShown: a kubeconfig the daemon must not or cannot
// write shows in the cluster's status with its cause, nothing is written,
// and once the cause is gone the entry is applied.
func TestKubeconfigProblemsShown(t *testing.T) {
	noProd := strings.Replace(userKubeconfig, "- name: prod-eks   # production", "- name: prod-other", 1)
	tests := []struct {
		name    string
		content string
		mode    os.FileMode
		lock    bool
		code    string
		msg     string
		fix     func(t *testing.T, kc string)
	}{
		{"parse error", "clusters: [unclosed\n", 0o600, false, apitype.KubeconfigParse, "does not parse",
			func(t *testing.T, kc string) { replaceByRename(t, kc, userKubeconfig) }},
		{"entry missing", noProd, 0o600, false, apitype.KubeconfigEntryMissing, `"prod-eks"`,
			func(t *testing.T, kc string) { replaceByRename(t, kc, userKubeconfig) }},
		{"not writable", userKubeconfig, 0o400, false, apitype.KubeconfigNotWritable, "not writable",
			func(t *testing.T, kc string) {
				if err := os.Chmod(kc, 0o600); err != nil {
					t.Fatal(err)
				}
			}},
		{"locked", userKubeconfig, 0o600, true, apitype.KubeconfigLocked, "locked",
			func(t *testing.T, kc string) {
				if err := os.Remove(kc + ".lock"); err != nil {
					t.Fatal(err)
				}
			}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			kc := filepath.Join(t.TempDir(), "config")
			if err := os.WriteFile(kc, []byte(tt.content), tt.mode); err != nil {
				t.Fatal(err)
			}
			if tt.lock {
				// Someone else's lock, fresh: never broken, waited for.
				if err := os.WriteFile(kc+".lock", nil, 0o600); err != nil {
					t.Fatal(err)
				}
			}
			r := runDaemon(t, kubeTestConfig(), kubeconfig.Options{Paths: []string{kc}, LockTimeout: 100 * time.Millisecond, RetryInterval: 50 * time.Millisecond})
			cl := r.waitKube(t, "prod", "problem "+tt.code, func(k *apitype.Kubeconfig) bool {
				return k.Problem != nil && k.Problem.Code == tt.code
			})
			if !strings.Contains(cl.Kubeconfig.Problem.Message, tt.msg) || len(cl.Kubeconfig.Applied) != 0 {
				t.Errorf("status = %+v, problem %+v; want a message with %q and nothing applied", cl.Kubeconfig, cl.Kubeconfig.Problem, tt.msg)
			}
			if cl.State != apitype.StateConnected {
				t.Errorf("a kubeconfig problem changed the tunnel's state to %s", cl.State)
			}
			if got := readString(t, kc); got != tt.content {
				t.Fatalf("the file was written:\n%s", got)
			}
			if !strings.Contains(r.logs.String(), "cause="+tt.code) {
				t.Errorf("the log does not name the cause %s", tt.code)
			}
			tt.fix(t, kc)
			cl = r.waitKube(t, "prod", "applied after the fix", applied(kc, "prod-eks"))
			if got := proxyURLs(t, kc)["prod-eks"]; got != cl.ProxyURL {
				t.Errorf("prod-eks proxy-url %q, want %q", got, cl.ProxyURL)
			}
		})
	}
}

// TestKubeconfigCleanupAtStart: a daemon that crashed left its proxy-url
// and record behind; the next start gives them back, even when the
// configuration no longer maps the entry, and re-applies where it does.
func TestKubeconfigCleanupAtStart(t *testing.T) {
	for _, mapped := range []bool{false, true} {
		t.Run(fmt.Sprintf("mapped=%v", mapped), func(t *testing.T) {
			kc := filepath.Join(t.TempDir(), "config")
			if err := os.WriteFile(kc, []byte(userKubeconfig), 0o600); err != nil {
				t.Fatal(err)
			}
			// What a crashed daemon leaves: its Syncer connected, never
			// disconnected.
			crashed, err := kubeconfig.New(nil, kubeconfig.Options{Paths: []string{kc}})
			if err != nil {
				t.Fatal(err)
			}
			const stale = "socks5://old:gone@127.0.0.1:1"
			if err := crashed.Connect(ctxT(t), kubeconfig.Target{Name: "prod", Clusters: []string{"prod-eks"}}, stale); err != nil {
				t.Fatal(err)
			}
			if proxyURLs(t, kc)["prod-eks"] != stale {
				t.Fatal("setup: stale proxy-url not written")
			}
			cfg := kubeTestConfig()
			if !mapped {
				cfg.Clusters[0].Kubeconfig = config.Kubeconfig{}
			}
			r := runDaemon(t, cfg, kubeconfig.Options{Paths: []string{kc}})
			if mapped {
				prod := r.waitKube(t, "prod", "re-applied", applied(kc, "prod-eks"))
				if got := proxyURLs(t, kc)["prod-eks"]; got != prod.ProxyURL {
					t.Fatalf("prod-eks proxy-url %q, want the new %q", got, prod.ProxyURL)
				}
			} else {
				r.waitKube(t, "stage", "nothing applied", func(k *apitype.Kubeconfig) bool { return len(k.Applied) == 0 })
				if got := readString(t, kc); got != userKubeconfig {
					t.Fatalf("the crash's remains are still there:\n%s", got)
				}
			}
			if err := r.stop(); err != nil {
				t.Fatal(err)
			}
			if got := readString(t, kc); got != userKubeconfig {
				t.Fatalf("after stop the file is not the original:\n%s", got)
			}
		})
	}
}

// TestKubeconfigUntouchedWithoutMapping: a configuration that maps no
// kubeconfig entry never writes the file.
func TestKubeconfigUntouchedWithoutMapping(t *testing.T) {
	kc := filepath.Join(t.TempDir(), "config")
	if err := os.WriteFile(kc, []byte(userKubeconfig), 0o600); err != nil {
		t.Fatal(err)
	}
	before, err := os.Stat(kc)
	if err != nil {
		t.Fatal(err)
	}
	cfg := kubeTestConfig()
	cfg.Clusters[0].Kubeconfig, cfg.Clusters[1].Kubeconfig = config.Kubeconfig{}, config.Kubeconfig{}
	r := runDaemon(t, cfg, kubeconfig.Options{Paths: []string{kc}})
	if _, err := r.Connect(ctxT(t), "stage"); err != nil {
		t.Fatal(err)
	}
	if _, err := r.Disconnect(ctxT(t), "prod"); err != nil {
		t.Fatal(err)
	}
	if err := r.stop(); err != nil {
		t.Fatal(err)
	}
	after, err := os.Stat(kc)
	if err != nil {
		t.Fatal(err)
	}
	if !os.SameFile(before, after) || !after.ModTime().Equal(before.ModTime()) || readString(t, kc) != userKubeconfig {
		t.Error("the kubeconfig was rewritten though nothing maps it")
	}
}

// TestSecondDaemonLeavesKubeconfigAlone: a daemon that finds the socket
// taken must not clean up the running daemon's entries.
func TestSecondDaemonLeavesKubeconfigAlone(t *testing.T) {
	kc := filepath.Join(t.TempDir(), "config")
	if err := os.WriteFile(kc, []byte(userKubeconfig), 0o600); err != nil {
		t.Fatal(err)
	}
	first := runDaemon(t, kubeTestConfig(), kubeconfig.Options{Paths: []string{kc}})
	first.waitKube(t, "prod", "prod-eks applied", applied(kc, "prod-eks"))
	before := readString(t, kc)
	second, err := daemon.New(daemon.Options{Config: kubeTestConfig(), Socket: first.SocketPath(), Kubeconfig: kubeconfig.Options{Paths: []string{kc}}})
	if err != nil {
		t.Fatal(err)
	}
	if err := second.Run(ctxT(t)); err == nil {
		t.Fatal("second daemon ran")
	}
	if got := readString(t, kc); got != before {
		t.Fatalf("the second daemon changed the kubeconfig:\n%s", got)
	}
}
