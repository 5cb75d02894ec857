package edge_test

import (
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"testing"

	"github.com/airlockhq/airlock/edge"
	"github.com/airlockhq/airlock/edge/edgetest"
	"github.com/airlockhq/airlock/internal/edgeclient"
	"github.com/airlockhq/airlock/internal/testenv"
	"github.com/airlockhq/airlock/internal/wire"
)

// TestConnectorInstancesVisible: the operator sees every connector
// instance of a tunnel, a stranger with a copy of the credentials
// included: one log line when an instance joins (with its address and
// software) and when it leaves, each instance and connection in /healthz,
// and a gauge of instances per tunnel.
func TestConnectorInstancesVisible(t *testing.T) {
	var logs testenv.Buffer
	e := edgetest.Start(t, edgetest.Options{Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	tun := e.CreateTunnel(t, "a", "a.example.com")
	e.CreateTunnel(t, "idle", "idle.example.com")
	var stranger *edgeclient.Conn
	for _, id := range []string{"real", "real", "stranger"} {
		c, err := joinTunnel(t, e, tun.Credentials, id)
		if err != nil {
			t.Fatal(err)
		}
		stranger = c
	}

	h := healthz(t, e)
	a, idle := h.Tunnels["a"], h.Tunnels["idle"]
	if a.ID != tun.Credentials.TunnelID || a.Connections != 3 || a.MaxConnections != edge.DefaultTunnelConnections || len(a.Connectors) != 2 {
		t.Fatalf("/healthz tunnel a: %+v", a)
	}
	for i, want := range []struct {
		id    string
		conns int
	}{{"real", 2}, {"stranger", 1}} {
		c := a.Connectors[i]
		if c.ConnectorID != want.id || c.Software != "edge-test/"+want.id || len(c.Connections) != want.conns {
			t.Fatalf("/healthz connector %d: %+v, want %s with %d connections", i, c, want.id, want.conns)
		}
		for _, cc := range c.Connections {
			if !strings.HasPrefix(cc.Remote, "127.0.0.1:") || cc.ConnID == "" || cc.Since.IsZero() {
				t.Fatalf("/healthz connection %+v", cc)
			}
		}
	}
	if idle.Connections != 0 || len(idle.Connectors) != 0 {
		t.Fatalf("/healthz tunnel idle: %+v", idle)
	}
	if h.Connectors["a"] != 3 {
		t.Fatalf("/healthz connectors %v", h.Connectors)
	}
	if v := metric(t, e, "airlock_edge_connector_instances", "tunnel", "a"); v != 2 {
		t.Fatalf("connector_instances{tunnel=a} = %v, want 2", v)
	}
	joined := lines(logs.String(), "connector joined the tunnel")
	if len(joined) != 2 || !strings.Contains(joined[0], "connector_id=real") || !strings.Contains(joined[1], "connector_id=stranger") {
		t.Fatalf("join lines %q: want one per instance", joined)
	}
	for _, l := range joined {
		if !strings.Contains(l, "tunnel=a") || !strings.Contains(l, "remote=127.0.0.1:") || !strings.Contains(l, "software=edge-test/") {
			t.Fatalf("join line %q lacks the tunnel, the address or the software", l)
		}
	}

	stranger.Close(wire.CodeOK, "")
	testenv.Eventually(t, "the stranger to leave", func() error {
		if v := metric(t, e, "airlock_edge_connector_instances", "tunnel", "a"); v != 1 {
			return fmt.Errorf("connector_instances{tunnel=a} = %v, want 1", v)
		}
		return nil
	})
	left := lines(logs.String(), "connector left the tunnel")
	if len(left) != 1 || !strings.Contains(left[0], "connector_id=stranger") || !strings.Contains(left[0], "instances=1") {
		t.Fatalf("leave lines %q: want one, for the stranger", left)
	}
	if a := healthz(t, e).Tunnels["a"]; a.Connections != 2 || len(a.Connectors) != 1 {
		t.Fatalf("/healthz tunnel a after the stranger left: %+v", a)
	}
}

// healthz returns the edge's /healthz.
func healthz(tb testing.TB, e *edgetest.Edge) edge.Health {
	tb.Helper()
	resp, err := http.Get(e.AdminURL + "/healthz")
	if err != nil {
		tb.Fatal(err)
	}
	defer resp.Body.Close()
	var h edge.Health
	if err := json.NewDecoder(resp.Body).Decode(&h); err != nil {
		tb.Fatal(err)
	}
	return h
}

// lines returns the lines of text that contain s.
func lines(text, s string) []string {
	var out []string
	for l := range strings.Lines(text) {
		if strings.Contains(l, s) {
			out = append(out, l)
		}
	}
	return out
}
