package cli

import (
	"strings"
	"testing"
	"time"

	"github.com/airlockhq/airlock/daemon/apitype"
	"github.com/airlockhq/airlock/internal/desktop"
)

// TestIdentityChangeShown: a sign-in that came back as another user is a
// warning in `airlock status` (the edge's sign-in line) and in `airlock
// doctor`; without one, neither says anything of it.
func TestIdentityChangeShown(t *testing.T) {
	at := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	tests := []struct {
		name    string
		changed *apitype.IdentityChange
		status  []string
		doctor  []string
	}{
		{"changed", &apitype.IdentityChange{From: "alice@example.com", To: "mallory@example.com", Time: at},
			[]string{"signed in as mallory@example.com", "[WARNING: signed in as mallory@example.com at ", "but alice@example.com was signed in before", "airlock logout"},
			[]string{"warn  sign-in main", "signed in as mallory@example.com at ", "but alice@example.com was signed in before", "fix: if you did not switch accounts yourself"}},
		{"unchanged", nil, []string{"signed in as mallory@example.com"}, []string{"ok    sign-in main  signed in as mallory@example.com"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			si := &apitype.SignIn{Edge: "main", State: apitype.SignInSignedIn, Email: "mallory@example.com", IdentityChanged: tt.changed}
			st := &apitype.Status{Edges: []apitype.Edge{{Name: "main", Address: "edge:7844", SignIn: si}}}
			var b strings.Builder
			PrintStatus(&b, st)
			check := func(what, out string, want []string) {
				t.Helper()
				for _, w := range want {
					if !strings.Contains(out, w) {
						t.Errorf("%s lacks %q:\n%s", what, w, out)
					}
				}
				if tt.changed == nil && strings.Contains(out, "was signed in before") {
					t.Errorf("%s warns without a change:\n%s", what, out)
				}
			}
			check("status", b.String(), tt.status)
			b.Reset()
			ok := func(string) (string, string, error) { return "/c.yaml", "fine", nil }
			printChecks(&b, doctor("", st, nil, "/sock", ok, desktop.HostReport{Bus: true, Watcher: true, Notifier: true}))
			check("doctor", b.String(), tt.doctor)
		})
	}
}
