package demo_test

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/airlockhq/airlock/daemon/signin/signintest"
	"github.com/airlockhq/airlock/internal/systest/demo"
	"github.com/airlockhq/airlock/internal/systest/stack"
	"github.com/airlockhq/airlock/internal/testenv"
)

// TestDemo runs `make demo`'s program, airlock-demo, as a newcomer would —
// against the real airlock binaries, a real kube-apiserver and the real
// kubectl — in each unattended browser mode: `airlock join LINK` into a
// fresh home signs in and adds a context, kubectl through it is the person
// at the kube-apiserver (auth whoami: email and group; RBAC by the group:
// a configmap may be created, a namespace not deleted, 403) with no client
// certificate in the kubeconfig, `airlock status` shows the signed-in user,
// and a SIGINT stops everything with every program exiting 0.
func TestDemo(t *testing.T) {
	bin := needDemo(t)
	t.Run("form", func(t *testing.T) {
		d := startDemo(t, bin, "-browser", "form")
		d.waitFor(t, "Press Ctrl-C to stop.")
		out := d.checkJoined(t)
		for _, want := range []string{
			"fetching the edge's login page over HTTP",
			"signing in as " + stack.DefaultEmail,
			`redirected back to the daemon (http://127.0.0.1:`,
		} {
			if !strings.Contains(out, want) {
				t.Errorf("the output lacks %q:\n%s", want, out)
			}
		}

		// What the summary says to try, in another shell.
		if got := d.shell(t, "kubectl auth whoami -o jsonpath='{.status.userInfo.username} {.status.userInfo.groups}'"); !strings.Contains(got, stack.DefaultEmail+" ") || !strings.Contains(got, "airlock:developers") {
			t.Errorf("kubectl auth whoami in another shell: %q", got)
		}
		if got := d.shell(t, "kubectl create configmap hello --from-literal=from=airlock -o name"); strings.TrimSpace(got) != "configmap/hello" {
			t.Errorf("kubectl create configmap: %q", got)
		}
		if got, err := d.shellErr("kubectl delete namespace default"); err == nil || !strings.Contains(got, "Forbidden") || !strings.Contains(got, `User "`+stack.DefaultEmail+`" cannot delete`) {
			t.Errorf("kubectl delete namespace default: %v: %q, want the API server's 403 for the person", err, got)
		}

		// Signed out, the next kubectl signs in again by itself.
		mark := len(d.output())
		d.shell(t, "airlock logout")
		if got := d.shell(t, "kubectl get namespaces default -o name"); strings.TrimSpace(got) != "namespace/default" {
			t.Fatalf("kubectl after logout: %q", got)
		}
		d.waitFrom(t, mark, "signed in at edge local as "+stack.DefaultEmail)
		again := d.output()[mark:]
		for _, want := range []string{"Signed out at edge local", "signing in as " + stack.DefaultEmail, "redirected back to the daemon"} {
			if !strings.Contains(again, want) {
				t.Errorf("after logout and kubectl, the output lacks %q:\n%s", want, again)
			}
		}

		// airlock leave removes what join wrote.
		d.shell(t, "airlock leave")
		home := filepath.Join(d.dir, "person", "home")
		for _, f := range []string{filepath.Join(home, ".kube", "config"), filepath.Join(home, ".config", "airlock", "config.yaml")} {
			if _, err := os.Stat(f); !os.IsNotExist(err) {
				t.Errorf("%s after airlock leave: %v, want it gone (join created it)", f, err)
			}
		}
		d.interrupt(t)
	})
	t.Run("chromium", func(t *testing.T) {
		testenv.File(t, demo.DefaultChromium, "apt-get install chromium")
		d := startDemo(t, bin, "-browser", "chromium")
		d.waitFor(t, "Press Ctrl-C to stop.")
		out := d.checkJoined(t)
		for _, want := range []string{
			"opening the edge's login page in headless Chromium…",
			"signing in as " + stack.DefaultEmail + "…",
			`redirected back to the daemon (http://127.0.0.1:`,
			`"Signed in"`,
		} {
			if !strings.Contains(out, want) {
				t.Errorf("the output lacks %q:\n%s", want, out)
			}
		}
		d.interrupt(t)
	})
	t.Run("device flow", func(t *testing.T) {
		d := startDemo(t, bin, "-browser", "none")
		d.waitFor(t, "waiting for you to sign in…")
		out := d.output()
		m := regexp.MustCompile(`Open +(https://\S+)\n +code +(\S+)\n +sign in as (\S+) with password (\S+)`).FindStringSubmatch(out)
		if m == nil {
			t.Fatalf("no device URL, code and password in the output:\n%s", out)
		}
		// The printed URL is one a browser on this machine opens: the
		// edge's address, on its certificate.
		page, err := signintest.ApproveDevice(context.Background(), edgeClient(t, d.dir), m[1], m[2], m[3], m[4])
		if err != nil {
			t.Fatalf("approve the device at %s: %v (%s)", m[1], err, page)
		}
		d.waitFor(t, "Press Ctrl-C to stop.")
		d.checkJoined(t)
		d.interrupt(t)
	})
	t.Run("system browser", func(t *testing.T) {
		// A desktop whose xdg-open hands the URL to the test, which signs
		// in as the person would, with the printed password, at the URL
		// the demo opened.
		fake := t.TempDir()
		urls := filepath.Join(fake, "urls")
		script := "#!/bin/sh\nprintf '%s\\n' \"$1\" >> '" + urls + "'\n"
		if err := os.WriteFile(filepath.Join(fake, "xdg-open"), []byte(script), 0o755); err != nil {
			t.Fatal(err)
		}
		d := startDemoEnv(t, bin, []string{"DISPLAY=:99", "PATH=" + fake + string(os.PathListSeparator) + os.Getenv("PATH")})
		d.waitFor(t, "waiting for you to sign in…")
		out := d.output()
		if !strings.Contains(out, "system — your own browser (auto: a desktop session, $DISPLAY)") {
			t.Errorf("auto did not pick the system browser on a desktop:\n%s", out)
		}
		m := regexp.MustCompile(`Sign in as (\S+) with password (\S+)\n +\(if no browser opened, open (\S+)\)`).FindStringSubmatch(out)
		if m == nil {
			t.Fatalf("no user, password and URL in the output:\n%s", out)
		}
		data, err := os.ReadFile(urls)
		if err != nil {
			t.Fatalf("xdg-open was not run: %v", err)
		}
		// xdg-open gets the daemon's redirect page, never the sign-in URL
		// (its state and PKCE challenge would be in every user's view of
		// the process list); the page leads to what the demo printed.
		arg := strings.TrimSpace(string(data))
		opened := signintest.Followed(t, arg)
		if opened != m[3] || !strings.HasPrefix(opened, "https://127.") {
			t.Fatalf("xdg-open got %q, leading to %q; the demo printed %q; want the edge's address", arg, opened, m[3])
		}
		page, err := signintest.SignIn(context.Background(), edgeClient(t, d.dir), opened, m[1], m[2])
		if err != nil || !strings.Contains(page, "Signed in") {
			t.Fatalf("sign in at %s: %v (%s)", opened, err, page)
		}
		d.waitFor(t, "Press Ctrl-C to stop.")
		d.checkJoined(t)
		d.interrupt(t)
	})
	t.Run("service token", func(t *testing.T) {
		d := startDemo(t, bin, "-token")
		d.waitFor(t, "Press Ctrl-C to stop.")
		out := d.output()
		if !strings.Contains(out, "kube-system") || strings.Contains(out, "password") || strings.Contains(out, "signed in") {
			t.Errorf("the service-token demo's output:\n%s", out)
		}
		d.interrupt(t)
	})
}

