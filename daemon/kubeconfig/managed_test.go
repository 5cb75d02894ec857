package kubeconfig

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/airlockhq/airlock/internal/testenv"
)

func joinedApps() []Managed {
	return []Managed{
		{Name: "example-prod", App: "k8s.prod.example.com", Server: "https://10.0.0.1:6443", CAData: "LS0tLS1CRUdJTg==",
			Exec: &Exec{Command: "/usr/bin/airlock", Args: []string{"credential", "--cluster", "example-prod"}}},
		{Name: "example-lab", App: "k8s.lab.example.com", Server: "https://10.0.0.2:6443", TLSServerName: "lab.internal"},
	}
}

// TestProvisionRoundTrip: entries for a joined edge go in, a lost app's
// come out, and taking everything out gives the file back byte for byte,
// with the proxy-url sync running on the new entries in between.
func TestProvisionRoundTrip(t *testing.T) {
	for _, tc := range []struct{ name, before string }{
		{"comments and own entries", `# my kubeconfig
apiVersion: v1
kind: Config
clusters:
  - name: mine   # mine
    cluster:
      server: https://mine.example.com:6443

  # the end of clusters
contexts:
  - name: mine
    context: {cluster: mine, user: me}
users:
  - name: me
    user:
      token: abc
current-context: mine
preferences: {}
`},
		{"empty lists and no current-context", "apiVersion: v1\nclusters: null\ncontexts: []\nusers:\nkind: Config\n"},
		{"empty current-context", "apiVersion: v1\nkind: Config\ncurrent-context: \"\"\n"},
		{"no trailing newline", "apiVersion: v1\nkind: Config\nclusters:\n- name: a\n  cluster:\n    server: https://a:1\ncurrent-context: a"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			path := writeFile(t, dir, "config", tc.before)
			s := newSyncer(t, Options{Paths: []string{path}})
			ctx := context.Background()
			res, err := s.Provision(ctx, "example", joinedApps(), ManagedState{})
			if err != nil {
				t.Fatalf("Provision: %v", err)
			}
			if !slices.Equal(res.Added, []string{"example-prod", "example-lab"}) {
				t.Fatalf("Added %v", res.Added)
			}
			hadCurrent := strings.Contains(tc.before, "current-context: mine") || strings.Contains(tc.before, "current-context: a")
			if (res.Current == "example-prod") == hadCurrent {
				t.Fatalf("Current %q with a file that had one: %v", res.Current, hadCurrent)
			}
			if err := s.Connect(ctx, Target{Name: "example-prod", Clusters: []string{"example-prod"}}, testProxy); err != nil {
				t.Fatalf("Connect: %v", err)
			}
			mid := readFile(t, path)
			if !strings.Contains(mid, "proxy-url: "+testProxy) || !strings.Contains(mid, ManagedExtension) {
				t.Fatalf("after Provision and Connect:\n%s", mid)
			}
			again, err := s.Provision(ctx, "example", joinedApps()[:1], res.State)
			if err != nil || !slices.Equal(again.Removed, []string{"example-lab"}) || len(again.Added) != 0 {
				t.Fatalf("Provision of one app: %+v, %v\n%s", again, err, readFile(t, path))
			}
			if err := s.Disconnect(ctx, "example-prod"); err != nil {
				t.Fatal(err)
			}
			if _, err := s.Provision(ctx, "example", nil, again.State); err != nil {
				t.Fatalf("Provision of nothing: %v", err)
			}
			if got := readFile(t, path); got != tc.before {
				t.Fatalf("not given back byte for byte:\nbefore:\n%q\nmiddle:\n%s\nafter:\n%q", tc.before, mid, got)
			}
		})
	}
}

