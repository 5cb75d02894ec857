package cli_test

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/airlockhq/airlock/daemon/apitype"
	"github.com/airlockhq/airlock/daemon/cli"
)

// TestPrintStatusFleet: the edge table shows the address carrying the
// edge's streams now, a fleet lists its addresses, and a cluster says which
// address carries it where that is news.
func TestPrintStatusFleet(t *testing.T) {
	since := time.Date(2026, 1, 1, 12, 0, 0, 0, time.Local)
	tests := []struct {
		name    string
		edge    apitype.Edge
		via     string
		want    []string
		notWant []string
	}{
		{"fleet", apitype.Edge{Name: "main", Address: "a.example.com:7844", Addresses: []string{"a.example.com:7844", "b.example.com:7844"},
			Current: "10.0.0.2:7844", Connected: true, Since: since}, "10.0.0.2:7844",
			[]string{"main  10.0.0.2:7844  connected since 12:00:00\n", "  main: a fleet of 2 addresses: a.example.com:7844, b.example.com:7844\n", "  prod: via edge main at 10.0.0.2:7844\n"}, nil},
		{"a name resolved", apitype.Edge{Name: "main", Address: "edge.example.com:7844", Current: "10.0.0.9:7844", Connected: true, Since: since}, "10.0.0.9:7844",
			[]string{"main  10.0.0.9:7844  connected since", "  prod: via edge main at 10.0.0.9:7844\n"}, []string{"a fleet of"}},
		{"one address", apitype.Edge{Name: "main", Address: "10.0.0.1:7844", Current: "10.0.0.1:7844", Connected: true, Since: since}, "10.0.0.1:7844",
			[]string{"main  10.0.0.1:7844  connected since"}, []string{"via edge", "a fleet of"}},
		{"down", apitype.Edge{Name: "main", Address: "a.example.com:7844", Addresses: []string{"a.example.com:7844", "b.example.com:7844"}, Error: "dial edge 10.0.0.2:7844: timeout"}, "",
			[]string{"main  a.example.com:7844  unreachable: dial edge 10.0.0.2:7844: timeout\n"}, []string{"via edge"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st := &apitype.Status{
				Clusters: []apitype.Cluster{{Name: "prod", Edge: "main", EdgeAddress: tt.via, State: apitype.StateConnected, Listen: "127.0.0.2:1080"}},
				Edges:    []apitype.Edge{tt.edge},
			}
			var b bytes.Buffer
			cli.PrintStatus(&b, st)
			out := b.String()
			for _, w := range tt.want {
				if !strings.Contains(out, w) {
					t.Errorf("output lacks %q:\n%s", w, out)
				}
			}
			for _, w := range tt.notWant {
				if strings.Contains(out, w) {
					t.Errorf("output has %q:\n%s", w, out)
				}
			}
		})
	}
}
