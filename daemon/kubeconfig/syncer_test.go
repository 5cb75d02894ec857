package kubeconfig

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/airlockhq/airlock/internal/testenv"
)

const simple = `apiVersion: v1
kind: Config
clusters:
- name: prod
  cluster:
    server: https://10.0.0.1:6443
- name: dev
  cluster:
    server: https://10.0.0.2:6443
contexts:
- name: prod
  context:
    cluster: prod
    user: u
current-context: prod
users:
- name: u
  user:
    token: t
`

func TestMultipleFilesFirstDefinitionWins(t *testing.T) {
	dir := t.TempDir()
	a := writeFile(t, dir, "a", simple)
	bContent := strings.ReplaceAll(simple, "10.0.0.", "10.9.9.") + "" // defines prod and dev again
	bContent = strings.Replace(bContent, "- name: dev\n", "- name: only-b\n  cluster:\n    server: https://10.9.9.9\n- name: dev\n", 1)
	b := writeFile(t, dir, "b", bContent)
	s := newSyncer(t, Options{Paths: []string{a, b}})
	ctx := context.Background()
	err := s.Connect(ctx, Target{Name: "prod", Clusters: []string{"prod", "only-b"}, Servers: []string{"https://10.9.9.1:6443"}}, testProxy)
	if err != nil {
		t.Fatal(err)
	}
	if p, rec := proxyOf(t, readFile(t, a), "prod"); p != testProxy || !rec {
		t.Errorf("a: prod proxy = %q, %v", p, rec)
	}
	if p, _ := proxyOf(t, readFile(t, b), "prod"); p != "" {
		t.Errorf("b: shadowed prod was edited: %q", p)
	}
	if p, _ := proxyOf(t, readFile(t, b), "only-b"); p != testProxy {
		t.Errorf("b: only-b proxy = %q", p)
	}
	st := s.Status("prod")
	want := []Entry{{a, "prod"}, {b, "only-b"}}
	if !slices.Equal(st.Applied, want) || st.Err != nil {
		t.Errorf("status = %+v, want applied %v", st, want)
	}
	// The server matches only b's shadowed prod, which kubectl never uses.
	if !slices.Equal(st.Missing, []string{"https://10.9.9.1:6443"}) {
		t.Errorf("missing = %v", st.Missing)
	}
	if err := s.Disconnect(ctx, "prod"); err != nil {
		t.Fatal(err)
	}
	if readFile(t, a) != simple || readFile(t, b) != bContent {
		t.Error("files not given back byte for byte")
	}
}

