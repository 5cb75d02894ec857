package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/airlockhq/airlock/daemon/signin/signintest"
	"github.com/airlockhq/airlock/internal/systest/stack"
	"github.com/airlockhq/airlock/internal/testenv"
)

// TestSignInAppTokens: with the real programs, a daemon signed in once
// for two apps sends each app's streams a token that names that app
// alone, as the edge's audit line says (token_aud), never the sign-in's
// token for both (issue 10 item 1).
func TestSignInAppTokens(t *testing.T) {
	dir := t.TempDir()
	urls := filepath.Join(dir, "browser-urls")
	browser := filepath.Join(dir, "browser")
	if err := os.WriteFile(browser, []byte("#!/bin/sh\nprintf '%s\\n' \"$1\" >> '"+urls+"'\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	const email, password = "demo@airlock.test", "demo-password-1"
	const second = "second.demo.airlock.test"
	s := startStack(t, stack.Options{
		SignIn: &stack.SignIn{
			Users:   []stack.User{{Email: email, Password: password}},
			Browser: browser,
		},
		ExtraClusters: []stack.Cluster{{Name: "second", App: second, SignIn: true}},
	})
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()

	// A connection while signed out waits for the sign-in.
	first := make(chan error, 1)
	go func() { first <- connectVia(ctx, s.SOCKSAddr, s.User, s.Pass) }()
	var signInURL string
	testenv.Eventually(t, "the daemon to open the browser", func() error {
		if data, _ := os.ReadFile(urls); len(data) > 0 {
			signInURL = strings.TrimSpace(strings.SplitN(string(data), "\n", 2)[0])
			return nil
		}
		return fmt.Errorf("the daemon opened no browser; daemon:\n%s", s.Daemon.Output())
	})
	hc, err := s.SignInClient()
	if err != nil {
		t.Fatal(err)
	}
	if page, err := signintest.SignIn(ctx, hc, s.BrowserURL(signintest.Followed(t, signInURL)), email, password); err != nil || !strings.Contains(page, "Signed in") {
		t.Fatalf("sign in: %v: %s", err, page)
	}
	if err := <-first; err != nil {
		t.Fatalf("the connection that waited for the sign-in: %v", err)
	}
	u, err := s.ClusterProxy(ctx, "second")
	if err != nil {
		t.Fatal(err)
	}
	pass, _ := u.User.Password()
	const more = 3
	for range more {
		if err := connectVia(ctx, s.SOCKSAddr, s.User, s.Pass); err != nil {
			t.Fatal(err)
		}
		if err := connectVia(ctx, u.Host, u.User.Username(), pass); err != nil {
			t.Fatal(err)
		}
	}
	if data, _ := os.ReadFile(urls); strings.Count(string(data), "\n") != 1 {
		t.Errorf("the browser opened more than once:\n%s", data)
	}

	// The edge audited every stream with the audience of its token.
	want := map[string]int{s.App: 1 + more, second: more}
	var got map[string]int
	testenv.Eventually(t, "the audit lines of every stream", func() error {
		got = map[string]int{}
		for _, line := range strings.Split(s.Edge.Output(), "\n") {
			if !strings.Contains(line, `"msg":"stream"`) {
				continue
			}
			var rec struct {
				User, App, Outcome string
				TokenAud           []string `json:"token_aud"`
			}
			if err := json.Unmarshal([]byte(line), &rec); err != nil {
				t.Fatalf("audit line is not JSON: %v: %s", err, line)
			}
			if rec.Outcome != "ok" || rec.User != email {
				continue
			}
			if !slices.Equal(rec.TokenAud, []string{rec.App}) {
				t.Fatalf("a stream to %s carried a token for %v:\n%s", rec.App, rec.TokenAud, line)
			}
			got[rec.App]++
		}
		if got[s.App] != want[s.App] || got[second] != want[second] {
			return fmt.Errorf("ok streams by app %v, want %v", got, want)
		}
		return nil
	})
	if out := s.Daemon.Output(); strings.Contains(out, "eyJ") || strings.Contains(out, "alr_") {
		t.Errorf("a token appears in the daemon's log")
	}
}

// connectVia opens a connection through a daemon's SOCKS listener and
// closes it: the edge accepted the stream when the proxy answers OK.
func connectVia(ctx context.Context, proxy, user, pass string) error {
	code, c, err := socksConnect(ctx, proxy, user, pass, stack.KubeServer[len("https://"):])
	if err != nil {
		return err
	}
	if c == nil {
		return fmt.Errorf("the proxy refused with SOCKS reply %#x", code)
	}
	return c.Close()
}
