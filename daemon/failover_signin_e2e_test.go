package daemon_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/airlockhq/airlock/daemon"
	"github.com/airlockhq/airlock/daemon/apitype"
	"github.com/airlockhq/airlock/daemon/config"
	"github.com/airlockhq/airlock/daemon/daemontest"
	"github.com/airlockhq/airlock/daemon/signin/signintest"
	"github.com/airlockhq/airlock/daemon/socks/sockstest"
	"github.com/airlockhq/airlock/edge/edgetest"
	"github.com/airlockhq/airlock/internal/systest/connectortest"
	"github.com/airlockhq/airlock/internal/systest/fleetstore"
	"github.com/airlockhq/airlock/internal/testenv"
)

// TestFleetSignIn: a fleet of two real edges on one real PostgreSQL store
// is one sign-in. The user signs in once, at B's sign-in server (the
// fleet's auth_url); the token opens streams at A, which verifies it with
// the key B published in the store, and once A is killed at B, with no
// second sign-in. The keychain holds one entry for the fleet, and status
// one sign-in.
func TestFleetSignIn(t *testing.T) {
	const app = "k8s.fleet.test"
	ctx := testenv.Context(t)
	urlFile := fleetstore.URLFile(ctx, t)
	origin := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "origin saw host %s", r.Host)
	}))
	defer origin.Close()
	a := edgetest.Start(t, edgetest.Options{})
	b := edgetest.Start(t, edgetest.Options{})
	for _, e := range []*edgetest.Edge{a, b} { // a fleet shares its store and config
		e.UseStore(t, urlFile)
		e.AddUser(t, "alice@example.com", "alice-password-1")
		connectortest.Start(t, e, e.CreateTunnel(t, "fleet", app), app+"=tcp://"+origin.Listener.Addr().String())
	}
	cfg := &config.Config{
		Edges: []config.Edge{{Name: "fleet", Addresses: []string{a.Addr, b.Addr}, AuthURL: b.OAuthURL,
			CA: string(bytes.Join([][]byte{a.CAPEM, b.CAPEM}, nil)), ServerName: a.ServerName}},
		Clusters: []config.Cluster{{Name: "prod", App: app}},
		SignIn:   config.SignIn{Wait: 30 * time.Second, BrowserIntervalSet: true},
	}
	browser := signintest.NewFormBrowser(b.HTTPClient(), "alice@example.com", "alice-password-1")
	t.Cleanup(browser.Wait)
	var keychainFile string
	d := daemontest.Start(t, cfg, func(o *daemon.Options) {
		o.SignIn.NoBrowser = false
		o.SignIn.Browser = browser
		keychainFile = filepath.Join(o.SignIn.StateDir, "..", "keychain.json")
	})
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("the daemon's log:\n%s", d.Logs())
		}
	})
	addr, user, pass := proxyParts(t, d.ProxyURL(t, "prod"))
	get := func() {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		defer cancel()
		c, err := sockstest.Dial(ctx, addr, user, pass, "kube.does-not-exist.invalid:80")
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		fmt.Fprintf(c, "GET / HTTP/1.0\r\nHost: kube.does-not-exist.invalid\r\n\r\n")
		body, err := io.ReadAll(c)
		if err != nil || !strings.Contains(string(body), "origin saw host") {
			t.Fatalf("through the fleet: %q, %v", body, err)
		}
	}
	get()
	if n := a.WaitStreams(t, app, "ok", 1); n != 1 {
		t.Fatalf("%d streams at A, want 1", n)
	}
	a.Kill(t)
	get()
	if n := b.WaitStreams(t, app, "ok", 1); n != 1 {
		t.Fatalf("%d streams at B, want 1", n)
	}
	if n := len(browser.Opened()); n != 1 {
		t.Fatalf("the browser opened %d times, want 1 sign-in for the fleet", n)
	}
	st, err := d.Client.Status(ctxT(t))
	if err != nil {
		t.Fatal(err)
	}
	if len(st.Edges) != 1 || st.Edges[0].SignIn == nil || st.Edges[0].SignIn.State != apitype.SignInSignedIn || st.Clusters[0].EdgeAddress != b.Addr {
		t.Fatalf("status: edges %+v, prod via %q; want one signed-in fleet via B %s", st.Edges, st.Clusters[0].EdgeAddress, b.Addr)
	}
	data, err := os.ReadFile(keychainFile)
	if err != nil {
		t.Fatal(err)
	}
	var file struct {
		Values map[string]string `json:"values"`
	}
	if err := json.Unmarshal(data, &file); err != nil {
		t.Fatalf("keychain file: %v", err)
	}
	var keys []string
	for k := range file.Values {
		keys = append(keys, k)
	}
	if len(keys) != 1 || keys[0] != "edge:fleet" {
		t.Fatalf("keychain entries %q, want one sign-in for the fleet (edge:fleet)", keys)
	}
}