// TestProvisionCreatesFile: a fresh home gets a kubeconfig that kubectl
// reads, and giving everything back removes the file and its folder.
func TestProvisionCreatesFile(t *testing.T) {
	kubectlBin := testenv.File(t, "/usr/bin/kubectl", kubectlInstall)
	home := t.TempDir()
	path := filepath.Join(home, ".kube", "config")
	s := newSyncer(t, Options{Paths: []string{path}})
	ctx := context.Background()
	res, err := s.Provision(ctx, "example", joinedApps(), ManagedState{})
	if err != nil {
		t.Fatal(err)
	}
	if !res.State.Created || !res.State.CreatedDir || res.Current != "example-prod" {
		t.Fatalf("Provision = %+v", res)
	}
	out, err := kubectl(t, kubectlBin, path, "config", "get-contexts", "-o", "name")
	if err != nil || strings.Fields(out)[0] != "example-lab" && strings.Fields(out)[0] != "example-prod" {
		t.Fatalf("kubectl config get-contexts: %v: %s\n%s", err, out, readFile(t, path))
	}
	if out, err := kubectl(t, kubectlBin, path, "config", "current-context"); err != nil || strings.TrimSpace(out) != "example-prod" {
		t.Fatalf("current-context: %v %q", err, out)
	}
	if st, _ := os.Stat(path); st.Mode().Perm() != 0o600 {
		t.Errorf("mode %v", st.Mode().Perm())
	}
	if _, err := s.Provision(ctx, "example", nil, res.State); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Dir(path)); !os.IsNotExist(err) {
		t.Fatalf("the folder Provision created is still there: %v", err)
	}
}

// TestProvisionKeepsEdits: an entry the person changed is neither
// rewritten nor removed, and is reported.
func TestProvisionKeepsEdits(t *testing.T) {
	dir := t.TempDir()
	path := writeFile(t, dir, "config", "apiVersion: v1\nkind: Config\ncurrent-context: x\n")
	s := newSyncer(t, Options{Paths: []string{path}})
	ctx := context.Background()
	res, err := s.Provision(ctx, "example", joinedApps(), ManagedState{})
	if err != nil {
		t.Fatal(err)
	}
	// The person fills in the user left for them.
	edited := strings.Replace(readFile(t, path), "- name: example-lab\n  user:\n", "- name: example-lab\n  user:\n    token: mine\n", 1)
	if edited == readFile(t, path) {
		t.Fatalf("the test's edit did not apply:\n%s", edited)
	}
	replaceFile(t, path, edited)
	res2, err := s.Provision(ctx, "example", nil, res.State)
	if !errors.Is(err, ErrManagedEdited) || !slices.Equal(res2.Kept, []string{"users/example-lab"}) {
		t.Fatalf("Provision = %+v, %v; want the edited user kept", res2, err)
	}
	if got := readFile(t, path); !strings.Contains(got, "token: mine") || strings.Contains(got, "example-prod") {
		t.Fatalf("after:\n%s", got)
	}
}

// TestProvisionMapsOntoOwnEntry: an app without an identity from us whose
// server the person already has gets no entries; the person's is used.
func TestProvisionMapsOntoOwnEntry(t *testing.T) {
	dir := t.TempDir()
	before := "apiVersion: v1\nkind: Config\nclusters:\n- name: lab-admin\n  cluster:\n    server: https://10.0.0.2:6443\ncurrent-context: lab-admin\n"
	path := writeFile(t, dir, "config", before)
	s := newSyncer(t, Options{Paths: []string{path}})
	res, err := s.Provision(context.Background(), "example", joinedApps()[1:], ManagedState{})
	if err != nil {
		t.Fatal(err)
	}
	if res.MapOnto["example-lab"] != "lab-admin" || len(res.Added) != 0 || readFile(t, path) != before {
		t.Fatalf("Provision = %+v\n%s", res, readFile(t, path))
	}
}

// TestProvisionCatalogueBound: the catalogue's most apps (1000) go in and
// come out again in one Provision each (one splice per list, not one per
// entry), the file back byte for byte.
func TestProvisionCatalogueBound(t *testing.T) {
	dir := t.TempDir()
	before := "apiVersion: v1\nkind: Config\ncurrent-context: mine\n"
	path := writeFile(t, dir, "config", before)
	s := newSyncer(t, Options{Paths: []string{path}})
	var want []Managed
	for i := range 1000 {
		name := fmt.Sprintf("acme-app%d", i)
		want = append(want, Managed{Name: name, App: fmt.Sprintf("app%d.example.com", i), Server: "https://10.0.0.1:6443",
			Exec: &Exec{Command: "/usr/bin/airlock", Args: []string{"credential", "--cluster", name}}})
	}
	ctx := context.Background()
	res, err := s.Provision(ctx, "acme", want, ManagedState{})
	if err != nil || len(res.Added) != 1000 {
		t.Fatalf("Provision: %d added, %v", len(res.Added), err)
	}
	if _, err := s.Provision(ctx, "acme", nil, res.State); err != nil {
		t.Fatal(err)
	}
	if got := readFile(t, path); got != before {
		t.Fatalf("not given back:\n%q", got)
	}
}
