package daemon_test

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/airlockhq/airlock/daemon"
	"github.com/airlockhq/airlock/daemon/apitype"
	"github.com/airlockhq/airlock/daemon/client"
	"github.com/airlockhq/airlock/daemon/config"
	"github.com/airlockhq/airlock/daemon/daemontest"
	"github.com/airlockhq/airlock/daemon/signin/signintest"
	"github.com/airlockhq/airlock/daemon/socks"
	"github.com/airlockhq/airlock/daemon/socks/sockstest"
	"github.com/airlockhq/airlock/edge/edgetest"
	"github.com/airlockhq/airlock/internal/systest/connectortest"
	"github.com/airlockhq/airlock/internal/testenv"
)

// TestSignInEndToEnd runs the daemon against a real edge (its OAuth
// server, built-in users and per-stream policy) and a real connector:
// lazy single sign-in held connections, background renewal under a long
// stream, revocation, the device flow, a refused user and logout.
func TestSignInEndToEnd(t *testing.T) {
	e := edgetest.Start(t, edgetest.Options{})
	e.AddUser(t, "alice@example.com", "alice-password-1")
	e.AddUser(t, "mallory@elsewhere.test", "mallory-password-1")
	origin := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/stream" {
			fl := w.(http.Flusher)
			for i := 0; i < 80; i++ {
				fmt.Fprintf(w, "tick %d\n", i)
				fl.Flush()
				time.Sleep(50 * time.Millisecond)
			}
			fmt.Fprintln(w, "done")
			return
		}
		fmt.Fprintf(w, "origin saw host %s", r.Host)
	}))
	defer origin.Close()
	demo := e.CreateTunnel(t, "demo", "k8s.demo.test")
	connectortest.Start(t, e, demo, "k8s.demo.test=tcp://"+origin.Listener.Addr().String())

	cfg := &config.Config{
		Edges:    []config.Edge{{Name: "test", Address: e.Addr, CA: string(e.CAPEM), ServerName: e.ServerName, AuthURL: e.OAuthURL}},
		Clusters: []config.Cluster{{Name: "demo", App: "k8s.demo.test"}},
		SignIn:   config.SignIn{Wait: 30 * time.Second, BrowserIntervalSet: true}, // interval 0: every sign-in opens the browser
	}
	browser := signintest.NewFormBrowser(e.HTTPClient(), "alice@example.com", "alice-password-1")
	t.Cleanup(browser.Wait)
	var keychainFile string
	d := daemontest.Start(t, cfg, func(o *daemon.Options) {
		o.SignIn.NoBrowser = false
		o.SignIn.Browser = browser
		o.SignIn.RefreshAt = 0.002 // renew every ~2 s of the edge's 15 min tokens
		keychainFile = filepath.Join(o.SignIn.StateDir, "..", "keychain.json")
	})
	addr, user, pass := proxyParts(t, d.ProxyURL(t, "demo"))
	get := func(ctx context.Context, path string) (string, error) {
		c, err := sockstest.Dial(ctx, addr, user, pass, "kube.does-not-exist.invalid:80")
		if err != nil {
			return "", err
		}
		defer c.Close()
		fmt.Fprintf(c, "GET %s HTTP/1.0\r\nHost: kube.does-not-exist.invalid\r\n\r\n", path)
		b, err := io.ReadAll(c)
		return string(b), err
	}
	status := func(t *testing.T) (*apitype.Status, *apitype.SignIn) {
		t.Helper()
		st, err := d.Client.Status(ctxT(t))
		if err != nil {
			t.Fatal(err)
		}
		if len(st.Edges) != 1 || st.Edges[0].SignIn == nil {
			t.Fatalf("no sign-in in the status: %+v", st.Edges)
		}
		return st, st.Edges[0].SignIn
	}

	t.Run("signed out, 20 parallel connections, one sign-in", func(t *testing.T) {
		if _, si := status(t); si.State != apitype.SignInSignedOut {
			t.Fatalf("before: %+v", si)
		}
		var wg sync.WaitGroup
		errs := make([]error, 20)
		for i := range errs {
			wg.Go(func() {
				ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
				defer cancel()
				var body string
				body, errs[i] = get(ctx, "/")
				if errs[i] == nil && !strings.Contains(body, "origin saw host") {
					errs[i] = fmt.Errorf("body %q", body)
				}
			})
		}
		wg.Wait()
		for i, err := range errs {
			if err != nil {
				t.Errorf("connection %d: %v", i, err)
			}
		}
		if n := len(browser.Opened()); n != 1 {
			t.Fatalf("the browser opened %d times for 20 connections, want 1", n)
		}
		st, si := status(t)
		if si.State != apitype.SignInSignedIn || si.Email != "alice@example.com" || si.Expires.IsZero() {
			t.Fatalf("after: %+v", si)
		}
		if st.TokenStore == nil || st.TokenStore.Kind != "keychain" {
			t.Fatalf("token store %+v", st.TokenStore)
		}
		if data, _ := os.ReadFile(keychainFile); !strings.Contains(string(data), "alr_") {
			t.Fatalf("the refresh token is not in the keychain: %s", data)
		}
	})

	t.Run("renewal does not cut a long stream", func(t *testing.T) {
		_, si0 := status(t)
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		defer cancel()
		c, err := sockstest.Dial(ctx, addr, user, pass, "kube.does-not-exist.invalid:80")
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		fmt.Fprintf(c, "GET /stream HTTP/1.0\r\nHost: x\r\n\r\n")
		sc := bufio.NewScanner(c)
		expiries := map[time.Time]bool{si0.Expires: true}
		ticks, done := 0, false
		for sc.Scan() {
			switch line := sc.Text(); {
			case strings.HasPrefix(line, "tick "):
				ticks++
				if ticks%10 == 0 {
					_, si := status(t)
					expiries[si.Expires] = true
				}
			case line == "done":
				done = true
			}
		}
		if !done || ticks != 80 {
			t.Fatalf("the stream was cut: %d ticks, done=%v, err %v", ticks, done, sc.Err())
		}
		if len(expiries) < 2 {
			t.Fatalf("no renewal during the 4 s stream (expiries %v)", expiries)
		}
		if n := len(browser.Opened()); n != 1 {
			t.Errorf("renewals opened the browser (%d opens)", n)
		}
	})

	t.Run("device flow", func(t *testing.T) {
		ctx := ctxT(t)
		got, err := d.Client.Login(ctx, apitype.LoginRequest{Device: true})
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != 1 || got[0].State != apitype.SignInNeeded || got[0].UserCode == "" || !strings.HasPrefix(got[0].URL, e.OAuthURL) {
			t.Fatalf("login answer %+v", got)
		}
		page, err := signintest.ApproveDevice(ctx, e.HTTPClient(), got[0].URL, got[0].UserCode, "alice@example.com", "alice-password-1")
		if err != nil {
			t.Fatalf("approve: %v (%s)", err, page)
		}
		si, err := d.Client.WaitSignIn(ctx, "test", nil)
		if err != nil || si.Email != "alice@example.com" {
			t.Fatalf("after the device flow: %+v %v", si, err)
		}
		if body, err := get(ctx, "/"); err != nil || !strings.Contains(body, "origin saw") {
			t.Fatalf("after the device flow: %q %v", body, err)
		}
	})

	t.Run("revoked sign-in: sign-in needed", func(t *testing.T) {
		e.RevokeUser(t, "alice@example.com")
		release := browser.Hold()
		defer release()
		ctx := ctxT(t)
		// The edge refuses the access token on the next stream; the
		// refresh token is refused too; a new sign-in waits for the user.
		errc := make(chan error, 1)
		go func() { _, err := get(ctx, "/"); errc <- err }()
		var si *apitype.SignIn
		testenv.Eventually(t, "a sign-in needed", func() error {
			if _, si = status(t); si.State != apitype.SignInNeeded {
				return fmt.Errorf("sign-in %+v", si)
			}
			return nil
		})
		if si.URL == "" {
			t.Fatalf("after the revocation: %+v", si)
		}
		release() // the user signs in again; the held connection goes on
		if err := <-errc; err != nil {
			t.Fatalf("the held connection: %v", err)
		}
	})

	t.Run("a user the policy refuses", func(t *testing.T) {
		ctx := ctxT(t)
		if _, err := d.Client.Logout(ctx, apitype.LogoutRequest{}); err != nil {
			t.Fatal(err)
		}
		browser.SetUser("mallory@elsewhere.test", "mallory-password-1")
		defer browser.SetUser("alice@example.com", "alice-password-1")
		_, err := sockstest.Dial(ctx, addr, user, pass, "kube.does-not-exist.invalid:80")
		if got := sockstest.Reply(err); got != socks.ReplyNotAllowed {
			t.Fatalf("reply %#02x (%v), want not allowed", got, err)
		}
		cl := d.WaitState(t, "demo", apitype.StateError)
		if cl.Problem == nil || cl.Problem.Code != "forbidden" || !strings.Contains(cl.Problem.Message, "mallory@elsewhere.test") || !strings.Contains(cl.Problem.Message, "k8s.demo.test") {
			t.Fatalf("problem %+v, want forbidden naming the user and the app", cl.Problem)
		}
	})

	t.Run("logout", func(t *testing.T) {
		ctx := ctxT(t)
		got, err := d.Client.Logout(ctx, apitype.LogoutRequest{Edge: "test"})
		if err != nil || got[0].State != apitype.SignInSignedOut {
			t.Fatalf("logout: %+v %v", got, err)
		}
		if data, _ := os.ReadFile(keychainFile); strings.Contains(string(data), "alr_") {
			t.Fatalf("a refresh token is still in the keychain: %s", data)
		}
		if _, err := d.Client.Logout(ctx, apitype.LogoutRequest{Edge: "nope"}); !client.IsNotFound(err) {
			t.Fatalf("logout of an unknown edge: %v", err)
		}
	})

	t.Run("tokens never in the log", func(t *testing.T) {
		logs := d.Logs()
		for _, bad := range []string{"alr_", "eyJ", "alice-password-1", "mallory-password-1"} {
			if strings.Contains(logs, bad) {
				t.Errorf("the daemon's log contains %q", bad)
			}
		}
		if strings.Count(logs, "signed in") == 0 {
			t.Error("the log never says who signed in")
		}
	})
	for _, err := range browser.Errors() {
		if !strings.Contains(err.Error(), "mallory@elsewhere.test") { // her refusal page is expected
			t.Errorf("browser error: %v", err)
		}
	}
}
