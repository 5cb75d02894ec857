package daemon_test

import (
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/airlockhq/airlock/daemon"
	"github.com/airlockhq/airlock/daemon/apitype"
	"github.com/airlockhq/airlock/daemon/config"
	"github.com/airlockhq/airlock/daemon/daemontest"
	"github.com/airlockhq/airlock/daemon/signin/signintest"
	"github.com/airlockhq/airlock/daemon/socks/sockstest"
	"github.com/airlockhq/airlock/edge/edgetest"
	"github.com/airlockhq/airlock/internal/testenv"
)

// reloadFiles writes configuration files for a test edge.
type reloadFiles struct {
	path string
	head string // the edges block
}

func newReloadFiles(t *testing.T, e *edgetest.Edge, withAuth bool) *reloadFiles {
	t.Helper()
	dir := t.TempDir()
	ca := filepath.Join(dir, "edge-ca.pem")
	if err := os.WriteFile(ca, e.CAPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	head := fmt.Sprintf("edges:\n  - name: test\n    address: %s\n    ca: edge-ca.pem\n    server_name: %s\n", e.Addr, e.ServerName)
	if withAuth {
		head += "    auth_url: " + e.OAuthURL + "\n"
	}
	return &reloadFiles{path: filepath.Join(dir, "config.yaml"), head: head}
}

// text is the whole file with the clusters block body.
func (f *reloadFiles) text(clusters string) string { return f.head + "clusters:\n" + clusters }

// cluster is one entry of the clusters block.
func cluster(name, app, listen, tok string) string {
	s := fmt.Sprintf("  - name: %s\n    app: %s\n    listen: %s\n", name, app, listen)
	if tok != "" {
		s += "    token: " + tok + "\n"
	}
	return s
}

func (f *reloadFiles) writeInPlace(t *testing.T, clusters string) {
	t.Helper()
	if err := os.WriteFile(f.path, []byte(f.text(clusters)), 0o600); err != nil {
		t.Fatal(err)
	}
}

func (f *reloadFiles) writeByRename(t *testing.T, clusters string) {
	t.Helper()
	replaceByRename(t, f.path, f.text(clusters))
}

// stream is an open SOCKS stream to the echo connector.
type stream struct{ net.Conn }

func openStream(t *testing.T, proxyURL string) stream {
	t.Helper()
	addr, user, pass := proxyParts(t, proxyURL)
	var c net.Conn
	var err error
	for deadline := time.Now().Add(10 * time.Second); ; { // until the connector has joined
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		c, err = sockstest.Dial(ctx, addr, user, pass, "kubernetes.default.svc:443")
		cancel()
		if err == nil || time.Now().After(deadline) {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err != nil {
		t.Fatalf("dial through %s: %v", addr, err)
	}
	t.Cleanup(func() { c.Close() })
	return stream{c}
}

func (s stream) echo(t *testing.T, msg string) {
	t.Helper()
	s.SetDeadline(time.Now().Add(10 * time.Second))
	defer s.SetDeadline(time.Time{})
	if _, err := io.WriteString(s, msg); err != nil {
		t.Fatalf("write: %v", err)
	}
	buf := make([]byte, len(msg))
	if _, err := io.ReadFull(s, buf); err != nil || string(buf) != msg {
		t.Fatalf("echo %q, %v; want %q", buf, err, msg)
	}
}

// waitStatus polls the daemon's status until ok accepts it.
func waitStatus(t *testing.T, d *daemontest.Daemon, what string, ok func(*apitype.Status) bool) *apitype.Status {
	t.Helper()
	var st *apitype.Status
	testenv.Eventually(t, "status to show "+what, func() error {
		var err error
		if st, err = d.Client.Status(ctxT(t)); err != nil {
			return testenv.Stop(err)
		}
		if !ok(st) {
			return fmt.Errorf("status %+v clusters %+v config error %+v", st, st.Clusters, st.ConfigError)
		}
		return nil
	})
	return st
}

// events records the daemon's event stream.
type events struct {
	mu  sync.Mutex
	evs []apitype.Event
}

func watchEvents(t *testing.T, d *daemontest.Daemon) *events {
	t.Helper()
	w, err := d.Client.Watch(ctxT(t))
	if err != nil {
		t.Fatal(err)
	}
	ev := &events{}
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			e, err := w.Next()
			if err != nil {
				return
			}
			ev.mu.Lock()
			ev.evs = append(ev.evs, e)
			ev.mu.Unlock()
		}
	}()
	t.Cleanup(func() { w.Close(); <-done })
	return ev
}

func (e *events) any(ok func(apitype.Event) bool) bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	for _, ev := range e.evs {
		if ok(ev) {
			return true
		}
	}
	return false
}

