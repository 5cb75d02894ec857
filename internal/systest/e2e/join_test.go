package e2e

import (
	"bytes"
	"context"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/airlockhq/airlock/daemon/apitype"
	"github.com/airlockhq/airlock/daemon/client"
	"github.com/airlockhq/airlock/daemon/signin/signintest"
	"github.com/airlockhq/airlock/edge"
	"github.com/airlockhq/airlock/internal/systest/demo"
	"github.com/airlockhq/airlock/internal/systest/kapitest"
	"github.com/airlockhq/airlock/internal/systest/stack"
	"github.com/airlockhq/airlock/internal/testenv"
)

// TestJoinWalkthrough is issue 13's walkthrough, as a new user lives it: a
// fresh $HOME, a running edge with two apps in front of a real
// kube-apiserver (one whose API server trusts the edge as its OIDC issuer,
// one without an identity from us) and a connector. No daemon runs and
// there is no configuration: `airlock doctor` says to join, and `airlock
// join LINK` (the invitation the operator's `airlock-edge invite` prints)
// starts the daemon, signs in through headless Chromium and writes
// everything; plain `kubectl --context … get ns` works
// as the person for the OIDC app and reaches the API server (which refuses
// the anonymous user) for the other; no file is written by hand. Revoking
// the person's access to the second app removes its entries at the next
// `airlock sync`; `airlock leave` gives the home folder back exactly.
func TestJoinWalkthrough(t *testing.T) {
	chromium := testenv.LookPath(t, "chromium", "apt-get install chromium")
	kubectlBin := testenv.File(t, "/usr/bin/kubectl", "apt-get install kubectl")
	dir := t.TempDir()

	// The operator's side: the edge, two apps, the API server.
	const email, password = "alice@airlock.test", "alice-password-1"
	const labApp = "k8s.lab.airlock.test"
	s := startStack(t, stack.Options{
		Email: email,
		SignIn: &stack.SignIn{
			Users: []stack.User{{Email: email, Password: password, Groups: []string{"dev"}}},
		},
		ExtraClusters: []stack.Cluster{{Name: "lab", App: labApp, SignIn: true}},
		KubeAPI:       kapitest.Options{JWTAuthn: true},
		NoDaemon:      true,
	})
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	const audience = "kubernetes:demo"
	edgeConfig := filepath.Join(s.EdgeDir, "config.yaml")
	if _, err := edge.UpdateConfig(edgeConfig, func(c *edge.Config) error {
		c.PublicURL = s.AuthURL // the API server fetches the issuer's keys there
		c.FleetName = "acme"
		for i := range c.Apps {
			a := &c.Apps[i]
			switch a.Hostname {
			case s.App:
				a.Name, a.DisplayName = "demo", "Demo cluster"
				a.Kubernetes = &edge.AppKubernetes{Server: stack.KubeServer, CAData: string(s.KubeAPI.CAPEM), OIDC: &edge.KubeOIDC{Audience: audience}}
			case labApp:
				a.Name = "lab"
				a.Kubernetes = &edge.AppKubernetes{Server: stack.KubeServer, CAData: string(s.KubeAPI.CAPEM)}
			}
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	trustEdge(ctx, t, s, kubectlBin, "/.well-known/airlock-configuration", func(b []byte) error {
		if !bytes.Contains(b, []byte(`"fleet":"acme"`)) {
			return fmt.Errorf("configuration %s", b)
		}
		return nil
	})
	link, err := s.Invite(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(link, "ca=sha256") {
		t.Fatalf("airlock-edge invite printed no link with the CA: %s", link)
	}

	// The person's side: a fresh home, no daemon yet.
	home := filepath.Join(dir, "home")
	run := filepath.Join(dir, "run")
	urls := filepath.Join(dir, "browser-urls")
	browser := filepath.Join(dir, "browser")
	for _, d := range []string{home, run} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(browser, []byte("#!/bin/sh\nprintf '%s\\n' \"$1\" >> '"+urls+"'\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	env := []string{"HOME=" + home, "XDG_RUNTIME_DIR=" + run, "XDG_CONFIG_HOME=", "XDG_STATE_HOME=", "XDG_CACHE_HOME=",
		"KUBECONFIG=", "KUBECACHEDIR=" + filepath.Join(dir, "kubectl-cache"), "BROWSER=" + browser, "DBUS_SESSION_BUS_ADDRESS=unix:path=" + filepath.Join(dir, "no-bus")}
	before := tree(t, home)
	socket := filepath.Join(run, "airlock", "airlock.sock")
	c := &client.Client{Socket: socket}
	daemonLog := func() string {
		data, _ := os.ReadFile(filepath.Join(home, ".local", "state", "airlock", "daemon.log"))
		return string(data)
	}
	airlock := func(args ...string) (string, error) {
		cmd := exec.CommandContext(ctx, filepath.Join(s.Bin, "airlock"), args...)
		cmd.Env = append(os.Environ(), env...)
		out, err := cmd.CombinedOutput()
		return string(out), err
	}
	kubectl := func(args ...string) (string, string, error) {
		cmd := exec.CommandContext(ctx, kubectlBin, args...)
		cmd.Env = append(os.Environ(), env...)
		var stdout, stderr bytes.Buffer
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		err := cmd.Run()
		return stdout.String(), stderr.String(), err
	}

	// Before: doctor says what to do.
	if out, _ := airlock("doctor"); !strings.Contains(out, "airlock join") {
		t.Errorf("airlock doctor on a fresh machine does not point at airlock join:\n%s", out)
	}

	// airlock join LINK: the one command the person types. No daemon runs
	// yet (no session unit in this test): join starts one.
	type result struct {
		out string
		err error
	}
	joined := make(chan result, 1)
	go func() {
		out, err := airlock("join", link)
		joined <- result{out, err}
	}()
	var signInURL string
	testenv.Eventually(t, "the daemon to open the browser", func() error {
		if data, _ := os.ReadFile(urls); len(data) > 0 {
			signInURL = strings.TrimSpace(strings.SplitN(string(data), "\n", 2)[0])
			return nil
		}
		select {
		case r := <-joined:
			t.Fatalf("airlock join ended before the sign-in: %v\n%s\ndaemon:\n%s", r.err, r.out, daemonLog())
		default:
		}
		return fmt.Errorf("no browser opened yet")
	})
	loc, title, err := demo.ChromiumSignIn(ctx, chromium, filepath.Join(dir, "chromium"), s, signintest.Followed(t, signInURL), email, password, t.Logf)
	if err != nil || !strings.HasPrefix(loc, "http://127.0.0.1:") || !strings.Contains(title, "Signed in") {
		t.Fatalf("sign in with Chromium: %v: ended at %s (%q); daemon:\n%s", err, loc, title, daemonLog())
	}
	r := <-joined
	if st, err := c.Status(ctx); err == nil {
		pid := st.PID
		t.Cleanup(func() { syscall.Kill(pid, syscall.SIGTERM) })
	}
	if r.err != nil {
		t.Fatalf("airlock join: %v\n%s\ndaemon:\n%s", r.err, r.out, daemonLog())
	}
	t.Logf("airlock join said:\n%s", r.out)
	for _, want := range []string{"Started the Airlock daemon", "Joined acme", "acme-demo", "acme-lab", "kubeconfig contexts added"} {
		if !strings.Contains(r.out, want) {
			t.Errorf("airlock join's output lacks %q:\n%s", want, r.out)
		}
	}

	t.Run("kubectl as the person through the OIDC app", func(t *testing.T) {
		testenv.Eventually(t, "kubectl --context acme-demo get ns", func() error {
			out, errOut, err := kubectl("--context", "acme-demo", "get", "ns")
			if err != nil || !strings.Contains(out, "default") {
				return fmt.Errorf("%v: %s%s", err, out, errOut)
			}
			return nil
		})
		out, errOut, err := kubectl("--context", "acme-demo", "auth", "whoami")
		if err != nil || !strings.Contains(out, email) || !strings.Contains(out, "airlock:dev") {
			t.Fatalf("auth whoami: %v: %s%s", err, out, errOut)
		}
		if out, _, _ := kubectl("config", "current-context"); strings.TrimSpace(out) != "acme-demo" {
			t.Errorf("current-context %q, want acme-demo (the kubeconfig had none)", out)
		}
	})
	t.Run("the app without an identity reaches the API server", func(t *testing.T) {
		// No credential from us: the user entry is the person's to fill
		// (kubectl would prompt for a username). With a token of their own
		// on the command line, the request goes through Airlock to the API
		// server, whose certificate kubectl checks against the catalogue's
		// CA data, and which answers for the credential: 401 for this one.
		_, errOut, err := kubectl("--context", "acme-lab", "--token", "not-a-real-token", "get", "ns")
		if err == nil || !strings.Contains(errOut, "Unauthorized") {
			t.Fatalf("kubectl --context acme-lab: %v: %q, want the API server's 401\ndaemon:\n%s", err, errOut, daemonLog())
		}
	})

	// The operator revokes the person's access to the lab app.
	if _, err := edge.UpdateConfig(edgeConfig, func(c *edge.Config) error {
		for i := range c.Apps {
			if c.Apps[i].Hostname == labApp {
				c.Apps[i].Policy.Deny.Emails = []string{email}
			}
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	testenv.Eventually(t, "airlock sync to remove the lab app's entries", func() error {
		out, err := airlock("sync")
		if err != nil {
			return fmt.Errorf("%v: %s", err, out)
		}
		if !strings.Contains(out, "removed") || !strings.Contains(out, "acme-lab") {
			return fmt.Errorf("sync said:\n%s", out)
		}
		return nil
	})
	kc, _ := os.ReadFile(filepath.Join(home, ".kube", "config"))
	if bytes.Contains(kc, []byte("acme-lab")) || !bytes.Contains(kc, []byte("acme-demo")) {
		t.Fatalf("kubeconfig after the sync:\n%s", kc)
	}
	st, err := c.Status(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(st.Catalogues) != 1 || len(st.Catalogues[0].Apps) != 1 || st.Catalogues[0].Synced.IsZero() {
		t.Fatalf("status catalogues %+v", st.Catalogues)
	}
	if st.Catalogues[0].Apps[0].Cluster != "acme-demo" || findCluster(st, "acme-lab") {
		t.Fatalf("status after the sync: %+v", st)
	}

	// airlock leave gives the home folder back as it was.
	out, err := airlock("leave")
	if err != nil {
		t.Fatalf("airlock leave: %v\n%s\ndaemon:\n%s", err, out, daemonLog())
	}
	t.Logf("airlock leave said:\n%s", out)
	after := tree(t, home)
	if before != after {
		t.Fatalf("the home folder is not as before the join:\nbefore:\n%s\nafter:\n%s", before, after)
	}

	// Join again, into a home that holds the person's own kubeconfig and
	// configuration file (comments, their own entries, a current-context):
	// the running daemon follows the new file, and leave gives both back
	// byte for byte.
	t.Run("join again and leave over the person's own files", func(t *testing.T) {
		own := map[string]string{
			filepath.Join(home, ".kube", "config"): `# my clusters
apiVersion: v1
kind: Config
clusters:
  - name: mine   # the office cluster
    cluster:
      server: https://mine.example.com:6443
contexts:
  - name: mine
    context: {cluster: mine, user: me}
users:
  - name: me
    user:
      token: my-own-token
current-context: mine
`,
			filepath.Join(home, ".config", "airlock", "config.yaml"): "# my airlock settings\nbrowser: " + browser + "\n",
		}
		for p, content := range own {
			if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
				t.Fatal(err)
			}
		}
		before := tree(t, home)
		os.Remove(urls)
		joined := make(chan result, 1)
		go func() {
			out, err := airlock("join", link)
			joined <- result{out, err}
		}()
		var signInURL string
		testenv.Eventually(t, "the daemon to open the browser again", func() error {
			if data, _ := os.ReadFile(urls); len(data) > 0 {
				signInURL = strings.TrimSpace(strings.SplitN(string(data), "\n", 2)[0])
				return nil
			}
			select {
			case r := <-joined:
				t.Fatalf("airlock join ended before the sign-in: %v\n%s\ndaemon:\n%s", r.err, r.out, daemonLog())
			default:
			}
			return fmt.Errorf("no browser opened yet")
		})
		if _, _, err := demo.ChromiumSignIn(ctx, chromium, filepath.Join(dir, "chromium2"), s, signintest.Followed(t, signInURL), email, password, t.Logf); err != nil {
			t.Fatalf("sign in again: %v", err)
		}
		r := <-joined
		if r.err != nil || !strings.Contains(r.out, "acme-demo") || strings.Contains(r.out, "current-context is now") {
			t.Fatalf("airlock join again: %v\n%s", r.err, r.out)
		}
		if out, errOut, err := kubectl("--context", "acme-demo", "get", "ns"); err != nil || !strings.Contains(out, "default") {
			t.Fatalf("kubectl --context acme-demo after joining again: %v: %s%s", err, out, errOut)
		}
		if out, _, _ := kubectl("config", "current-context"); strings.TrimSpace(out) != "mine" {
			t.Errorf("current-context %q: join changed the person's", out)
		}
		if out, err := airlock("leave"); err != nil {
			t.Fatalf("airlock leave: %v\n%s", err, out)
		}
		if after := tree(t, home); after != before {
			t.Fatalf("the person's files are not as before:\nbefore:\n%s\nafter:\n%s", before, after)
		}
	})
	if out := daemonLog(); strings.Contains(out, "alr_") || strings.Contains(out, "eyJ") || strings.Contains(out, password) {
		t.Errorf("a token or password appears in the daemon's log")
	}
}

// tree lists every file under root with its size and content hash, except
// the daemon's state folder (its token file and remembered choices), as a
// comparable text.
func tree(t *testing.T, root string) string {
	t.Helper()
	var lines []string
	filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return nil
		}
		rel, _ := filepath.Rel(root, p)
		if rel == filepath.Join(".local", "state") || strings.HasPrefix(rel, filepath.Join(".local", "state")+string(filepath.Separator)) {
			return filepath.SkipDir
		}
		if d.IsDir() {
			if rel != "." && rel != ".local" {
				lines = append(lines, rel+"/")
			}
			return nil
		}
		data, _ := os.ReadFile(p)
		lines = append(lines, fmt.Sprintf("%s %d %q", rel, len(data), data))
		return nil
	})
	sort.Strings(lines)
	return strings.Join(lines, "\n")
}

func findCluster(st *apitype.Status, name string) bool {
	for _, c := range st.Clusters {
		if c.Name == name {
			return true
		}
	}
	return false
}