// needDemo builds the airlock programs and airlock-demo (once per test
// run) and returns their folder; it skips in -short mode and without
// kubectl (failing under CI).
func needDemo(t *testing.T) string {
	t.Helper()
	if testing.Short() {
		t.Skip("end-to-end test: not in -short mode")
	}
	testenv.LookPath(t, "kubectl", "apt-get install kubectl")
	return testenv.BuildBinaries(t, append(stack.Packages(), "github.com/airlockhq/airlock/internal/systest/cmd/airlock-demo")...)
}

// demoProc is a running airlock-demo.
type demoProc struct {
	dir       string
	kubeCache string // kubectl's cache, not the user's
	cmd       *exec.Cmd
	out       *testenv.Buffer
	done      chan struct{}
	err       error
}

func startDemo(t *testing.T, bin string, args ...string) *demoProc {
	t.Helper()
	return startDemoEnv(t, bin, nil, args...)
}

// startDemoEnv starts airlock-demo with env added to the environment
// (where no desktop session is, unless env names one).
func startDemoEnv(t *testing.T, bin string, env []string, args ...string) *demoProc {
	t.Helper()
	d := &demoProc{dir: t.TempDir(), kubeCache: t.TempDir(), out: &testenv.Buffer{}, done: make(chan struct{})}
	d.cmd = exec.Command(filepath.Join(bin, "airlock-demo"), append([]string{"-bin", bin, "-dir", d.dir}, args...)...)
	d.cmd.Env = append(os.Environ(), "KUBECACHEDIR="+d.kubeCache, "DISPLAY=", "WAYLAND_DISPLAY=")
	d.cmd.Env = append(d.cmd.Env, env...)
	d.cmd.Stdout, d.cmd.Stderr = d.out, d.out
	if err := d.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		d.err = d.cmd.Wait()
		close(d.done)
	}()
	t.Cleanup(func() {
		select {
		case <-d.done:
		default:
			_ = d.cmd.Process.Signal(syscall.SIGINT)
			select {
			case <-d.done:
			case <-time.After(time.Minute):
				_ = d.cmd.Process.Kill()
				<-d.done
			}
		}
		if t.Failed() {
			if log, err := os.ReadFile(filepath.Join(d.dir, "demo.log")); err == nil {
				t.Logf("demo.log:\n%s", tail(string(log), 8000))
			}
		}
	})
	return d
}

