package edge_test

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	"github.com/airlockhq/airlock/edge/cli"
	"github.com/airlockhq/airlock/edge/edgetest"
	"github.com/airlockhq/airlock/internal/credentials"
	"github.com/airlockhq/airlock/internal/edgeclient"
	"github.com/airlockhq/airlock/internal/relay"
	"github.com/airlockhq/airlock/internal/testenv"
	"github.com/airlockhq/airlock/internal/wire"
)

// joinTunnel dials e as a connector with creds and returns the connection
// or the edge's refusal.
func joinTunnel(tb testing.TB, e *edgetest.Edge, creds *credentials.Credentials, id string) (*edgeclient.Conn, error) {
	tb.Helper()
	c, err := edgeclient.Dial(testenv.Context(tb), edgeclient.Config{
		Addr: e.Addr, ServerName: creds.ServerName, RootCAs: e.RootCAs,
		Hello: wire.Hello{Role: wire.RoleConnector, TunnelID: creds.TunnelID, Secret: creds.Secret, ConnectorID: id,
			Software: "edge-test/" + id, Assertions: true},
	})
	if err == nil {
		tb.Cleanup(func() { c.Close(wire.CodeOK, "") })
	}
	return c, err
}

// TestTunnelRotateDropsOldSecret: after `airlock-edge tunnel rotate`, the
// connections that authenticated with the old secret are closed, a
// connector that presents it again (a copy of the old credentials file) is
// refused, and the new credentials file joins.
func TestTunnelRotateDropsOldSecret(t *testing.T) {
	const app = "a.example.com"
	e := edgetest.Start(t, edgetest.Options{})
	tun := e.CreateTunnel(t, "a", app)
	old := e.EchoConnector(t, tun)
	stolen := *tun.Credentials // the copy a second connector would use
	user := e.DialClient(t)
	tok := e.MintToken(t, app, "alice@example.com", time.Hour)
	if _, err := edgetest.Echo(t, user, app, tok, "before"); err != nil {
		t.Fatalf("before the rotation: %v", err)
	}

	var out, errOut bytes.Buffer
	if code := cli.Command(context.Background(), []string{"tunnel", "rotate", "a", "--config", e.ConfigPath},
		cli.Env{Stdout: &out, Stderr: &errOut}); code != 0 {
		t.Fatalf("tunnel rotate: exit %d\n%s", code, errOut.String())
	}
	if !strings.Contains(out.String(), tun.CredentialsFile) {
		t.Fatalf("tunnel rotate does not name the credentials file:\n%s", out.String())
	}
	e.Reload(t) // a served edge follows its config file; this one is told

	select {
	case <-old.Context().Done():
	case <-testenv.Context(t).Done():
		t.Fatal("the connection of the old secret is still open")
	}
	if code := relay.CodeOf(context.Cause(old.Context())); code != wire.CodeUnauthenticated {
		t.Fatalf("the old connection closed with %v (%v), want unauthenticated", code, context.Cause(old.Context()))
	}
	if _, err := joinTunnel(t, e, &stolen, "second"); relay.CodeOf(err) != wire.CodeUnauthenticated || !strings.Contains(err.Error(), "wrong secret") {
		t.Fatalf("a connector with the old credentials: %v, want unauthenticated, wrong secret", err)
	}

	fresh, err := credentials.ReadCredentials(tun.CredentialsFile)
	if err != nil {
		t.Fatal(err)
	}
	if fresh.TunnelID != stolen.TunnelID || fresh.Secret == stolen.Secret {
		t.Fatalf("new credentials: tunnel %s (was %s), secret changed: %v", fresh.TunnelID, stolen.TunnelID, fresh.Secret != stolen.Secret)
	}
	e.EchoConnector(t, &edgetest.Tunnel{Name: "a", Credentials: fresh, CredentialsFile: tun.CredentialsFile})
	if _, err := edgetest.Echo(t, user, app, tok, "after"); err != nil {
		t.Fatalf("with the new credentials: %v", err)
	}
}
