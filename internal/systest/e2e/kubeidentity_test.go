package e2e

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/airlockhq/airlock/daemon/signin/signintest"
	"github.com/airlockhq/airlock/edge"
	"github.com/airlockhq/airlock/internal/systest/kapitest"
	"github.com/airlockhq/airlock/internal/systest/stack"
	"github.com/airlockhq/airlock/internal/testenv"
)

// TestKubeIdentity: a real kube-apiserver that trusts the edge as its OIDC
// issuer (the AuthenticationConfiguration `airlock-edge app kube-auth`
// prints) sees the person signed in at the edge, through Airlock, with no
// client certificate: kubectl's user is the exec plugin `airlock
// credential`, which waits for the sign-in; `kubectl auth whoami` shows the
// email and groups, a group bound to view lists pods, and deleting one is
// refused by the API server's RBAC (issue 13 item 3).
func TestKubeIdentity(t *testing.T) {
	kubectlBin := testenv.File(t, "/usr/bin/kubectl", "apt-get install kubectl")
	dir := t.TempDir()
	urls := filepath.Join(dir, "browser-urls")
	browser := filepath.Join(dir, "browser")
	if err := os.WriteFile(browser, []byte("#!/bin/sh\nprintf '%s\\n' \"$1\" >> '"+urls+"'\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	// The API server starts before the edge has an address, with no JWT
	// issuer; the test installs the edge's when the edge has one.
	const email, password = "alice@airlock.test", "alice-password-1"
	s := startStack(t, stack.Options{
		Email: email,
		SignIn: &stack.SignIn{
			Users:   []stack.User{{Email: email, Password: password, Groups: []string{"dev"}}},
			Browser: browser,
		},
		KubeAPI: kapitest.Options{JWTAuthn: true},
	})
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()

	// Operator: the app's cluster trusts the edge, whose public URL the
	// API server can reach; the group dev may view.
	const audience = "kubernetes:demo"
	if _, err := edge.UpdateConfig(filepath.Join(s.EdgeDir, "config.yaml"), func(c *edge.Config) error {
		c.PublicURL = s.AuthURL
		for i := range c.Apps {
			if c.Apps[i].Hostname == s.App {
				c.Apps[i].Kubernetes = &edge.AppKubernetes{OIDC: &edge.KubeOIDC{Audience: audience}}
			}
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	trustEdge(ctx, t, s, kubectlBin, "/.well-known/openid-configuration", func(b []byte) error {
		var d struct{ Issuer string }
		if err := json.Unmarshal(b, &d); err != nil || d.Issuer != s.AuthURL {
			return fmt.Errorf("issuer %q (%v), want %s", d.Issuer, err, s.AuthURL)
		}
		return nil
	})
	hc, err := s.SignInClient()
	if err != nil {
		t.Fatal(err)
	}

	// The person's kubeconfig: through Airlock's proxy, user = the exec
	// plugin; no client certificate, no token of its own.
	kubeconfig := filepath.Join(dir, "person.kubeconfig")
	if err := os.WriteFile(kubeconfig, []byte(fmt.Sprintf(`apiVersion: v1
kind: Config
clusters:
  - name: demo
    cluster:
      server: %s
      certificate-authority-data: %s
      proxy-url: %s
users:
  - name: airlock-demo
    user:
      exec:
        apiVersion: client.authentication.k8s.io/v1
        command: %s
        args: [credential, --cluster, %s, --socket, %s]
        interactiveMode: IfAvailable
contexts:
  - name: demo
    context: {cluster: demo, user: airlock-demo}
current-context: demo
`, stack.KubeServer, base64.StdEncoding.EncodeToString(s.KubeAPI.CAPEM), s.ProxyURL(),
		filepath.Join(s.Bin, "airlock"), stack.DefaultCluster, s.Socket)), 0o600); err != nil {
		t.Fatal(err)
	}
	kubectlAs := func(args ...string) (string, string, error) {
		cmd := exec.CommandContext(ctx, kubectlBin, append([]string{"--kubeconfig", kubeconfig}, args...)...)
		cmd.Env = append(os.Environ(), "HOME="+dir)
		var stdout, stderr bytes.Buffer
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		err := cmd.Run()
		return stdout.String(), stderr.String(), err
	}

	// Signed out: kubectl's plugin waits while the person signs in.
	type result struct {
		out, errOut string
		err         error
	}
	whoami := make(chan result, 1)
	go func() {
		out, errOut, err := kubectlAs("auth", "whoami", "-o", "json")
		whoami <- result{out, errOut, err}
	}()
	var signInURL string
	testenv.Eventually(t, "the daemon to open the browser", func() error {
		if data, _ := os.ReadFile(urls); len(data) > 0 {
			signInURL = strings.TrimSpace(strings.SplitN(string(data), "\n", 2)[0])
			return nil
		}
		return fmt.Errorf("the daemon opened no browser; daemon:\n%s", s.Daemon.Output())
	})
	if page, err := signintest.SignIn(ctx, hc, s.BrowserURL(signintest.Followed(t, signInURL)), email, password); err != nil || !strings.Contains(page, "Signed in") {
		t.Fatalf("sign in: %v: %s", err, page)
	}
	r := <-whoami
	if r.err != nil {
		t.Fatalf("kubectl auth whoami: %v: %s\nkube-apiserver log:\n%s", r.err, r.errOut, s.KubeAPI.LogTail(2000))
	}
	var review struct {
		Status struct {
			UserInfo struct {
				Username string   `json:"username"`
				Groups   []string `json:"groups"`
			} `json:"userInfo"`
		} `json:"status"`
	}
	if err := json.Unmarshal([]byte(r.out), &review); err != nil {
		t.Fatalf("whoami: %v: %s", err, r.out)
	}
	ui := review.Status.UserInfo
	if ui.Username != email || !slices.Contains(ui.Groups, "airlock:dev") || !slices.Contains(ui.Groups, "system:authenticated") {
		t.Fatalf("whoami: user %q groups %v, want %s in airlock:dev", ui.Username, ui.Groups, email)
	}

	t.Run("view lists pods", func(t *testing.T) {
		if out, errOut, err := kubectlAs("get", "pods", "-n", "default"); err != nil {
			t.Fatalf("get pods: %v: %s%s", err, out, errOut)
		}
	})
	t.Run("delete is forbidden by the API server", func(t *testing.T) {
		_, errOut, err := kubectlAs("delete", "pod", "x", "-n", "default")
		want := `pods "x" is forbidden: User "` + email + `" cannot delete resource "pods"`
		if err == nil || !strings.Contains(errOut, want) {
			t.Fatalf("delete pod: %v: %q, want the API server's %q", err, errOut, want)
		}
	})
	t.Run("the credential is not a stream token", func(t *testing.T) {
		cmd := exec.CommandContext(ctx, filepath.Join(s.Bin, "airlock"), "credential", "--cluster", stack.DefaultCluster, "--socket", s.Socket)
		out, err := cmd.Output()
		if err != nil {
			t.Fatal(err)
		}
		var ec struct {
			Status struct{ Token string } `json:"status"`
		}
		json.Unmarshal(out, &ec)
		parts := strings.Split(ec.Status.Token, ".")
		if len(parts) != 3 {
			t.Fatalf("no JWT in %s", out)
		}
		payload, _ := base64.RawURLEncoding.DecodeString(parts[1])
		var c struct {
			Aud  []string `json:"aud"`
			Iss  string   `json:"iss"`
			Exp  int64    `json:"exp"`
			Iat  int64    `json:"iat"`
			Kind string   `json:"kind"`
		}
		json.Unmarshal(payload, &c)
		if !slices.Equal(c.Aud, []string{audience}) || c.Iss != s.AuthURL || c.Kind != "kubernetes" || c.Exp-c.Iat > 300 {
			t.Fatalf("credential claims %+v", c)
		}
		// The edge's audit: kubectl's streams went through Airlock as the
		// person, each with the app's token, none with the cluster's.
		streams := 0
		for _, line := range strings.Split(s.Edge.Output(), "\n") {
			if !strings.Contains(line, `"msg":"stream"`) {
				continue
			}
			if strings.Contains(line, audience) {
				t.Fatalf("a stream carried the cluster's audience: %s", line)
			}
			if strings.Contains(line, email) && strings.Contains(line, s.App) {
				streams++
			}
		}
		if streams == 0 {
			t.Fatalf("no stream of %s in the edge's audit:\n%s", email, s.Edge.Output())
		}
	})
}