func (d *demoProc) output() string { return d.out.String() }

// waitFor waits until the output has s.
func (d *demoProc) waitFor(t *testing.T, s string) {
	t.Helper()
	d.waitFrom(t, 0, s)
}

// waitFrom waits until the output after its first from bytes has s.
func (d *demoProc) waitFrom(t *testing.T, from int, s string) {
	t.Helper()
	testenv.Eventually(t, fmt.Sprintf("airlock-demo to print %q", s), func() error {
		if strings.Contains(d.output()[from:], s) {
			return nil
		}
		select {
		case <-d.done:
			if strings.Contains(d.output()[from:], s) {
				return nil
			}
			return testenv.Stop(fmt.Errorf("airlock-demo exited (%v) before printing it:\n%s", d.err, d.output()))
		default:
			return fmt.Errorf("not printed yet:\n%s", d.output())
		}
	})
}

// checkJoined checks that `airlock join` signed in and added the context,
// that kubectl through it listed the namespaces and was the person at the
// API server, that the kubeconfig holds no client certificate, that status
// shows the signed-in user, and that the password is in no log.
func (d *demoProc) checkJoined(t *testing.T) string {
	t.Helper()
	out := d.output()
	m := regexp.MustCompile(`password +(\S+)`).FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("no password in the output:\n%s", out)
	}
	for _, want := range []string{
		"$ airlock join ",
		" 'airlock://join?edge=https%3A%2F%2F127.",
		"&ca=sha256%3A",
		"the daemon holds the connection and asks for a sign-in at edge local",
		"Joined local.",
		"kubeconfig contexts added to " + filepath.Join(d.dir, "person", "home", ".kube", "config") + ": local-demo",
		"$ kubectl --context local-demo get namespaces",
		"kube-system",
		"$ kubectl --context local-demo auth whoami",
		"local: signed in as " + stack.DefaultEmail,
		"The refresh token is in ",
		"airlock leave",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("the output lacks %q:\n%s", want, out)
		}
	}
	if !regexp.MustCompile(`Username +`+regexp.QuoteMeta(stack.DefaultEmail)).MatchString(out) || !regexp.MustCompile(`Groups +\[airlock:developers system:authenticated\]`).MatchString(out) {
		t.Errorf("kubectl auth whoami does not show the person's email and group:\n%s", out)
	}
	if strings.Contains(out, "Signed out at edge local") {
		t.Errorf("the demo reports a sign-out during the join:\n%s", out)
	}
	if i, j := strings.Index(out, "$ kubectl --context local-demo get namespaces"), strings.Index(out, "kube-system"); i < 0 || j < i {
		t.Errorf("kubectl's output does not follow its command:\n%s", out)
	}
	kc, err := os.ReadFile(filepath.Join(d.dir, "person", "home", ".kube", "config"))
	if err != nil {
		t.Fatal(err)
	}
	for _, bad := range []string{"client-certificate", "client-key", "token:"} {
		if bytes.Contains(kc, []byte(bad)) {
			t.Errorf("the kubeconfig join wrote holds %q:\n%s", bad, kc)
		}
	}
	if !bytes.Contains(kc, []byte("- credential")) {
		t.Errorf("the kubeconfig's user is not the exec plugin airlock credential:\n%s", kc)
	}
	log, err := os.ReadFile(filepath.Join(d.dir, "demo.log"))
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(log, []byte(m[1])) {
		t.Errorf("the password appears in demo.log")
	}
	return out
}