// TestConfigReload rewrites the configuration file under a running
// daemon, in place and by rename as editors do: clusters are added,
// changed and removed without a restart, an open stream through an
// unchanged cluster keeps flowing, and a broken file leaves the running
// configuration serving while status names the line and the field.
func TestConfigReload(t *testing.T) {
	e := edgetest.Start(t, edgetest.Options{})
	for _, app := range []string{"k8s.a.test", "k8s.b.test", "k8s.c.test"} {
		e.EchoConnector(t, e.CreateTunnel(t, strings.Split(app, ".")[1], app))
	}
	tok := func(app string) string { return e.MintToken(t, app, "alice@example.com", time.Hour) }
	f := newReloadFiles(t, e, false)
	a := cluster("a", "k8s.a.test", "127.0.0.1:0", tok("k8s.a.test"))
	b := cluster("b", "k8s.b.test", "127.0.0.1:0", tok("k8s.b.test"))
	f.writeInPlace(t, a+b)
	cfg, err := config.Load(f.path)
	if err != nil {
		t.Fatal(err)
	}
	d := daemontest.Start(t, cfg, func(o *daemon.Options) { o.Reload.Debounce = 50 * time.Millisecond })
	evs := watchEvents(t, d)
	held := openStream(t, d.ProxyURL(t, "a"))
	held.echo(t, "before")
	aURL := d.ProxyURL(t, "a")

	t.Run("change another cluster in place", func(t *testing.T) {
		bOld := openStream(t, d.ProxyURL(t, "b"))
		bOld.echo(t, "b")
		f.writeInPlace(t, a+cluster("b", "k8s.c.test", "127.0.0.1:0", tok("k8s.c.test")))
		waitStatus(t, d, "b on k8s.c.test", func(st *apitype.Status) bool {
			cl := st.FindCluster("b")
			return cl != nil && cl.App == "k8s.c.test" && cl.State == apitype.StateConnected
		})
		bOld.SetReadDeadline(time.Now().Add(10 * time.Second))
		if _, err := bOld.Read(make([]byte, 1)); err == nil {
			t.Error("a stream through the restarted cluster is still open")
		}
		openStream(t, d.ProxyURL(t, "b")).echo(t, "b on c")
		held.echo(t, "during")
		if got := d.ProxyURL(t, "a"); got != aURL {
			t.Errorf("a's proxy-url changed: %s, was %s", got, aURL)
		}
	})

	cNew := cluster("c", "k8s.c.test", "127.0.0.2:0", tok("k8s.c.test"))
	t.Run("add by rename", func(t *testing.T) {
		f.writeByRename(t, a+cluster("b", "k8s.c.test", "127.0.0.1:0", tok("k8s.c.test"))+cNew)
		waitStatus(t, d, "c connected", func(st *apitype.Status) bool {
			cl := st.FindCluster("c")
			return cl != nil && cl.State == apitype.StateConnected
		})
		openStream(t, d.ProxyURL(t, "c")).echo(t, "c")
		held.echo(t, "after add")
	})

	t.Run("remove", func(t *testing.T) {
		bListen := d.Cluster(t, "b").Listen
		f.writeByRename(t, a+cNew)
		waitStatus(t, d, "b gone", func(st *apitype.Status) bool { return st.FindCluster("b") == nil })
		if c, err := net.Dial("tcp", bListen); err == nil {
			c.Close()
			t.Errorf("the removed cluster's listener %s still accepts", bListen)
		}
		held.echo(t, "after remove")
	})

	t.Run("broken file keeps the running configuration", func(t *testing.T) {
		// Line 13 of the file: the second cluster's listen.
		bad := a + strings.Replace(cNew, "127.0.0.2:0", "10.1.2.3:1080", 1)
		f.writeInPlace(t, bad)
		if n := strings.Count(f.text(bad)[:strings.Index(f.text(bad), "10.1.2.3")], "\n") + 1; n != 13 {
			t.Fatalf("the bad listen is on line %d; fix the test", n)
		}
		st := waitStatus(t, d, "a config error", func(st *apitype.Status) bool { return st.ConfigError != nil })
		ce := st.ConfigError
		if ce.Path != f.path || len(ce.Problems) != 1 || ce.Problems[0].Line != 13 || ce.Problems[0].Field != "clusters[1].listen" ||
			!strings.Contains(ce.Message, f.path+":13: clusters[1].listen") {
			t.Errorf("config error %+v", ce)
		}
		if cl := st.FindCluster("c"); cl == nil || cl.State != apitype.StateConnected {
			t.Errorf("c after a broken file: %+v", cl)
		}
		held.echo(t, "while broken")
		openStream(t, d.ProxyURL(t, "c")).echo(t, "c while broken")
		if !evs.any(func(ev apitype.Event) bool { return ev.Type == apitype.EventStatus && ev.Status.ConfigError != nil }) {
			t.Error("no event carried the config error")
		}
		if !strings.Contains(d.Logs(), "clusters[1].listen") {
			t.Error("the log does not say what is wrong")
		}

		// Fixed, with a change: the fix applies.
		f.writeByRename(t, a+strings.Replace(cNew, "127.0.0.2:0", "127.0.0.3:0", 1))
		waitStatus(t, d, "the fix applied", func(st *apitype.Status) bool {
			cl := st.FindCluster("c")
			return st.ConfigError == nil && cl != nil && strings.HasPrefix(cl.Listen, "127.0.0.3:") && cl.State == apitype.StateConnected
		})
		openStream(t, d.ProxyURL(t, "c")).echo(t, "c fixed")
		held.echo(t, "after the fix")
	})

	t.Run("events", func(t *testing.T) {
		if !evs.any(func(ev apitype.Event) bool {
			return ev.Type == apitype.EventStatus && ev.Status.FindCluster("c") != nil && ev.Status.FindCluster("b") != nil
		}) || !evs.any(func(ev apitype.Event) bool {
			return ev.Type == apitype.EventStatus && ev.Status.FindCluster("b") == nil
		}) {
			t.Error("no status events for the added and removed clusters")
		}
	})
}

