package daemon_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/airlockhq/airlock/daemon/apitype"
	"github.com/airlockhq/airlock/daemon/config"
	"github.com/airlockhq/airlock/daemon/daemontest"
	"github.com/airlockhq/airlock/daemon/socks"
	"github.com/airlockhq/airlock/daemon/socks/sockstest"
	"github.com/airlockhq/airlock/edge/edgetest"
	"github.com/airlockhq/airlock/internal/systest/connectortest"
	"github.com/airlockhq/airlock/internal/testenv"
)

// proxyParts splits socks5://USER:PASS@HOST:PORT.
func proxyParts(t testing.TB, proxyURL string) (addr, user, pass string) {
	t.Helper()
	rest, ok := strings.CutPrefix(proxyURL, "socks5://")
	at := strings.LastIndex(rest, "@")
	if !ok || at < 0 {
		t.Fatalf("proxy url %q", proxyURL)
	}
	user, pass, _ = strings.Cut(rest[:at], ":")
	return rest[at+1:], user, pass
}

// TestEndToEnd runs a real edge and connector in-process with the daemon
// and checks the path and each refusal as a SOCKS client sees it.
func TestEndToEnd(t *testing.T) {
	e := edgetest.Start(t, edgetest.Options{})
	origin := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "origin saw host %s", r.Host)
	}))
	defer origin.Close()
	demo := e.CreateTunnel(t, "demo", "k8s.demo.test")
	connectortest.Start(t, e, demo, "k8s.demo.test=tcp://"+origin.Listener.Addr().String())
	e.CreateTunnel(t, "idle", "k8s.idle.test") // no connector runs for it

	cluster := func(name, app, tok string) config.Cluster {
		return config.Cluster{Name: name, App: app, Token: tok}
	}
	cfg := &config.Config{
		Edges: []config.Edge{{Name: "test", Address: e.Addr, CA: string(e.CAPEM), ServerName: e.ServerName}},
		Clusters: []config.Cluster{
			cluster("demo", "k8s.demo.test", e.MintToken(t, "k8s.demo.test", "alice@example.com", time.Hour)),
			cluster("outsider", "k8s.demo.test", e.MintToken(t, "k8s.demo.test", "mallory@elsewhere.test", time.Hour)),
			cluster("expired", "k8s.demo.test", e.MintToken(t, "k8s.demo.test", "alice@example.com", -time.Hour)),
			cluster("unknown", "k8s.unknown.test", e.MintToken(t, "k8s.unknown.test", "alice@example.com", time.Hour)),
			cluster("idle", "k8s.idle.test", e.MintToken(t, "k8s.idle.test", "alice@example.com", time.Hour)),
		},
	}
	d := daemontest.Start(t, cfg)

	// The path: a CONNECT to a name that resolves nowhere still reaches
	// the edge and, through the connector's rule, the origin.
	addr, user, pass := proxyParts(t, d.ProxyURL(t, "demo"))
	get := func() (string, error) {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		c, err := sockstest.Dial(ctx, addr, user, pass, "kube.does-not-exist.invalid:80")
		if err != nil {
			return "", err
		}
		defer c.Close()
		fmt.Fprintf(c, "GET / HTTP/1.0\r\nHost: kube.does-not-exist.invalid\r\n\r\n")
		b, err := io.ReadAll(c)
		return string(b), err
	}
	var body string
	testenv.Eventually(t, "a request through the tunnel", func() error { // until the connector has joined
		var err error
		body, err = get()
		return err
	})
	if !strings.Contains(body, "origin saw host kube.does-not-exist.invalid") {
		t.Fatalf("through the tunnel: %q", body)
	}
	if cl := d.WaitState(t, "demo", apitype.StateConnected); cl.Problem != nil {
		t.Errorf("demo problem %+v", cl.Problem)
	}
	st, _ := d.Client.Status(ctxT(t))
	if len(st.Edges) != 1 || !st.Edges[0].Connected {
		t.Errorf("edge status %+v, want connected", st.Edges)
	}

	t.Run("curl", func(t *testing.T) {
		curl := testenv.LookPath(t, "curl", "apt-get install curl")
		out, err := exec.Command(curl, "-sS", "--max-time", "10", "--socks5-hostname", user+":"+pass+"@"+addr, "http://kube.does-not-exist.invalid/").CombinedOutput()
		if err != nil || !strings.Contains(string(out), "origin saw host kube.does-not-exist.invalid") {
			t.Errorf("curl: %v\n%s", err, out)
		}
		out, err = exec.Command(curl, "-sS", "--max-time", "10", "--socks5-hostname", user+":wrong@"+addr, "http://kube.does-not-exist.invalid/").CombinedOutput()
		if err == nil {
			t.Errorf("curl with a wrong password succeeded: %s", out)
		}
	})

	refusals := []struct {
		cluster string
		reply   uint8
		cause   string
	}{
		{"outsider", socks.ReplyNotAllowed, "forbidden"},
		{"expired", socks.ReplyNotAllowed, "unauthenticated"},
		{"unknown", socks.ReplyHostUnreachable, "unknown_app"},
		{"idle", socks.ReplyNetworkUnreachable, "no_connector"},
	}
	for _, r := range refusals {
		t.Run(r.cluster, func(t *testing.T) {
			addr, user, pass := proxyParts(t, d.ProxyURL(t, r.cluster))
			_, err := sockstest.Dial(ctxT(t), addr, user, pass, "kubernetes.default.svc:443")
			if got := sockstest.Reply(err); got != r.reply {
				t.Fatalf("reply %#02x (%v), want %#02x", got, err, r.reply)
			}
			cl := d.WaitState(t, r.cluster, apitype.StateError)
			if cl.Problem == nil || cl.Problem.Code != r.cause {
				t.Errorf("problem %+v, want code %s", cl.Problem, r.cause)
			}
			want := "cluster=" + r.cluster + " app=" + cl.App
			found := false
			for _, line := range strings.Split(d.Logs(), "\n") {
				if strings.Contains(line, "level=WARN") && strings.Contains(line, "edge stream refused") && strings.Contains(line, want) && strings.Contains(line, "cause="+r.cause) {
					found = true
				}
			}
			if !found {
				t.Errorf("no warn line with %s and cause=%s in the daemon's log", want, r.cause)
			}
		})
	}

	t.Run("edge restart", func(t *testing.T) {
		e.Restart(t)
		start := time.Now()
		testenv.Eventually(t, "a good stream after an edge restart", func() error {
			body, err := get()
			if err == nil && !strings.Contains(body, "origin saw") {
				err = fmt.Errorf("the origin did not answer: %q", body)
			}
			return err
		})
		t.Logf("first good stream %v after the edge restarted", time.Since(start).Round(time.Millisecond))
		d.WaitState(t, "demo", apitype.StateConnected)
	})

	t.Run("edge down", func(t *testing.T) {
		e.Stop(t)
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second) // the QUIC handshake gives up after 5 s
		defer cancel()
		_, err := sockstest.Dial(ctx, addr, user, pass, "kube.does-not-exist.invalid:80")
		if got := sockstest.Reply(err); got != socks.ReplyNetworkUnreachable {
			t.Errorf("reply with the edge down %#02x (%v)", got, err)
		}
		var re *sockstest.ReplyError
		if !errors.As(err, &re) {
			t.Errorf("want a SOCKS reply, got %v", err)
		}
		cl := d.WaitState(t, "demo", apitype.StateError)
		t.Logf("with the edge down: %+v", cl.Problem)
	})
}
