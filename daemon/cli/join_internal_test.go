package cli

import (
	"bytes"
	"slices"
	"strings"
	"testing"

	"github.com/airlockhq/airlock/daemon/apitype"
)

func TestReorder(t *testing.T) {
	for _, tc := range []struct {
		name     string
		in, want []string
	}{
		{"flags first", []string{"--ca", "sha256:x", "edge"}, []string{"--ca", "sha256:x", "edge"}},
		{"flags after", []string{"edge", "--ca", "sha256:x", "--device"}, []string{"--ca", "sha256:x", "--device", "edge"}},
		{"flag with =", []string{"edge", "--ca=sha256:x"}, []string{"--ca=sha256:x", "edge"}},
		{"socket", []string{"edge", "--socket", "/s"}, []string{"--socket", "/s", "edge"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := reorder(tc.in); !slices.Equal(got, tc.want) {
				t.Fatalf("reorder(%q) = %q, want %q", tc.in, got, tc.want)
			}
		})
	}
}

func TestPrintCatalogue(t *testing.T) {
	for _, tc := range []struct {
		name string
		c    apitype.Catalogue
		want []string
	}{
		{"identity and not", apitype.Catalogue{Edge: "acme", KubeconfigFile: "/h/.kube/config", Added: []string{"acme-demo"}, CurrentContext: "acme-demo",
			Apps: []apitype.CatalogueApp{
				{Name: "demo", Hostname: "k8s.demo.example.com", Context: "acme-demo", Identity: true, Enabled: true},
				{Name: "lab", Hostname: "k8s.lab.example.com", Context: "acme-lab", Enabled: false},
				{Name: "web", Hostname: "web.example.com", MappedOnto: "mine", Enabled: true},
			}},
			[]string{"acme: 3 app(s)", "kubectl --context acme-demo  (as you)", "add your credentials to user acme-lab", "[off]",
				"through your kubeconfig cluster mine", "contexts added to /h/.kube/config: acme-demo", "current-context is now acme-demo"}},
		{"removed and kept", apitype.Catalogue{Edge: "acme", Removed: []string{"acme-lab"}, Kept: []string{"users/acme-lab"},
			Problem: &apitype.Problem{Code: apitype.CatalogueFetchFailed, Message: "no answer"}},
			[]string{"removed (no longer allowed): acme-lab", "kept as you changed it: users/acme-lab", "catalogue_fetch_failed: no answer"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var b bytes.Buffer
			printCatalogue(&b, tc.c)
			for _, w := range tc.want {
				if !strings.Contains(b.String(), w) {
					t.Errorf("output lacks %q:\n%s", w, b.String())
				}
			}
		})
	}
}
