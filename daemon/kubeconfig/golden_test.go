package kubeconfig

import (
	"context"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/golden")

// TestGolden connects each file in testdata/golden, compares the result with
// NAME.connected (comments, quoting, order and formatting kept), and disconnects,
// which must give back the original byte for byte.
func TestGolden(t *testing.T) {
	targets := map[string]Target{
		"by-server": {Name: "prod", Servers: []string{"https://34.1.2.3"}},
	}
	inputs, err := filepath.Glob("testdata/golden/*.yaml")
	if err != nil || len(inputs) == 0 {
		t.Fatalf("no golden inputs: %v", err)
	}
	for _, in := range inputs {
		name := strings.TrimSuffix(filepath.Base(in), ".yaml")
		t.Run(name, func(t *testing.T) {
			orig := readFile(t, in)
			p := writeFile(t, t.TempDir(), "config", orig)
			s := newSyncer(t, Options{Paths: []string{p}})
			target, ok := targets[name]
			if !ok {
				target = Target{Name: "prod", Clusters: []string{"prod"}}
			}
			ctx := context.Background()
			if err := s.Connect(ctx, target, testProxy); err != nil {
				t.Fatalf("Connect: %v", err)
			}
			got := readFile(t, p)
			golden := strings.TrimSuffix(in, ".yaml") + ".connected"
			if *update {
				if err := os.WriteFile(golden, []byte(got), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			if want := readFile(t, golden); got != want {
				t.Errorf("connected file differs from %s:\n%s", golden, got)
			}
			if st := s.Status("prod"); len(st.Applied) == 0 || st.Err != nil {
				t.Errorf("status = %+v", st)
			}
			if err := s.Disconnect(ctx, "prod"); err != nil {
				t.Fatalf("Disconnect: %v", err)
			}
			if back := readFile(t, p); back != orig {
				t.Errorf("disconnect did not give back the original:\n%q\nwant\n%q", back, orig)
			}
		})
	}
}