func TestSymlinkEditedAtTarget(t *testing.T) {
	dir := t.TempDir()
	real := writeFile(t, dir, "real-config", simple)
	link := filepath.Join(dir, "kube", "config")
	if err := os.MkdirAll(filepath.Dir(link), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("../real-config", link); err != nil {
		t.Fatal(err)
	}
	s := newSyncer(t, Options{Paths: []string{link}})
	var locks []string
	s.afterWrite = func(string) {
		for _, l := range []string{link + ".lock", real + ".lock"} {
			if _, err := os.Stat(l); err == nil {
				locks = append(locks, l)
			}
		}
	}
	if err := s.Connect(context.Background(), Target{Name: "prod", Clusters: []string{"prod"}}, testProxy); err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Lstat(link); err != nil || fi.Mode()&os.ModeSymlink == 0 {
		t.Fatalf("link was replaced: %v %v", fi.Mode(), err)
	}
	if p, _ := proxyOf(t, readFile(t, real), "prod"); p != testProxy {
		t.Errorf("target not edited")
	}
	if len(locks) != 2 {
		t.Errorf("locks held during the write = %v, want the link's and the target's", locks)
	}
	if err := s.Disconnect(context.Background(), "prod"); err != nil {
		t.Fatal(err)
	}
	if readFile(t, real) != simple {
		t.Error("not given back")
	}
	for _, l := range []string{link + ".lock", real + ".lock"} {
		if _, err := os.Stat(l); err == nil {
			t.Errorf("%s left behind", l)
		}
	}
}

func TestUserProxyKept(t *testing.T) {
	orig := strings.Replace(simple, "    server: https://10.0.0.1:6443\n", "    server: https://10.0.0.1:6443\n    proxy-url: 'http://corp:3128' # office\n", 1)
	ctx := context.Background()
	prod := Target{Name: "prod", Clusters: []string{"prod"}}
	t.Run("reconnect with a new URL keeps the user's value", func(t *testing.T) {
		p := writeFile(t, t.TempDir(), "config", orig)
		s := newSyncer(t, Options{Paths: []string{p}})
		if err := s.Connect(ctx, prod, testProxy); err != nil {
			t.Fatal(err)
		}
		other := "socks5://airlock:other@127.0.0.3:1080"
		if err := s.Connect(ctx, prod, other); err != nil {
			t.Fatal(err)
		}
		if got, _ := proxyOf(t, readFile(t, p), "prod"); got != other {
			t.Fatalf("proxy = %q", got)
		}
		if err := s.Disconnect(ctx, "prod"); err != nil {
			t.Fatal(err)
		}
		if got := readFile(t, p); got != orig {
			t.Errorf("got\n%s", got)
		}
	})
	t.Run("a value someone set later is left alone", func(t *testing.T) {
		p := writeFile(t, t.TempDir(), "config", orig)
		s := newSyncer(t, Options{Paths: []string{p}})
		if err := s.Connect(ctx, prod, testProxy); err != nil {
			t.Fatal(err)
		}
		// The user edits the value by hand while connected, keeping the record.
		edited := strings.Replace(readFile(t, p), testProxy, "http://new-proxy:8080", 1)
		replaceFile(t, p, edited)
		if err := s.Disconnect(ctx, "prod"); err != nil {
			t.Fatal(err)
		}
		got, rec := proxyOf(t, readFile(t, p), "prod")
		if got != "http://new-proxy:8080" || rec {
			t.Errorf("proxy = %q, record = %v", got, rec)
		}
	})
}

func TestConflictAndMissing(t *testing.T) {
	p := writeFile(t, t.TempDir(), "config", simple)
	s := newSyncer(t, Options{Paths: []string{p}})
	ctx := context.Background()
	if err := s.Connect(ctx, Target{Name: "a", Clusters: []string{"prod", "nope"}}, testProxy); err != nil {
		t.Fatal(err)
	}
	if st := s.Status("a"); !slices.Equal(st.Missing, []string{"nope"}) {
		t.Errorf("missing = %v", st.Missing)
	}
	err := s.Connect(ctx, Target{Name: "b", Servers: []string{"https://10.0.0.1:6443"}}, "socks5://x:y@127.0.0.3:1080")
	if !isErr(err, ErrConflict) {
		t.Fatalf("err = %v, want ErrConflict", err)
	}
	if got, _ := proxyOf(t, readFile(t, p), "prod"); got != testProxy {
		t.Errorf("proxy = %q, want a's", got)
	}
	if err := s.DisconnectAll(ctx); err != nil {
		t.Fatal(err)
	}
	if readFile(t, p) != simple {
		t.Error("not given back")
	}
}

func TestConnectValidates(t *testing.T) {
	s := newSyncer(t, Options{Paths: []string{filepath.Join(t.TempDir(), "config")}})
	tests := []struct {
		name string
		t    Target
		url  string
	}{
		{"no name", Target{Clusters: []string{"x"}}, testProxy},
		{"no entries", Target{Name: "x"}, testProxy},
		{"bad scheme", Target{Name: "x", Clusters: []string{"x"}}, "socks5h://127.0.0.2:1080"},
		{"no port", Target{Name: "x", Clusters: []string{"x"}}, "socks5://127.0.0.2"},
		{"newline", Target{Name: "x", Clusters: []string{"x"}}, "socks5://127.0.0.2:1080\nserver: evil"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if err := s.Connect(context.Background(), tc.t, tc.url); err == nil {
				t.Error("accepted")
			} else if strings.Contains(err.Error(), "s3cret") {
				t.Errorf("error shows the password: %v", err)
			}
		})
	}
}

