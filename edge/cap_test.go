package edge_test

import (
	"fmt"
	"log/slog"
	"strings"
	"testing"

	"github.com/airlockhq/airlock/edge"
	"github.com/airlockhq/airlock/edge/edgetest"
	"github.com/airlockhq/airlock/internal/edgeclient"
	"github.com/airlockhq/airlock/internal/relay"
	"github.com/airlockhq/airlock/internal/testenv"
	"github.com/airlockhq/airlock/internal/wire"
)

// TestTunnelConnectionCap: a tunnel holds at most max_connections
// connector connections at an edge (8 by default); one more, such as a
// second connector started with a copy of the credentials file, is refused
// with tunnel_full and a warning that names the connectors holding it.
func TestTunnelConnectionCap(t *testing.T) {
	cases := []struct {
		name string
		max  int // 0: the default
		want int
	}{
		{"default", 0, edge.DefaultTunnelConnections},
		{"configured", 3, 3},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var logs testenv.Buffer
			e := edgetest.Start(t, edgetest.Options{Logger: slog.New(slog.NewTextHandler(&logs, nil))})
			tun := e.CreateTunnel(t, "a", "a.example.com")
			if tc.max != 0 {
				e.UpdateConfig(t, func(c *edge.Config) error {
					c.Tunnels[0].MaxConnections = tc.max
					return nil
				})
			}
			var held []*edgeclient.Conn
			for i := range tc.want {
				c, err := joinTunnel(t, e, tun.Credentials, fmt.Sprintf("real-%d", i))
				if err != nil {
					t.Fatalf("connection %d of %d: %v", i+1, tc.want, err)
				}
				held = append(held, c)
			}
			_, err := joinTunnel(t, e, tun.Credentials, "stranger")
			if relay.CodeOf(err) != wire.CodeTunnelFull || !strings.Contains(err.Error(), fmt.Sprintf("its %d connector connections", tc.want)) {
				t.Fatalf("connection %d: %v, want tunnel full naming the cap", tc.want+1, err)
			}
			line := strings.Join(lines(logs.String(), "connector refused"), "")
			if !strings.Contains(line, "level=WARN") || !strings.Contains(line, "connector_id=stranger") || !strings.Contains(line, "real-0@127.0.0.1:") {
				t.Fatalf("the refusal's log line %q does not name the stranger and the holders; the log:\n%s", line, logs.String())
			}
			// Counted once the edge has closed the refused connection.
			testenv.Eventually(t, "the refusal counted", func() error {
				if v := metric(t, e, "airlock_edge_handshake_failures_total", "reason", "tunnel_full"); v != 1 {
					return fmt.Errorf("tunnel_full refusals counted %v, want 1", v)
				}
				return nil
			})
			// A place that frees up is taken again.
			held[0].Close(wire.CodeOK, "")
			testenv.Eventually(t, "the freed place to be taken", func() error {
				c, err := joinTunnel(t, e, tun.Credentials, "replacement")
				if err == nil {
					c.Close(wire.CodeOK, "")
				}
				return err
			})
		})
	}
}

// metric returns the value of counter or gauge name{label="value"} in the
// edge's registry (what /metrics serves), 0 when there is none.
func metric(tb testing.TB, e *edgetest.Edge, name, label, value string) float64 {
	tb.Helper()
	mfs, err := e.Server().Registry().Gather()
	if err != nil {
		tb.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == label && l.GetValue() == value {
					return m.GetCounter().GetValue() + m.GetGauge().GetValue()
				}
			}
		}
	}
	return 0
}
