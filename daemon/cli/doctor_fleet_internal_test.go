package cli

import (
	"strings"
	"testing"
	"time"

	"github.com/airlockhq/airlock/daemon/apitype"
	"github.com/airlockhq/airlock/internal/desktop"
)

// TestDoctorFleet: doctor names the address a fleet's connection is up
// to, and every address when none answers.
func TestDoctorFleet(t *testing.T) {
	ok := func(string) (string, string, error) { return "/c.yaml", "fine", nil }
	host := desktop.HostReport{Bus: true, Watcher: true, Notifier: true}
	fleet := []string{"a.example.com:7844", "b.example.com:7844"}
	tests := []struct {
		name string
		edge apitype.Edge
		want string
	}{
		{"connected", apitype.Edge{Name: "e", Address: fleet[0], Addresses: fleet, Current: "10.0.0.2:7844", Connected: true, Since: time.Now()}, "connected to 10.0.0.2:7844 since"},
		{"down", apitype.Edge{Name: "e", Address: fleet[0], Addresses: fleet, Error: "dial edge 10.0.0.2:7844: timeout"}, "every address of the fleet (a.example.com:7844, b.example.com:7844) unreachable: dial edge"},
		{"idle", apitype.Edge{Name: "e", Address: fleet[0], Addresses: fleet}, "every address of the fleet (a.example.com:7844, b.example.com:7844): not dialled yet"},
		{"one address", apitype.Edge{Name: "e", Address: "edge:7844", Current: "10.0.0.1:7844", Connected: true, Since: time.Now()}, "connected to 10.0.0.1:7844 since"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var b strings.Builder
			printChecks(&b, doctor("", &apitype.Status{Edges: []apitype.Edge{tt.edge}}, nil, "/sock", ok, host))
			line := ""
			for _, l := range strings.Split(b.String(), "\n") {
				if strings.Contains(l, "edge e ") {
					line = l
				}
			}
			if !strings.Contains(line, tt.want) {
				t.Errorf("lacks %q:\n%s", tt.want, b.String())
			}
		})
	}
}
