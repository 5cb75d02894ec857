package cli

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/airlockhq/airlock/daemon/apitype"
	"github.com/airlockhq/airlock/internal/desktop"
)

// TestTransportShown: status and doctor say which transport an edge link
// uses, and why when it is TCP; doctor warns about TCP with what to do.
func TestTransportShown(t *testing.T) {
	since := time.Date(2026, 1, 1, 12, 0, 0, 0, time.Local)
	why := "UDP to the edge got no answer within 1.5 s; trying QUIC again in 5m"
	tests := []struct {
		name       string
		edge       apitype.Edge
		status     string
		doctorWarn bool
	}{
		{"QUIC", apitype.Edge{Name: "e", Address: "edge:7844", Connected: true, Since: since, Transport: "QUIC"},
			"e     edge:7844  connected since 12:00:00 over QUIC\n", false},
		{"TCP", apitype.Edge{Name: "e", Address: "edge:7844", Connected: true, Since: since, Transport: "TCP", TransportReason: why},
			"e     edge:7844  connected since 12:00:00 over TCP (" + why + ")\n", true},
		{"not said", apitype.Edge{Name: "e", Address: "edge:7844", Connected: true, Since: since},
			"e     edge:7844  connected since 12:00:00\n", false},
	}
	ok := func(string) (string, string, error) { return "/c.yaml", "fine", nil }
	host := desktop.HostReport{Bus: true, Watcher: true, Notifier: true}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var b bytes.Buffer
			PrintStatus(&b, &apitype.Status{Edges: []apitype.Edge{tt.edge}})
			if !strings.Contains(b.String(), tt.status) {
				t.Errorf("status lacks %q:\n%s", tt.status, b.String())
			}
			var d strings.Builder
			printChecks(&d, doctor("", &apitype.Status{Edges: []apitype.Edge{tt.edge}}, nil, "/sock", ok, host))
			if got := strings.Contains(d.String(), "TCP: "+why); got != tt.doctorWarn {
				t.Errorf("doctor's TCP warning shown %v, want %v:\n%s", got, tt.doctorWarn, d.String())
			}
			if tt.edge.Transport != "" && !strings.Contains(d.String(), "over "+tt.edge.Transport) {
				t.Errorf("doctor does not name the transport:\n%s", d.String())
			}
		})
	}
}
