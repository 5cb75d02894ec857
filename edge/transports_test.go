package edge

import (
	"fmt"
	"reflect"
	"testing"

	"github.com/airlockhq/airlock/internal/edgeclient"
	"github.com/airlockhq/airlock/internal/testenv"
	"github.com/airlockhq/airlock/internal/wire"
)

// TestConnectionsByTransport: /healthz and airlock_edge_connections count
// the live client and connector connections by transport, and a closed
// one leaves both.
func TestConnectionsByTransport(t *testing.T) {
	e := startEdge(t)
	e.echoConnector(t, edgeclient.TransportTCP, "c-tcp", e.creds)
	e.echoConnector(t, edgeclient.TransportQUIC, "c-quic", e.creds)
	var clients []*edgeclient.Conn
	for _, tr := range []string{edgeclient.TransportQUIC, edgeclient.TransportTCP, edgeclient.TransportTCP} {
		c, err := e.dialOver(t, tr, wire.Hello{Role: wire.RoleClient})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close(wire.CodeOK, "") })
		clients = append(clients, c)
	}
	for _, st := range []struct {
		name string
		do   func()
		want map[string]map[string]int
	}{
		{"two connectors and three clients", func() {}, map[string]map[string]int{
			"client": {"quic": 1, "tcp": 2}, "connector": {"quic": 1, "tcp": 1}}},
		{"a TCP client gone", func() { clients[2].Close(wire.CodeOK, "") }, map[string]map[string]int{
			"client": {"quic": 1, "tcp": 1}, "connector": {"quic": 1, "tcp": 1}}},
	} {
		t.Run(st.name, func(t *testing.T) {
			st.do()
			var health, metric map[string]map[string]int
			testenv.Eventually(t, fmt.Sprintf("connections by transport %v", st.want), func() bool {
				health, metric = healthOf(t, e).Transports, connsMetric(t, e.srv)
				return reflect.DeepEqual(health, st.want) && reflect.DeepEqual(metric, st.want)
			})
		})
	}
}

// connsMetric is airlock_edge_connections by role and transport.
func connsMetric(tb testing.TB, s *Server) map[string]map[string]int {
	tb.Helper()
	fams, err := s.Registry().Gather()
	if err != nil {
		tb.Fatal(err)
	}
	out := map[string]map[string]int{"client": {"quic": 0, "tcp": 0}, "connector": {"quic": 0, "tcp": 0}}
	for _, f := range fams {
		if f.GetName() != "airlock_edge_connections" {
			continue
		}
		for _, m := range f.GetMetric() {
			l := map[string]string{}
			for _, p := range m.GetLabel() {
				l[p.GetName()] = p.GetValue()
			}
			out[l["role"]][l["transport"]] = int(m.GetGauge().GetValue())
		}
	}
	return out
}
