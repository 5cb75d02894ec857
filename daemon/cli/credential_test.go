package cli_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/airlockhq/airlock/daemon"
	"github.com/airlockhq/airlock/daemon/cli"
	"github.com/airlockhq/airlock/daemon/config"
	"github.com/airlockhq/airlock/daemon/daemontest"
	"github.com/airlockhq/airlock/daemon/signin/signintest"
	"github.com/airlockhq/airlock/edge"
	"github.com/airlockhq/airlock/edge/edgetest"
)

// TestCredential runs `airlock credential` against a daemon signing in at
// a real edge: it signs in, prints an ExecCredential whose token is for the
// cluster's audience alone, and names the cause of a refusal on stderr.
func TestCredential(t *testing.T) {
	e := edgetest.Start(t, edgetest.Options{})
	e.AddUser(t, "alice@example.com", "alice-password-1", "dev")
	e.CreateTunnel(t, "demo", "k8s.demo.test", "k8s.plain.test")
	e.UpdateConfig(t, func(c *edge.Config) error {
		for i := range c.Apps {
			if c.Apps[i].Hostname == "k8s.demo.test" {
				c.Apps[i].Kubernetes = &edge.AppKubernetes{OIDC: &edge.KubeOIDC{Audience: "kubernetes:demo"}}
			}
		}
		return nil
	})
	cfg := &config.Config{
		Edges:    []config.Edge{{Name: "test", Address: e.Addr, CA: string(e.CAPEM), ServerName: e.ServerName, AuthURL: e.OAuthURL}},
		Clusters: []config.Cluster{{Name: "demo", App: "k8s.demo.test"}, {Name: "plain", App: "k8s.plain.test"}},
	}
	browser := signintest.NewFormBrowser(e.HTTPClient(), "alice@example.com", "alice-password-1")
	t.Cleanup(browser.Wait)
	d := daemontest.Start(t, cfg, func(o *daemon.Options) {
		o.SignIn.NoBrowser, o.SignIn.Browser = false, browser
	})
	run := func(args ...string) (int, string, string) {
		var out, errb syncBuf
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		defer cancel()
		code := cli.Main(ctx, append(args, "--socket", d.Socket), cli.Env{Stdout: &out, Stderr: &errb, Getenv: func(string) string { return "" }})
		return code, out.String(), errb.String()
	}

	code, out, errOut := run("credential", "--cluster", "demo")
	if code != 0 {
		t.Fatalf("exit %d: %s %s", code, out, errOut)
	}
	var ec struct {
		APIVersion string `json:"apiVersion"`
		Kind       string `json:"kind"`
		Status     struct {
			Token               string `json:"token"`
			ExpirationTimestamp string `json:"expirationTimestamp"`
		} `json:"status"`
	}
	if err := json.Unmarshal([]byte(out), &ec); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	if ec.APIVersion != "client.authentication.k8s.io/v1" || ec.Kind != "ExecCredential" {
		t.Fatalf("ExecCredential %s", out)
	}
	exp, err := time.Parse(time.RFC3339, ec.Status.ExpirationTimestamp)
	if err != nil || time.Until(exp) > 5*time.Minute || time.Until(exp) <= 0 {
		t.Fatalf("expirationTimestamp %q (%v)", ec.Status.ExpirationTimestamp, err)
	}
	parts := strings.Split(ec.Status.Token, ".")
	if len(parts) != 3 {
		t.Fatalf("token is no JWT")
	}
	payload, _ := base64.RawURLEncoding.DecodeString(parts[1])
	var claims struct {
		Aud    []string `json:"aud"`
		Email  string   `json:"email"`
		Groups []string `json:"groups"`
		Kind   string   `json:"kind"`
	}
	json.Unmarshal(payload, &claims)
	if len(claims.Aud) != 1 || claims.Aud[0] != "kubernetes:demo" || claims.Email != "alice@example.com" || claims.Kind != "kubernetes" {
		t.Fatalf("the credential's claims %+v: not the cluster's credential", claims)
	}
	if got := len(browser.Opened()); got != 1 {
		t.Errorf("%d sign-ins, want 1", got)
	}

	for _, tc := range []struct {
		name, cluster, naming string
		code                  int
	}{
		{"a cluster without OIDC identity", "plain", "no Kubernetes OIDC identity", 1},
		{"an unknown cluster", "nope", "nope", 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, out, errOut := run("credential", "--cluster", tc.cluster)
			if code != tc.code || out != "" || !strings.Contains(errOut, tc.naming) {
				t.Fatalf("exit %d, stdout %q, stderr %q; want %d naming %q", code, out, errOut, tc.code, tc.naming)
			}
		})
	}
	t.Run("no cluster named", func(t *testing.T) {
		if code, _, _ := run("credential"); code != 2 {
			t.Fatalf("exit %d, want 2", code)
		}
	})
}