// TestBadInputNeverWritten: a file that does not parse, is read-only, locked by a
// live process or written in a form Airlock does not edit is left untouched, Status
// names the cause, and Run applies the entry once the cause is fixed.
func TestBadInputNeverWritten(t *testing.T) {
	tests := []struct {
		name    string
		content string
		setup   func(t *testing.T, p string) (fix func())
		want    error
	}{
		{"does not parse", "clusters:\n- name: prod\n  cluster:\n    server: [\n", nil, ErrParse},
		{"duplicate key", strings.Replace(simple, "kind: Config\n", "kind: Config\nkind: Config\n", 1), nil, ErrParse},
		{"not UTF-8", simple + "# \xff\n", nil, ErrParse},
		{"read-only", simple, func(t *testing.T, p string) func() {
			if err := os.Chmod(p, 0o444); err != nil {
				t.Fatal(err)
			}
			return func() { _ = os.Chmod(p, 0o600) }
		}, ErrNotWritable},
		{"locked", simple, func(t *testing.T, p string) func() {
			writeFile(t, filepath.Dir(p), "config.lock", "")
			return func() { _ = os.Remove(p + ".lock") }
		}, ErrLocked},
		{"JSON", `{"apiVersion":"v1","clusters":[{"name":"prod","cluster":{"server":"https://10.0.0.1"}}]}`, nil, ErrUnsupported},
		{"anchors", "clusters:\n- name: prod\n  cluster: &c\n    server: https://x\n- name: dev\n  cluster: *c\n", nil, ErrUnsupported},
		{"multi-line proxy-url", "clusters:\n- name: prod\n  cluster:\n    server: https://x\n    proxy-url: >-\n      http://a:1\n", nil, ErrUnsupported},
		{"hard links", simple, func(t *testing.T, p string) func() {
			if err := os.Link(p, p+".bak"); err != nil {
				t.Fatal(err)
			}
			return func() { _ = os.Remove(p + ".bak") }
		}, ErrUnsupported},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := writeFile(t, t.TempDir(), "config", tc.content)
			fix := func() { replaceFile(t, p, simple) }
			if tc.setup != nil {
				fix = tc.setup(t, p)
			}
			s := newSyncer(t, Options{Paths: []string{p}, LockTimeout: 50 * time.Millisecond, RetryInterval: 50 * time.Millisecond})
			err := s.Connect(context.Background(), Target{Name: "prod", Clusters: []string{"prod"}}, testProxy)
			if !isErr(err, tc.want) {
				t.Fatalf("err = %v, want %v", err, tc.want)
			}
			t.Logf("cause shown: %v", err)
			if got := readFile(t, p); got != tc.content {
				t.Fatalf("file was written:\n%s", got)
			}
			if st := s.Status("prod"); !isErr(st.Err, tc.want) || !st.Connected {
				t.Errorf("status = %+v", st)
			}
			if m, _ := filepath.Glob(filepath.Join(filepath.Dir(p), ".*.tmp")); len(m) > 0 {
				t.Errorf("temporary files left: %v", m)
			}
			startRun(t, s)
			fix()
			testenv.Eventually(t, "the entry applied after the fix", func() bool {
				st := s.Status("prod")
				return st.Err == nil && len(st.Applied) == 1
			})
			if got, _ := proxyOf(t, readFile(t, p), "prod"); got != testProxy {
				t.Errorf("proxy = %q", got)
			}
		})
	}
}

func TestStaleLocks(t *testing.T) {
	deadPID := func(t *testing.T) int {
		cmd := exec.Command("/bin/true")
		if err := cmd.Run(); err != nil {
			t.Fatal(err)
		}
		return cmd.Process.Pid
	}
	old := time.Now().Add(-time.Hour)
	tests := []struct {
		name   string
		setup  func(t *testing.T, lock string) (cleanup func())
		broken bool
	}{
		{"young foreign lock is waited for", func(t *testing.T, lock string) func() {
			writeFile(t, filepath.Dir(lock), filepath.Base(lock), "")
			return nil
		}, false},
		{"old foreign lock is broken", func(t *testing.T, lock string) func() {
			writeFile(t, filepath.Dir(lock), filepath.Base(lock), "")
			if err := os.Chtimes(lock, old, old); err != nil {
				t.Fatal(err)
			}
			return nil
		}, true},
		{"old lock with the file open is kept", func(t *testing.T, lock string) func() {
			writeFile(t, filepath.Dir(lock), filepath.Base(lock), "")
			if err := os.Chtimes(lock, old, old); err != nil {
				t.Fatal(err)
			}
			f, err := os.OpenFile(strings.TrimSuffix(lock, ".lock"), os.O_WRONLY, 0)
			if err != nil {
				t.Fatal(err)
			}
			return func() { f.Close() }
		}, false},
		{"lock of a dead airlock process is broken at once", func(t *testing.T, lock string) func() {
			writeFile(t, filepath.Dir(lock), filepath.Base(lock), fmt.Sprintf("airlock pid=%d start=1\n", deadPID(t)))
			return nil
		}, true},
		{"lock of a live airlock process is kept", func(t *testing.T, lock string) func() {
			writeFile(t, filepath.Dir(lock), filepath.Base(lock), fmt.Sprintf("airlock pid=%d start=%s\n", os.Getpid(), procStart(os.Getpid())))
			if err := os.Chtimes(lock, old, old); err != nil {
				t.Fatal(err)
			}
			return nil
		}, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := writeFile(t, t.TempDir(), "config", simple)
			if c := tc.setup(t, p+".lock"); c != nil {
				defer c()
			}
			s := newSyncer(t, Options{Paths: []string{p}, LockTimeout: 100 * time.Millisecond})
			s.locker.recheck = 10 * time.Millisecond
			err := s.Connect(context.Background(), Target{Name: "prod", Clusters: []string{"prod"}}, testProxy)
			_, lockErr := os.Stat(p + ".lock")
			if tc.broken {
				if err != nil || lockErr == nil {
					t.Fatalf("Connect = %v, lock left: %v", err, lockErr == nil)
				}
				return
			}
			if !isErr(err, ErrLocked) || lockErr != nil || readFile(t, p) != simple {
				t.Fatalf("Connect = %v; the lock must stay and the file be untouched", err)
			}
		})
	}
}