// TestConfigReloadSignIn adds a sign-in cluster by editing the file: the
// edge's sign-in starts working without a restart, a changed sign-in
// setting keeps the stored sign-in, and removing the cluster takes the
// sign-in out of the status.
func TestConfigReloadSignIn(t *testing.T) {
	e := edgetest.Start(t, edgetest.Options{})
	e.AddUser(t, "alice@example.com", "alice-password-1")
	e.EchoConnector(t, e.CreateTunnel(t, "a", "k8s.a.test"))
	e.EchoConnector(t, e.CreateTunnel(t, "s", "k8s.s.test"))
	f := newReloadFiles(t, e, true)
	svc := cluster("svc", "k8s.s.test", "127.0.0.1:0", e.MintToken(t, "k8s.s.test", "ci@example.com", time.Hour))
	f.writeInPlace(t, svc)
	cfg, err := config.Load(f.path)
	if err != nil {
		t.Fatal(err)
	}
	browser := signintest.NewFormBrowser(e.HTTPClient(), "alice@example.com", "alice-password-1")
	t.Cleanup(browser.Wait)
	d := daemontest.Start(t, cfg, func(o *daemon.Options) {
		o.Reload.Debounce = 50 * time.Millisecond
		o.SignIn.NoBrowser = false
		o.SignIn.Browser = browser
	})
	if st, _ := d.Client.Status(ctxT(t)); st.TokenStore != nil || st.Edges[0].SignIn != nil {
		t.Fatalf("sign-in shown with no sign-in cluster: %+v %+v", st.TokenStore, st.Edges[0].SignIn)
	}
	held := openStream(t, d.ProxyURL(t, "svc"))
	held.echo(t, "svc")

	user := cluster("demo", "k8s.a.test", "127.0.0.1:0", "")
	f.writeByRename(t, svc+user)
	waitStatus(t, d, "demo and its sign-in", func(st *apitype.Status) bool {
		return st.FindCluster("demo") != nil && st.Edges[0].SignIn != nil && st.TokenStore != nil
	})
	openStream(t, d.ProxyURL(t, "demo")).echo(t, "signed in")
	if n := len(browser.Opened()); n != 1 {
		t.Errorf("the browser opened %d times, want 1", n)
	}
	waitStatus(t, d, "signed in", func(st *apitype.Status) bool {
		return st.Edges[0].SignIn.State == apitype.SignInSignedIn
	})
	held.echo(t, "svc after sign-in")

	// A new sign-in setting replaces the edge's manager; the stored
	// refresh token signs the next connection in without the browser.
	replaceByRename(t, f.path, "sign_in:\n  wait: 45s\n"+f.text(svc+user))
	waitStatus(t, d, "the replaced sign-in", func(st *apitype.Status) bool {
		return st.Edges[0].SignIn != nil && st.Edges[0].SignIn.State == apitype.SignInSignedOut
	})
	openStream(t, d.ProxyURL(t, "demo")).echo(t, "refreshed")
	if n := len(browser.Opened()); n != 1 {
		t.Errorf("the browser opened %d times after the refresh, want 1", n)
	}
	held.echo(t, "svc after the replace")

	f.writeByRename(t, svc)
	waitStatus(t, d, "no sign-in", func(st *apitype.Status) bool {
		return st.FindCluster("demo") == nil && st.Edges[0].SignIn == nil && st.TokenStore == nil
	})
	held.echo(t, "svc at the end")
	if _, err := d.Client.Login(ctxT(t), apitype.LoginRequest{}); err == nil || !strings.Contains(err.Error(), "no cluster uses sign-in") {
		t.Errorf("login with no sign-in cluster: %v", err)
	}
}

