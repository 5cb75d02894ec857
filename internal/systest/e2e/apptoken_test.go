package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
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
// token for both (issue 10 item 1); and such a token, which a path that
// saw one stream might replay, is refused on the other app.
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
		ExtraClusters: []stack.Cluster{
			{Name: "second", App: second, SignIn: true},
			// presents a token the test puts in its file
			{Name: "replay", App: second, Token: "placeholder"},
		},
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

	// A token narrowed to the first app, on a stream to the second: the
	// test signs in itself (device flow) and narrows as the daemon does.
	narrow := narrowedToken(t, ctx, s, hc, email, password, s.App, second)
	if err := s.SetToken("replay", narrow); err != nil {
		t.Fatal(err)
	}
	r, err := s.ClusterProxy(ctx, "replay")
	if err != nil {
		t.Fatal(err)
	}
	rpass, _ := r.User.Password()
	code, c, err := socksConnect(ctx, r.Host, r.User.Username(), rpass, stack.KubeServer[len("https://"):])
	if err != nil || c != nil {
		t.Fatalf("a stream to %s with the token for %s was not refused: %v", second, s.App, err)
	}
	t.Logf("SOCKS reply %#x", code)
	testenv.Eventually(t, "the refusal's audit line", func() error {
		for _, line := range strings.Split(s.Edge.Output(), "\n") {
			if strings.Contains(line, `"msg":"stream"`) && strings.Contains(line, `"app":"`+second+`"`) && strings.Contains(line, `"outcome":"unauthenticated"`) {
				return nil
			}
		}
		return fmt.Errorf("no unauthenticated stream to %s audited", second)
	})
	if out := s.Daemon.Output(); strings.Contains(out, "eyJ") || strings.Contains(out, "alr_") {
		t.Errorf("a token appears in the daemon's log")
	}
}

// narrowedToken signs in as email through the device flow for apps and
// narrows the access token to apps[0] (RFC 8693 token exchange).
func narrowedToken(t *testing.T, ctx context.Context, s *stack.Stack, hc *http.Client, email, password string, apps ...string) string {
	t.Helper()
	post := func(path string, form url.Values) map[string]any {
		t.Helper()
		form.Set("client_id", "airlock")
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.AuthURL+path, strings.NewReader(form.Encode()))
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		resp, err := hc.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var out map[string]any
		if err := json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(&out); err != nil || resp.StatusCode != http.StatusOK {
			t.Fatalf("POST %s: %s %v %v", path, resp.Status, err, out)
		}
		return out
	}
	dc := post("/oauth/device/code", url.Values{"audience": {strings.Join(apps, " ")}})
	verify, _ := dc["verification_uri"].(string)
	userCode, _ := dc["user_code"].(string)
	if _, err := signintest.ApproveDevice(ctx, hc, s.BrowserURL(verify), userCode, email, password); err != nil {
		t.Fatalf("approve the device code: %v", err)
	}
	broad := post("/oauth/token", url.Values{"grant_type": {"urn:ietf:params:oauth:grant-type:device_code"}, "device_code": {dc["device_code"].(string)}})
	narrow := post("/oauth/token", url.Values{
		"grant_type":         {"urn:ietf:params:oauth:grant-type:token-exchange"},
		"subject_token":      {broad["access_token"].(string)},
		"subject_token_type": {"urn:ietf:params:oauth:token-type:access_token"},
		"audience":           {apps[0]},
	})
	return narrow["access_token"].(string)
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