func TestCleanupAfterCrash(t *testing.T) {
	dir := t.TempDir()
	orig := strings.Replace(simple, "    server: https://10.0.0.2:6443\n", "    server: https://10.0.0.2:6443\n    proxy-url: http://corp:3128\n", 1)
	p := writeFile(t, dir, "config", orig)
	s := newSyncer(t, Options{Paths: []string{p}})
	ctx := context.Background()
	if err := s.Connect(ctx, Target{Name: "prod", Clusters: []string{"prod", "dev"}}, testProxy); err != nil {
		t.Fatal(err)
	}
	// What a kill -9 in the middle of a write leaves: a temporary file and our lock.
	writeFile(t, dir, ".config.airlock-123.tmp", "half")
	cmd := exec.Command("/bin/true")
	if err := cmd.Run(); err != nil {
		t.Fatal(err)
	}
	writeFile(t, dir, "config.lock", fmt.Sprintf("airlock pid=%d start=1\n", cmd.Process.Pid))
	if err := Cleanup(ctx, testLog(t), Options{Paths: []string{p}}); err != nil {
		t.Fatal(err)
	}
	if got := readFile(t, p); got != orig {
		t.Errorf("not given back:\n%s", got)
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 {
		t.Errorf("left in the folder: %v", entries)
	}
}

func TestOnStatus(t *testing.T) {
	p := writeFile(t, t.TempDir(), "config", simple)
	var got []Status
	s := newSyncer(t, Options{Paths: []string{p}, OnStatus: func(st Status) { got = append(got, st) }})
	ctx := context.Background()
	if err := s.Connect(ctx, Target{Name: "prod", Clusters: []string{"prod"}}, testProxy); err != nil {
		t.Fatal(err)
	}
	if err := s.Connect(ctx, Target{Name: "prod", Clusters: []string{"prod"}}, testProxy); err != nil {
		t.Fatal(err)
	}
	if err := s.Disconnect(ctx, "prod"); err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || !got[0].Connected || len(got[0].Applied) != 1 || got[1].Connected {
		t.Errorf("notifications = %+v", got)
	}
}

func TestSameFileTwiceThroughSymlink(t *testing.T) {
	dir := t.TempDir()
	p := writeFile(t, dir, "config", simple)
	link := filepath.Join(dir, "alias")
	if err := os.Symlink("config", link); err != nil {
		t.Fatal(err)
	}
	s := newSyncer(t, Options{Paths: []string{link, p}})
	var writes int
	s.afterWrite = func(string) { writes++ }
	ctx := context.Background()
	for range 3 {
		if err := s.Connect(ctx, prodTarget, testProxy); err != nil {
			t.Fatal(err)
		}
	}
	if got, rec := proxyOf(t, readFile(t, p), "prod"); got != testProxy || !rec || writes != 1 {
		t.Fatalf("proxy %q, record %v, %d writes", got, rec, writes)
	}
	if err := s.Disconnect(ctx, "prod"); err != nil {
		t.Fatal(err)
	}
	if readFile(t, p) != simple {
		t.Error("not given back")
	}
}