// shell runs a command in sh after sourcing the demo's env file, as the
// summary tells people to.
func (d *demoProc) shell(t *testing.T, command string) string {
	t.Helper()
	cmd := exec.Command("sh", "-c", ". "+filepath.Join(d.dir, "env")+" && "+command)
	cmd.Env = append(os.Environ(), "KUBECACHEDIR="+d.kubeCache)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%s: %v\n%s", command, err, out)
	}
	return string(out)
}

// shellErr is shell for a command that may fail: its output and error.
func (d *demoProc) shellErr(command string) (string, error) {
	cmd := exec.Command("sh", "-c", ". "+filepath.Join(d.dir, "env")+" && "+command)
	cmd.Env = append(os.Environ(), "KUBECACHEDIR="+d.kubeCache)
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// interrupt sends SIGINT (Ctrl-C) and checks that the demo stops every
// program cleanly and exits 0.
func (d *demoProc) interrupt(t *testing.T) {
	t.Helper()
	if err := d.cmd.Process.Signal(syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	select {
	case <-d.done:
	case <-time.After(2 * time.Minute):
		t.Fatalf("airlock-demo did not exit within 2 minutes of SIGINT:\n%s", d.output())
	}
	if d.err != nil {
		t.Fatalf("airlock-demo exited with %v after SIGINT:\n%s", d.err, d.output())
	}
	if !strings.Contains(d.output(), "every program exited cleanly (status 0)") {
		t.Fatalf("the demo did not report a clean stop:\n%s", d.output())
	}
}

// edgeClient trusts the demo edge's CA, as a browser whose user accepted
// it would.
func edgeClient(t *testing.T, dir string) *http.Client {
	t.Helper()
	ca, err := os.ReadFile(filepath.Join(dir, "edge", "ca.crt"))
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(ca) {
		t.Fatal("no certificate in the edge's ca.crt")
	}
	return &http.Client{
		Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}},
		Timeout:   time.Minute,
	}
}

func tail(s string, n int) string {
	if len(s) > n {
		return "…" + s[len(s)-n:]
	}
	return s
}
