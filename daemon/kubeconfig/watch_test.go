package kubeconfig

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/airlockhq/airlock/internal/testenv"
)

var prodTarget = Target{Name: "prod", Clusters: []string{"prod"}}

// TestRunReapplies: after other programs rewrite the files, Run puts the proxy-url
// back; a file, folder or entry that appears later is picked up.
func TestRunReapplies(t *testing.T) {
	tests := []struct {
		name  string
		start func(t *testing.T, dir string) (path string)
		then  func(t *testing.T, path string)
	}{
		{"rename-replace by a tool", func(t *testing.T, dir string) string {
			return writeFile(t, dir, "config", simple)
		}, func(t *testing.T, p string) {
			replaceFile(t, p, strings.ReplaceAll(simple, "10.0.0.1", "10.0.0.11"))
		}},
		{"in-place rewrite", func(t *testing.T, dir string) string {
			return writeFile(t, dir, "config", simple)
		}, func(t *testing.T, p string) {
			if err := os.WriteFile(p, []byte(simple), 0o600); err != nil {
				t.Fatal(err)
			}
		}},
		{"file appears later", func(t *testing.T, dir string) string {
			return filepath.Join(dir, "config")
		}, func(t *testing.T, p string) {
			replaceFile(t, p, simple)
		}},
		{"folder appears later", func(t *testing.T, dir string) string {
			return filepath.Join(dir, "home", ".kube", "config")
		}, func(t *testing.T, p string) {
			if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
				t.Fatal(err)
			}
			writeFile(t, filepath.Dir(p), "config", simple)
		}},
		{"entry added later", func(t *testing.T, dir string) string {
			return writeFile(t, dir, "config", strings.Replace(simple, "- name: prod\n", "- name: not-yet\n", 1))
		}, func(t *testing.T, p string) {
			replaceFile(t, p, simple)
		}},
		{"symlink pointed elsewhere", func(t *testing.T, dir string) string {
			writeFile(t, dir, "one", strings.Replace(simple, "- name: prod\n", "- name: not-here\n", 1))
			link := filepath.Join(dir, "config")
			if err := os.Symlink("one", link); err != nil {
				t.Fatal(err)
			}
			return link
		}, func(t *testing.T, p string) {
			writeFile(t, filepath.Dir(p), "two", simple)
			tmp := p + ".new"
			if err := os.Symlink("two", tmp); err != nil {
				t.Fatal(err)
			}
			if err := os.Rename(tmp, p); err != nil {
				t.Fatal(err)
			}
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := tc.start(t, t.TempDir())
			s := newSyncer(t, Options{Paths: []string{p}})
			if err := s.Connect(context.Background(), prodTarget, testProxy); err != nil {
				t.Fatal(err)
			}
			startRun(t, s)
			tc.then(t, p)
			testenv.Eventually(t, "proxy-url re-applied", func() bool {
				b, err := os.ReadFile(p)
				if err != nil {
					return false
				}
				d, err := parseDocument(b)
				if err != nil {
					return false
				}
				for _, e := range d.clusters {
					if e.name == "prod" {
						return e.proxyVal != nil && e.proxyVal.Value == testProxy && e.rec != nil
					}
				}
				return false
			})
			testenv.Eventually(t, "status applied", func() bool {
				st := s.Status("prod")
				return slices.Equal(st.Applied, []Entry{{p, "prod"}}) && len(st.Missing) == 0 && st.Err == nil
			})
		})
	}
}

// TestRunNoLoop: Airlock's own write causes one look at the file, which writes nothing.
func TestRunNoLoop(t *testing.T) {
	p := writeFile(t, t.TempDir(), "config", simple)
	s := newSyncer(t, Options{Paths: []string{p}})
	if err := s.Connect(context.Background(), prodTarget, testProxy); err != nil {
		t.Fatal(err)
	}
	var writes atomic.Int32
	cycles := make(chan int, 100)
	s.afterWrite = func(string) { writes.Add(1) }
	s.afterCycle = func(wrote int) { cycles <- wrote }
	startRun(t, s)
	next := func() int {
		select {
		case w := <-cycles:
			return w
		case <-time.After(5 * time.Second):
			t.Fatal("no cycle")
			return 0
		}
	}
	if w := next(); w != 0 { // Run's first look
		t.Fatalf("first cycle wrote %d", w)
	}
	replaceFile(t, p, simple) // a tool drops the proxy-url
	if w := next(); w != 1 {
		t.Fatalf("re-apply wrote %d files", w)
	}
	if w := next(); w != 0 { // the events of our own write
		t.Fatalf("own write caused another write")
	}
	// Any further cycle must write nothing: nudge one with an unrelated change
	// (owner bits only: a group or other bit would be tightened away).
	if err := os.Chmod(p, 0o700); err != nil {
		t.Fatal(err)
	}
	if w := next(); w != 0 {
		t.Fatalf("a cycle wrote %d", w)
	}
	if n := writes.Load(); n != 1 {
		t.Fatalf("%d writes, want 1", n)
	}
}

// TestReapplyLatency: the proxy-url is back within 200 ms of a rename-replace. On an
// idle machine p99 is ~50 ms (BenchmarkReapplyAfterExternalRewrite reports it); this
// test runs beside other packages' tests on 2 cores, where fsync and scheduling add
// outliers, so it holds the median to 200 ms and p95 to 1 s — still failing when the
// watcher misses events and only the retry timer would catch up.
func TestReapplyLatency(t *testing.T) {
	lat := measureReapply(t, 60)
	p50, p95 := lat[len(lat)/2], lat[len(lat)*95/100-1]
	if p50 > 200*time.Millisecond || p95 > time.Second {
		t.Errorf("p50 = %s, p95 = %s; want ≤ 200ms and ≤ 1s (all: %v)", p50, p95, lat)
	}
	t.Logf("p50 %s, p95 %s, slowest %s", p50, p95, lat[len(lat)-1])
}

// measureReapply replaces the file n times and returns the sorted delays until the
// proxy-url was written back.
func measureReapply(tb testing.TB, n int) []time.Duration {
	p := writeFile(tb, tb.TempDir(), "config", simple)
	s := newSyncer(tb, Options{Paths: []string{p}})
	if err := s.Connect(context.Background(), prodTarget, testProxy); err != nil {
		tb.Fatal(err)
	}
	written := make(chan struct{}, 16)
	s.afterWrite = func(string) { written <- struct{}{} }
	startRun(tb, s)
	lat := make([]time.Duration, 0, n)
	for i := range n {
		content := strings.ReplaceAll(simple, "10.0.0.1:", "10.0."+string(rune('0'+i%10))+".1:")
		replaceFile(tb, p, content)
		start := time.Now()
		select {
		case <-written:
		case <-time.After(5 * time.Second):
			tb.Fatal("not re-applied")
		}
		lat = append(lat, time.Since(start))
		if got, _ := proxyOf(tb, readFile(tb, p), "prod"); got != testProxy {
			tb.Fatalf("proxy = %q", got)
		}
	}
	slices.Sort(lat)
	return lat
}