// TestConfigReloadKubeconfig maps, remaps and removes clusters by editing
// the file: the user's kubeconfig follows — entries get the proxy-url when
// mapped, move with a new mapping, and are given back byte for byte when
// the cluster goes away.
func TestConfigReloadKubeconfig(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "config.yaml")
	head := "edges:\n  - name: main\n    address: 127.0.0.1:7844\nclusters:\n"
	prod := "  - name: prod\n    app: k8s.prod.example.com\n    token: t\n    listen: 127.0.0.1:0\n"
	write := func(clusters string) { replaceByRename(t, path, head+clusters) }
	write(prod)
	cfg, err := config.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	d := daemontest.Start(t, cfg, func(o *daemon.Options) {
		withNullEdge(o)
		o.Reload.Debounce = 50 * time.Millisecond
	})
	if err := os.WriteFile(d.Kubeconfig, []byte(userKubeconfig), 0o600); err != nil {
		t.Fatal(err)
	}
	prodURL := d.ProxyURL(t, "prod")

	// prod maps prod-eks: the entry gets its proxy-url, prod keeps running.
	write(prod + "    kubeconfig:\n      clusters: [prod-eks]\n")
	testenv.Eventually(t, "prod-eks carries prod's proxy-url", func() error {
		if got := proxyURLs(t, d.Kubeconfig)["prod-eks"]; got != prodURL {
			return fmt.Errorf("prod-eks proxy-url %q", got)
		}
		return nil
	})
	if got := d.ProxyURL(t, "prod"); got != prodURL {
		t.Errorf("mapping restarted prod: %s, was %s", got, prodURL)
	}

	// The mapping moves to stage's entry.
	write(prod + "    kubeconfig:\n      clusters: [stage]\n")
	testenv.Eventually(t, "the mapping moved", func() error {
		urls := proxyURLs(t, d.Kubeconfig)
		if urls["stage"] != prodURL || urls["prod-eks"] != "" {
			return fmt.Errorf("proxy-urls %v", urls)
		}
		return nil
	})

	// prod goes away: the kubeconfig is as the user wrote it.
	write("  - name: other\n    app: k8s.other.example.com\n    token: t\n    listen: 127.0.0.1:0\n")
	testenv.Eventually(t, "the kubeconfig given back", func() error {
		if got := readString(t, d.Kubeconfig); got != userKubeconfig {
			return fmt.Errorf("kubeconfig now:\n%s", got)
		}
		return nil
	})
}
