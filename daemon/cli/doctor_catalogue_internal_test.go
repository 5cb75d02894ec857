package cli

import (
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/airlockhq/airlock/daemon/apitype"
	"github.com/airlockhq/airlock/internal/desktop"
)

// TestDoctorCatalogue: doctor shows each joined edge's catalogue (apps,
// last sync, problems, entries kept as the person changed them) and, with
// no configuration file, points at airlock join.
func TestDoctorCatalogue(t *testing.T) {
	ok := func(string) (string, string, error) { return "/c.yaml", "fine", nil }
	host := desktop.HostReport{Bus: true, Watcher: true, Notifier: true}
	synced := time.Date(2026, 12, 2, 17, 0, 0, 0, time.UTC)
	tests := []struct {
		name  string
		c     apitype.Catalogue
		want  []string
		fails int
	}{
		{"synced", apitype.Catalogue{Edge: "acme", Synced: synced, Apps: []apitype.CatalogueApp{{Name: "demo"}, {Name: "lab"}}},
			[]string{"ok    catalogue acme  2 app(s), synced"}, 0},
		{"never", apitype.Catalogue{Edge: "acme"}, []string{"warn  catalogue acme  never synced", "airlock sync"}, 0},
		{"signed out", apitype.Catalogue{Edge: "acme", Synced: synced, Problem: &apitype.Problem{Code: apitype.CatalogueSignIn, Message: "signed out"}},
			[]string{"warn  catalogue acme  signed out", "airlock login"}, 0},
		{"fetch failed and kept", apitype.Catalogue{Edge: "acme", Synced: synced, Kept: []string{"users/acme-lab"},
			Problem: &apitype.Problem{Code: apitype.CatalogueFetchFailed, Message: "no answer"}},
			[]string{"FAIL  catalogue acme  catalogue_fetch_failed: no answer", "left as it is: users/acme-lab"}, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var b strings.Builder
			printChecks(&b, doctor("", &apitype.Status{Catalogues: []apitype.Catalogue{tt.c}}, nil, "/sock", ok, host))
			out := b.String()
			for _, w := range tt.want {
				if !strings.Contains(out, w) {
					t.Errorf("lacks %q:\n%s", w, out)
				}
			}
			if n := strings.Count(out, "FAIL  "); n != tt.fails {
				t.Errorf("%d fails, want %d:\n%s", n, tt.fails, out)
			}
		})
	}
	t.Run("no configuration file", func(t *testing.T) {
		missing := func(string) (string, string, error) {
			return "/c.yaml", "", fmt.Errorf("read config: %w", os.ErrNotExist)
		}
		var b strings.Builder
		printChecks(&b, doctor("", nil, fmt.Errorf("not running"), "/sock", missing, host))
		if !strings.Contains(b.String(), "airlock join") {
			t.Errorf("doctor without a configuration does not point at airlock join:\n%s", b.String())
		}
	})
}
