package e2e

import (
	"bytes"
	"context"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/airlockhq/airlock/daemon/apitype"
	"github.com/airlockhq/airlock/daemon/keychain/keychaintest"
	"github.com/airlockhq/airlock/daemon/signin/signintest"
	"github.com/airlockhq/airlock/internal/systest/demo"
	"github.com/airlockhq/airlock/internal/systest/stack"
	"github.com/airlockhq/airlock/internal/testenv"
)

// TestSignInWithChromium is the lazy sign-in as a person lives it: kubectl
// runs while signed out; the daemon holds its connection and opens "the
// browser" (a script that hands the URL to the test); headless Chromium
// signs in on the edge's built-in login page; the same kubectl command
// then succeeds. The daemon keeps the refresh token in a real Secret
// Service (gnome-keyring on a private session bus).
func TestSignInWithChromium(t *testing.T) {
	chromium := testenv.LookPath(t, "chromium", "apt-get install chromium")
	kubectlBin := testenv.File(t, "/usr/bin/kubectl", "apt-get install kubectl")
	keychaintest.Need(t, "dbus-daemon", "gnome-keyring-daemon", "secret-tool")
	bus := keychaintest.StartBus(t)
	bus.StartKeyring(t, keychaintest.KeyringOptions{Password: "keyring-password", Unlock: true})

	dir := t.TempDir()
	urls := filepath.Join(dir, "browser-urls")
	browser := filepath.Join(dir, "browser")
	if err := os.WriteFile(browser, []byte("#!/bin/sh\nprintf '%s\\n' \"$1\" >> '"+urls+"'\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	const email, password = "demo@airlock.test", "demo-password-1"
	s := startStack(t, stack.Options{
		SignIn: &stack.SignIn{
			Users:   []stack.User{{Email: email, Password: password}},
			Browser: browser,
		},
		DaemonEnv: []string{"DBUS_SESSION_BUS_ADDRESS=" + bus.Addr},
	})

	// kubectl, signed out: it waits while the user signs in.
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, kubectlBin, "--kubeconfig", s.Kubeconfig, "get", "--raw", "/version")
	cmd.Env = append(os.Environ(), "HOME="+s.Dir)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	kubectlDone := make(chan error, 1)
	go func() { kubectlDone <- cmd.Wait() }()

	// The daemon opens the browser once.
	var signInURL string
	testenv.Eventually(t, "the daemon to open the browser", func() error {
		if data, _ := os.ReadFile(urls); len(data) > 0 {
			signInURL = strings.TrimSpace(strings.SplitN(string(data), "\n", 2)[0])
		}
		if signInURL != "" {
			return nil
		}
		select {
		case err := <-kubectlDone:
			t.Fatalf("kubectl ended before the sign-in: %v\n%s\n%s\ndaemon:\n%s", err, stdout.String(), stderr.String(), s.Daemon.Output())
		default:
		}
		return fmt.Errorf("the daemon opened no browser; daemon:\n%s", s.Daemon.Output())
	})
	// The browser got the daemon's redirect page, not the sign-in URL:
	// the page leads there.
	signInURL = signintest.Followed(t, signInURL)
	u, err := url.Parse(signInURL)
	if err != nil || !strings.HasPrefix(signInURL, s.PublicURL+"/") {
		t.Fatalf("sign-in URL %q is not on the edge's public URL %s", signInURL, s.PublicURL)
	}
	for _, p := range []string{"code_challenge", "state", "redirect_uri", "audience"} {
		if u.Query().Get(p) == "" {
			t.Errorf("the sign-in URL has no %s: %s", p, signInURL)
		}
	}
	// The browser runs (it wrote the URL) a moment before the daemon has
	// seen its start succeed and says so in the status.
	testenv.Eventually(t, "the status to show the sign-in with the browser opened", func() error {
		st, err := s.Client().Status(ctx)
		if err != nil {
			return err
		}
		if si := st.Edges[0].SignIn; si == nil || si.State != apitype.SignInNeeded || si.URL != signInURL || !si.BrowserOpened || si.Waiting == 0 {
			return fmt.Errorf("status while kubectl waits: %+v", si)
		}
		return nil
	})

	// A person signs in with Chromium.
	title := chromiumSignIn(t, ctx, chromium, s, signInURL, email, password)
	if !strings.Contains(title, "Signed in") {
		t.Fatalf("the browser's last page says %q", title)
	}

	// The same kubectl command completes.
	select {
	case err := <-kubectlDone:
		if err != nil || !strings.Contains(stdout.String(), "gitVersion") {
			t.Fatalf("kubectl after the sign-in: %v\n%s\n%s", err, stdout.String(), stderr.String())
		}
	case <-ctx.Done():
		t.Fatalf("kubectl did not complete after the sign-in; daemon:\n%s", s.Daemon.Output())
	}
	if data, _ := os.ReadFile(urls); strings.Count(string(data), "\n") != 1 {
		t.Errorf("the browser opened more than once:\n%s", data)
	}

	// Signed in, the refresh token in the keyring, never in the log.
	st, err := s.Client().Status(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if si := st.Edges[0].SignIn; si == nil || si.State != apitype.SignInSignedIn || si.Email != email {
		t.Fatalf("status after the sign-in: %+v", si)
	}
	if st.TokenStore == nil || st.TokenStore.Kind != "keychain" {
		t.Fatalf("token store %+v, want the keychain", st.TokenStore)
	}
	lookup := exec.Command("secret-tool", "lookup", "service", "airlock", "username", "edge:local")
	lookup.Env = bus.Env()
	stored, err := lookup.Output()
	if err != nil || !strings.Contains(string(stored), "alr_") {
		t.Fatalf("the keyring holds no refresh token: %v %q", err, stored)
	}
	if out := s.Daemon.Output(); strings.Contains(out, "alr_") || strings.Contains(out, "eyJ") || strings.Contains(out, password) {
		t.Errorf("a token or password appears in the daemon's log")
	}
	// More kubectl runs need no browser.
	if out := kubectl(t, s, kubectlBin, "get", "--raw", "/api/v1/namespaces/default"); !strings.Contains(out, `"name":"default"`) {
		t.Errorf("second kubectl: %s", out)
	}
}

// chromiumSignIn drives headless Chromium through the edge's login page
// (demo.ChromiumSignIn) and returns the title of the page it ends on,
// failing unless that is the daemon's loopback callback.
func chromiumSignIn(t *testing.T, ctx context.Context, chromium string, s *stack.Stack, signInURL, email, password string) string {
	t.Helper()
	loc, title, err := demo.ChromiumSignIn(ctx, chromium, filepath.Join(t.TempDir(), "chromium"), s, signInURL, email, password, t.Logf)
	if err != nil {
		t.Fatalf("%v; daemon:\n%s", err, s.Daemon.Output())
	}
	if !strings.HasPrefix(loc, "http://127.0.0.1:") {
		t.Fatalf("chromium ended at %s (%q), not at the daemon's loopback callback", loc, title)
	}
	return title
}
