package kubeconfig

import (
	"context"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

// lineLog keeps the log lines a Syncer writes.
type lineLog struct {
	mu sync.Mutex
	b  strings.Builder
}

func (l *lineLog) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lineLog) count(s string) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return strings.Count(l.b.String(), s)
}

const tightenedLine = "made it private"

// modeOf is what another local user's access comes down to: the file's
// permission bits.
func modeOf(tb testing.TB, p string) fs.FileMode {
	tb.Helper()
	st, err := os.Stat(p)
	if err != nil {
		tb.Fatal(err)
	}
	return st.Mode().Perm()
}

// TestPasswordNeverInAReadableFile is the attack of issue 10, item 3: a
// kubeconfig that other local users may read (0644, common when the
// credentials come from an exec plugin) must not hand them the SOCKS
// password. The daemon's write makes the file private, says so once, and
// leaves files without a password, and private files, as they were.
func TestPasswordNeverInAReadableFile(t *testing.T) {
	tests := []struct {
		name     string
		mode     fs.FileMode
		proxy    string
		want     fs.FileMode
		tightens bool
	}{
		{"world readable becomes private", 0o644, testProxy, 0o600, true},
		{"group writable becomes private", 0o664, testProxy, 0o600, true},
		{"group readable becomes private", 0o640, testProxy, 0o600, true},
		{"others only becomes private", 0o604, testProxy, 0o600, true},
		{"owner execute bit kept", 0o755, testProxy, 0o700, true},
		{"private stays as it is", 0o600, testProxy, 0o600, false},
		{"no password, mode kept", 0o644, "http://127.0.0.2:3128", 0o644, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			p := writeFile(t, dir, "config", simple)
			if err := os.Chmod(p, tt.mode); err != nil { // not subject to the umask
				t.Fatal(err)
			}
			logs := &lineLog{}
			s, err := New(slog.New(slog.NewTextHandler(logs, nil)), Options{Paths: []string{p}})
			if err != nil {
				t.Fatal(err)
			}
			ctx := context.Background()
			target := Target{Name: "prod", Clusters: []string{"prod"}}
			if err := s.Connect(ctx, target, tt.proxy); err != nil {
				t.Fatal(err)
			}
			if got, _ := proxyOf(t, readFile(t, p), "prod"); got != tt.proxy {
				t.Fatalf("proxy-url = %q, want %q", got, tt.proxy)
			}
			if got := modeOf(t, p); got != tt.want {
				t.Fatalf("mode after connect = %04o, want %04o", got, tt.want)
			}
			if tt.proxy == testProxy && modeOf(t, p)&0o077 != 0 {
				t.Fatalf("another user can read the password (mode %04o)", modeOf(t, p))
			}
			// A second cycle finds everything in place: no second warning.
			if err := s.Connect(ctx, target, tt.proxy); err != nil {
				t.Fatal(err)
			}
			wantLines, wantChanges := 0, 0
			if tt.tightens {
				wantLines, wantChanges = 1, 1
			}
			if n := logs.count(tightenedLine); n != wantLines {
				t.Errorf("%d warnings that the file was made private, want %d", n, wantLines)
			}
			mc := s.Tightened()
			if len(mc) != wantChanges {
				t.Fatalf("Tightened() = %+v, want %d change(s)", mc, wantChanges)
			}
			if tt.tightens && (mc[0].File != p || mc[0].From != tt.mode || mc[0].To != tt.want || mc[0].Time.IsZero()) {
				t.Errorf("Tightened() = %+v, want %s %04o → %04o", mc[0], p, tt.mode, tt.want)
			}
			// Giving the entry back restores the bytes, not the loose mode.
			if err := s.Disconnect(ctx, "prod"); err != nil {
				t.Fatal(err)
			}
			if readFile(t, p) != simple {
				t.Error("file not given back byte for byte")
			}
			if got := modeOf(t, p); got != tt.want {
				t.Errorf("mode after disconnect = %04o, want %04o", got, tt.want)
			}
		})
	}
}

// TestLoosenedAgainIsTightenedAgain: a file made readable again while it
// carries the password (chmod, a tool that rewrites it 0644) is made
// private again on the next cycle, though its bytes need no change, and
// that is said again.
func TestLoosenedAgainIsTightenedAgain(t *testing.T) {
	tests := []struct {
		name   string
		loosen func(tb testing.TB, p string)
	}{
		{"chmod", func(tb testing.TB, p string) {
			if err := os.Chmod(p, 0o644); err != nil {
				tb.Fatal(err)
			}
		}},
		{"rewritten by another tool", func(tb testing.TB, p string) {
			b := readFile(tb, p)
			tmp := p + ".tool-tmp"
			if err := os.WriteFile(tmp, []byte(b), 0o600); err != nil {
				tb.Fatal(err)
			}
			if err := os.Chmod(tmp, 0o644); err != nil {
				tb.Fatal(err)
			}
			if err := os.Rename(tmp, p); err != nil {
				tb.Fatal(err)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := writeFile(t, t.TempDir(), "config", simple)
			if err := os.Chmod(p, 0o644); err != nil {
				t.Fatal(err)
			}
			logs := &lineLog{}
			s, err := New(slog.New(slog.NewTextHandler(logs, nil)), Options{Paths: []string{p}})
			if err != nil {
				t.Fatal(err)
			}
			ctx := context.Background()
			target := Target{Name: "prod", Clusters: []string{"prod"}}
			if err := s.Connect(ctx, target, testProxy); err != nil {
				t.Fatal(err)
			}
			tt.loosen(t, p)
			before := readFile(t, p)
			// What Run does on the file's event.
			s.cycle(ctx, true)
			if got := modeOf(t, p); got != 0o600 {
				t.Fatalf("mode = %04o after the file was loosened and a cycle ran, want 0600", got)
			}
			if readFile(t, p) != before {
				t.Error("the bytes changed; only the mode should have")
			}
			if n := logs.count(tightenedLine); n != 2 {
				t.Errorf("%d warnings, want 2 (one per tightening)", n)
			}
			if mc := s.Tightened(); len(mc) != 1 || mc[0].File != p {
				t.Errorf("Tightened() = %+v, want the one file (latest change)", mc)
			}
			if st := s.Status("prod"); st.Err != nil {
				t.Errorf("status error: %v", st.Err)
			}
		})
	}
}

// TestTightenedFileKeepsOtherFilesAlone: only the file that carries the
// password changes mode.
func TestTightenedFileKeepsOtherFilesAlone(t *testing.T) {
	dir := t.TempDir()
	a := writeFile(t, dir, "a", simple)
	b := writeFile(t, dir, "b", strings.ReplaceAll(simple, "prod", "other"))
	for _, p := range []string{a, b} {
		if err := os.Chmod(p, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	s := newSyncer(t, Options{Paths: []string{a, b}})
	if err := s.Connect(context.Background(), Target{Name: "prod", Clusters: []string{"prod"}}, testProxy); err != nil {
		t.Fatal(err)
	}
	if got := modeOf(t, a); got != 0o600 {
		t.Errorf("%s: mode %04o, want 0600", filepath.Base(a), got)
	}
	if got := modeOf(t, b); got != 0o644 {
		t.Errorf("%s (no password in it): mode %04o, want 0644", filepath.Base(b), got)
	}
}
