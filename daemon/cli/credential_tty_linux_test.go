package cli_test

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/airlockhq/airlock/daemon"
	"github.com/airlockhq/airlock/daemon/cli"
	"github.com/airlockhq/airlock/daemon/config"
	"github.com/airlockhq/airlock/daemon/daemontest"
	"github.com/airlockhq/airlock/daemon/signin/signintest"
	"github.com/airlockhq/airlock/edge"
	"github.com/airlockhq/airlock/edge/edgetest"
)

// openPTY returns a pseudo-terminal's master and its terminal end.
func openPTY(tb testing.TB) (master, tty *os.File) {
	tb.Helper()
	m, err := os.OpenFile("/dev/ptmx", os.O_RDWR|syscall.O_NOCTTY, 0)
	if err != nil {
		tb.Fatalf("open /dev/ptmx: %v", err)
	}
	tb.Cleanup(func() { m.Close() })
	n, err := unix.IoctlGetInt(int(m.Fd()), unix.TIOCGPTN)
	if err != nil {
		tb.Fatalf("TIOCGPTN: %v", err)
	}
	if err := unix.IoctlSetPointerInt(int(m.Fd()), unix.TIOCSPTLCK, 0); err != nil {
		tb.Fatalf("unlock the pty: %v", err)
	}
	s, err := os.OpenFile(fmt.Sprintf("/dev/pts/%d", n), os.O_RDWR|syscall.O_NOCTTY, 0)
	if err != nil {
		tb.Fatalf("open the pty: %v", err)
	}
	tb.Cleanup(func() { s.Close() })
	return m, s
}

// TestCredentialTellsWhereToSignIn: on a terminal, `airlock credential`
// says where to sign in while it waits, then prints the credential once
// the person has signed in.
func TestCredentialTellsWhereToSignIn(t *testing.T) {
	e := edgetest.Start(t, edgetest.Options{})
	e.AddUser(t, "alice@example.com", "alice-password-1")
	e.CreateTunnel(t, "demo", "k8s.demo.test")
	e.UpdateConfig(t, func(c *edge.Config) error {
		c.Apps[0].Kubernetes = &edge.AppKubernetes{OIDC: &edge.KubeOIDC{Audience: "kubernetes:demo"}}
		return nil
	})
	cfg := &config.Config{
		Edges:    []config.Edge{{Name: "test", Address: e.Addr, CA: string(e.CAPEM), ServerName: e.ServerName, AuthURL: e.OAuthURL}},
		Clusters: []config.Cluster{{Name: "demo", App: "k8s.demo.test"}},
	}
	browser := signintest.NewFormBrowser(e.HTTPClient(), "alice@example.com", "alice-password-1")
	t.Cleanup(browser.Wait)
	release := browser.Hold()
	t.Cleanup(release)
	d := daemontest.Start(t, cfg, func(o *daemon.Options) {
		o.SignIn.NoBrowser, o.SignIn.Browser = false, browser
	})
	master, tty := openPTY(t)
	lines := make(chan string, 16)
	go func() {
		sc := bufio.NewScanner(master)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
	}()
	var out syncBuf
	done := make(chan int, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		defer cancel()
		done <- cli.Main(ctx, []string{"credential", "--cluster", "demo", "--socket", d.Socket}, cli.Env{Stdout: &out, Stderr: tty, Getenv: func(string) string { return "" }})
	}()
	var said string
	for said == "" {
		select {
		case l, ok := <-lines:
			if !ok {
				t.Fatal("the terminal closed")
			}
			if strings.Contains(l, "cluster demo: sign-in needed: open "+e.OAuthURL) {
				said = l
			}
		case code := <-done:
			t.Fatalf("exit %d before saying where to sign in; stdout %q", code, out.String())
		}
	}
	release()
	if code := <-done; code != 0 || !strings.Contains(out.String(), `"kind":"ExecCredential"`) {
		t.Fatalf("exit %d, stdout %q", code, out.String())
	}
	if strings.Contains(said, "eyJ") {
		t.Fatalf("the terminal got a token: %q", said)
	}
}
