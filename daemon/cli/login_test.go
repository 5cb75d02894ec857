package cli_test

import (
	"bytes"
	"context"
	"fmt"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/airlockhq/airlock/daemon"
	"github.com/airlockhq/airlock/daemon/cli"
	"github.com/airlockhq/airlock/daemon/config"
	"github.com/airlockhq/airlock/daemon/daemontest"
	"github.com/airlockhq/airlock/daemon/signin/signintest"
	"github.com/airlockhq/airlock/edge/edgetest"
	"github.com/airlockhq/airlock/internal/testenv"
)

type syncBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuf) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuf) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// TestLoginLogout runs `airlock login`, `login --device` and `logout`
// against a daemon signing in at a real edge.
func TestLoginLogout(t *testing.T) {
	e := edgetest.Start(t, edgetest.Options{})
	e.AddUser(t, "alice@example.com", "alice-password-1")
	e.CreateTunnel(t, "demo", "k8s.demo.test")
	cfg := &config.Config{
		Edges:    []config.Edge{{Name: "test", Address: e.Addr, CA: string(e.CAPEM), ServerName: e.ServerName, AuthURL: e.OAuthURL}},
		Clusters: []config.Cluster{{Name: "demo", App: "k8s.demo.test"}},
	}
	browser := signintest.NewFormBrowser(e.HTTPClient(), "alice@example.com", "alice-password-1")
	t.Cleanup(browser.Wait)
	d := daemontest.Start(t, cfg, func(o *daemon.Options) {
		o.SignIn.NoBrowser, o.SignIn.Browser = false, browser
	})
	runAsync := func(args ...string) (*syncBuf, *syncBuf, chan int) {
		var out, errb syncBuf
		done := make(chan int, 1)
		go func() {
			ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
			defer cancel()
			done <- cli.Main(ctx, args, cli.Env{Stdout: &out, Stderr: &errb, Getenv: func(string) string { return "" }})
		}()
		return &out, &errb, done
	}
	wait := func(t *testing.T, done chan int, errb *syncBuf) int {
		t.Helper()
		select {
		case code := <-done:
			return code
		case <-time.After(60 * time.Second):
			t.Fatalf("the command did not return; stderr: %s", errb)
		}
		return -1
	}

	t.Run("login with the browser", func(t *testing.T) {
		out, errb, done := runAsync("login", "--socket", d.Socket)
		if code := wait(t, done, errb); code != 0 {
			t.Fatalf("exit %d: %s %s", code, out, errb)
		}
		if !strings.Contains(out.String(), "Opened your browser to sign in at edge test") || !strings.Contains(out.String(), "Signed in at edge test as alice@example.com.") {
			t.Fatalf("output:\n%s", out)
		}
	})
	t.Run("status shows the sign-in", func(t *testing.T) {
		code, out, _ := run(t, "status", "--socket", d.Socket)
		if code != 0 || !strings.Contains(out, "test: signed in as alice@example.com") {
			t.Fatalf("status:\n%s", out)
		}
	})
	t.Run("login --device", func(t *testing.T) {
		out, errb, done := runAsync("login", "--device", "--socket", d.Socket, "test")
		re := regexp.MustCompile(`open\s+(\S+)\s+on any device and enter the code\s+(\S+)`)
		var m []string
		testenv.Eventually(t, "the URL and code printed", func() error {
			if m = re.FindStringSubmatch(out.String()); m == nil {
				return fmt.Errorf("not printed:\n%s\n%s", out, errb)
			}
			return nil
		})
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if page, err := signintest.ApproveDevice(ctx, e.HTTPClient(), m[1], m[2], "alice@example.com", "alice-password-1"); err != nil {
			t.Fatalf("approve: %v %s", err, page)
		}
		if code := wait(t, done, errb); code != 0 || !strings.Contains(out.String(), "Signed in at edge test") {
			t.Fatalf("exit %d:\n%s\n%s", code, out, errb)
		}
	})
	t.Run("logout", func(t *testing.T) {
		code, out, errs := run(t, "logout", "--socket", d.Socket)
		if code != 0 || !strings.Contains(out, "Signed out at edge test.") {
			t.Fatalf("exit %d: %s %s", code, out, errs)
		}
		_, out, _ = run(t, "status", "--socket", d.Socket)
		if !strings.Contains(out, "test: signed out") {
			t.Fatalf("status after logout:\n%s", out)
		}
	})
	t.Run("unknown edge", func(t *testing.T) {
		code, _, errs := run(t, "login", "--socket", d.Socket, "nope")
		if code != 1 || !strings.Contains(errs, "nope") {
			t.Fatalf("exit %d: %s", code, errs)
		}
	})
	t.Run("usage", func(t *testing.T) {
		if code, _, _ := run(t, "login", "a", "b"); code != 2 {
			t.Fatalf("two edges: exit %d", code)
		}
	})
}

func TestLoginWithoutSignIn(t *testing.T) {
	d := start(t) // every cluster has a service token
	code, _, errs := run(t, "login", "--socket", d.Socket)
	if code != 1 || !strings.Contains(errs, "no cluster uses sign-in") {
		t.Fatalf("exit %d: %s", code, errs)
	}
}
