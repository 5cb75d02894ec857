package edgetest_test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/airlockhq/airlock/edge"
	"github.com/airlockhq/airlock/edge/edgetest"
	"github.com/airlockhq/airlock/internal/edgeclient"
	"github.com/airlockhq/airlock/internal/relay"
	"github.com/airlockhq/airlock/internal/wire"
)

// echoConnector joins tun through edgeclient and echoes every stream.
func echoConnector(t *testing.T, e *edgetest.Edge, tun *edgetest.Tunnel) *edgeclient.Conn {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, err := edgeclient.Dial(ctx, edgeclient.Config{
		Addr: tun.Credentials.Edges[0], ServerName: tun.Credentials.ServerName, RootCAs: e.RootCAs,
		Hello: wire.Hello{Role: wire.RoleConnector, TunnelID: tun.Credentials.TunnelID, Secret: tun.Credentials.Secret, ConnectorID: "test", Assertions: true},
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(c.Welcome().Keys) == 0 {
		t.Fatal("the connector's welcome carries no keys")
	}
	t.Cleanup(func() { c.Close(wire.CodeOK, "") })
	go func() {
		for {
			s, err := c.AcceptStream(context.Background())
			if err != nil {
				return
			}
			go func() {
				defer s.Close()
				if _, err := wire.ReadFrameOf[*wire.Dial](s); err != nil {
					return
				}
				if wire.WriteFrame(s, &wire.Result{}) != nil {
					return
				}
				io.Copy(s, s)
				s.CloseWrite()
			}()
		}
	}()
	return c
}

func dialClient(t *testing.T, e *edgetest.Edge) *edgeclient.Conn {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, err := edgeclient.Dial(ctx, edgeclient.Config{Addr: e.Addr, ServerName: e.ServerName, RootCAs: e.RootCAs,
		Hello: wire.Hello{Role: wire.RoleClient}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close(wire.CodeOK, "") })
	return c
}

func echo(t *testing.T, c *edgeclient.Conn, open *wire.Open, msg string) (string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	s, err := c.OpenStream(ctx, open)
	if err != nil {
		return "", err
	}
	defer s.Close()
	io.WriteString(s, msg)
	s.CloseWrite()
	s.SetReadDeadline(time.Now().Add(5 * time.Second))
	b, err := io.ReadAll(s)
	return string(b), err
}

func TestEdgeWithEdgeclient(t *testing.T) {
	e := edgetest.Start(t, edgetest.Options{})
	tun := e.CreateTunnel(t, "demo", "k8s.demo.test")
	echoConnector(t, e, tun)
	c := dialClient(t, e)

	tok := e.MintToken(t, "k8s.demo.test", "alice@example.com", time.Hour)
	got, err := echo(t, c, &wire.Open{App: "k8s.demo.test", Token: tok}, "ping")
	if err != nil || got != "ping" {
		t.Fatalf("echo: %q, %v", got, err)
	}
	rec := e.WaitAudit(t, func(r edge.AuditRecord) bool { return r.Outcome == "ok" })
	if rec.User != "alice@example.com" || rec.BytesFromClient != 4 || rec.BytesToClient != 4 {
		t.Fatalf("audit %+v", rec)
	}

	cases := []struct {
		name string
		open *wire.Open
		code wire.Code
	}{
		{"expired", &wire.Open{App: "k8s.demo.test", Token: e.MintToken(t, "k8s.demo.test", "alice@example.com", -time.Hour)}, wire.CodeUnauthenticated},
		{"outside policy", &wire.Open{App: "k8s.demo.test", Token: e.MintToken(t, "k8s.demo.test", "eve@evil.test", time.Hour)}, wire.CodeForbidden},
		{"unknown app", &wire.Open{App: "nope.demo.test", Token: e.MintToken(t, "nope.demo.test", "alice@example.com", time.Hour)}, wire.CodeUnknownApp},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := echo(t, c, tc.open, "x")
			var ee *wire.Error
			if !errors.As(err, &ee) || ee.Code != tc.code {
				t.Fatalf("got %v, want %v", err, tc.code)
			}
		})
	}

	e.SetPolicy(t, "k8s.demo.test", edge.Policy{Allow: edge.Rule{Emails: []string{"eve@evil.test"}}})
	if _, err := echo(t, c, &wire.Open{App: "k8s.demo.test", Token: tok}, "x"); relay.CodeOf(err) != wire.CodeForbidden {
		t.Fatalf("alice after the policy change: %v", err)
	}

	resp, err := http.Get(e.AdminURL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.Contains(string(body), `airlock_edge_streams_total{outcome="forbidden"}`) {
		t.Fatalf("metrics lack the forbidden streams:\n%s", body)
	}
}

func TestRestart(t *testing.T) {
	e := edgetest.Start(t, edgetest.Options{})
	tun := e.CreateTunnel(t, "demo", "k8s.demo.test")
	addr := e.Addr
	e.Restart(t)
	if e.Addr != addr {
		t.Fatalf("the address changed across restart: %s → %s", addr, e.Addr)
	}
	echoConnector(t, e, tun)
	c := dialClient(t, e)
	got, err := echo(t, c, &wire.Open{App: "k8s.demo.test", Token: e.MintToken(t, "k8s.demo.test", "bob@example.com", time.Hour)}, "after restart")
	if err != nil || got != "after restart" {
		t.Fatalf("after restart: %q, %v", got, err)
	}
}
