package filewatch

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/fsnotify/fsnotify"
)

// watch is a running Watcher under test.
type watch struct {
	w *Watcher
	// reads gets what the file held at each callback ("" if unreadable).
	reads chan string
	// events gets each event Run saw and whether it counted.
	events chan seenEvent
	// arms gets the debounce timers, in arming order, with a fake clock.
	arms chan chan time.Time
	done chan error
}

type seenEvent struct {
	name    string
	counted bool
}

// startWatch runs a Watcher on path until tb ends. With fakeClock the
// debounce only ends when the test sends on an armed timer; otherwise it
// is 1ms of real time.
func startWatch(tb testing.TB, path string, opts Options, fakeClock bool) *watch {
	tb.Helper()
	if opts.Debounce == 0 {
		opts.Debounce = time.Millisecond
	}
	h := &watch{
		reads: make(chan string, 1024), events: make(chan seenEvent, 1024),
		arms: make(chan chan time.Time, 1024), done: make(chan error, 1),
	}
	w, err := New(path, func(context.Context) {
		b, _ := os.ReadFile(path)
		h.reads <- string(b)
	}, opts)
	if err != nil {
		tb.Fatal(err)
	}
	w.onEvent = func(ev fsnotify.Event, counted bool) {
		h.events <- seenEvent{filepath.Base(ev.Name), counted}
	}
	if fakeClock {
		w.after = func(time.Duration) <-chan time.Time {
			c := make(chan time.Time, 1)
			h.arms <- c
			return c
		}
	}
	h.w = w
	ctx, cancel := context.WithCancel(context.Background())
	go func() { h.done <- w.Run(ctx) }()
	tb.Cleanup(func() {
		cancel()
		if err := <-h.done; err != nil {
			tb.Errorf("Run = %v after its context ended, want nil", err)
		}
	})
	return h
}

// waitRead waits for a callback that reads want. A burst may call back
// more than once on the way (a debounce of 1ms), with what the file held
// then.
func (h *watch) waitRead(tb testing.TB, want string) {
	tb.Helper()
	for {
		select {
		case got := <-h.reads:
			if got == want {
				return
			}
		case <-tb.Context().Done():
			tb.Fatalf("no callback read %q", want)
		}
	}
}

// waitEvent returns the events Run saw up to and including the first one
// on name; those before it were all of the folder's events before it.
func (h *watch) waitEvent(tb testing.TB, name string) []seenEvent {
	tb.Helper()
	var seen []seenEvent
	for {
		select {
		case ev := <-h.events:
			seen = append(seen, ev)
			if ev.name == name {
				return seen
			}
		case <-tb.Context().Done():
			tb.Fatalf("no event on %s; saw %v", name, seen)
		}
	}
}

func write(tb testing.TB, path, content string) {
	tb.Helper()
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		tb.Fatal(err)
	}
}

// renameOver writes content next to path and renames it into place, as
// atomic writers do.
func renameOver(tb testing.TB, path, content string) {
	tb.Helper()
	write(tb, path+".tmp", content)
	rename(tb, path+".tmp", path)
}

func rename(tb testing.TB, from, to string) {
	tb.Helper()
	if err := os.Rename(from, to); err != nil {
		tb.Fatal(err)
	}
}

func symlink(tb testing.TB, target, link string) {
	tb.Helper()
	if err := os.Symlink(target, link); err != nil {
		tb.Fatal(err)
	}
}

// configMap lays out dir as the kubelet does a ConfigMap volume:
// config.yaml -> ..data/config.yaml, ..data -> ..<version>.
func configMap(tb testing.TB, dir, version, content string) string {
	tb.Helper()
	if err := os.Mkdir(filepath.Join(dir, ".."+version), 0o700); err != nil {
		tb.Fatal(err)
	}
	write(tb, filepath.Join(dir, ".."+version, "config.yaml"), content)
	symlink(tb, ".."+version, filepath.Join(dir, "..data"))
	path := filepath.Join(dir, "config.yaml")
	symlink(tb, filepath.Join("..data", "config.yaml"), path)
	return path
}

// swapConfigMap updates a configMap volume as the kubelet does: a new
// version folder, a new ..data link renamed over the old, the old folder
// removed. No event names config.yaml.
func swapConfigMap(tb testing.TB, dir, from, to, content string) {
	tb.Helper()
	if err := os.Mkdir(filepath.Join(dir, ".."+to), 0o700); err != nil {
		tb.Fatal(err)
	}
	write(tb, filepath.Join(dir, ".."+to, "config.yaml"), content)
	symlink(tb, ".."+to, filepath.Join(dir, "..data_tmp"))
	rename(tb, filepath.Join(dir, "..data_tmp"), filepath.Join(dir, "..data"))
	if err := os.RemoveAll(filepath.Join(dir, ".."+from)); err != nil {
		tb.Fatal(err)
	}
}

// TestChangeIsSeen: every way of replacing the file calls back with the
// new content, for the edge's and the daemon's configs alike.
func TestChangeIsSeen(t *testing.T) {
	tests := []struct {
		name   string
		start  func(tb testing.TB, dir string) (path string)
		change func(tb testing.TB, path string)
		want   string
	}{
		{"write in place", func(tb testing.TB, dir string) string {
			p := filepath.Join(dir, "config.yaml")
			write(tb, p, "one")
			return p
		}, func(tb testing.TB, p string) { write(tb, p, "two") }, "two"},
		{"rename over (atomic writer)", func(tb testing.TB, dir string) string {
			p := filepath.Join(dir, "config.yaml")
			write(tb, p, "one")
			return p
		}, func(tb testing.TB, p string) { renameOver(tb, p, "two") }, "two"},
		{"editor moves the old file away and writes a new one", func(tb testing.TB, dir string) string {
			p := filepath.Join(dir, "config.yaml")
			write(tb, p, "one")
			return p
		}, func(tb testing.TB, p string) {
			rename(tb, p, p+"~")
			write(tb, p, "two")
		}, "two"},
		{"removed and written again", func(tb testing.TB, dir string) string {
			p := filepath.Join(dir, "config.yaml")
			write(tb, p, "one")
			return p
		}, func(tb testing.TB, p string) {
			if err := os.Remove(p); err != nil {
				tb.Fatal(err)
			}
			write(tb, p, "two")
		}, "two"},
		{"file appears later", func(tb testing.TB, dir string) string {
			return filepath.Join(dir, "config.yaml")
		}, func(tb testing.TB, p string) { renameOver(tb, p, "two") }, "two"},
		{"symlink pointed elsewhere", func(tb testing.TB, dir string) string {
			write(tb, filepath.Join(dir, "one.yaml"), "one")
			p := filepath.Join(dir, "config.yaml")
			symlink(tb, "one.yaml", p)
			return p
		}, func(tb testing.TB, p string) {
			write(tb, filepath.Join(filepath.Dir(p), "two.yaml"), "two")
			symlink(tb, "two.yaml", p+".new")
			rename(tb, p+".new", p)
		}, "two"},
		{"symlink target in the folder written in place", func(tb testing.TB, dir string) string {
			write(tb, filepath.Join(dir, "real.yaml"), "one")
			p := filepath.Join(dir, "config.yaml")
			symlink(tb, "real.yaml", p)
			return p
		}, func(tb testing.TB, p string) { write(tb, filepath.Join(filepath.Dir(p), "real.yaml"), "two") }, "two"},
		{"link on the way retargeted", func(tb testing.TB, dir string) string {
			write(tb, filepath.Join(dir, "one.yaml"), "one")
			symlink(tb, "one.yaml", filepath.Join(dir, "current"))
			p := filepath.Join(dir, "config.yaml")
			symlink(tb, "current", p)
			return p
		}, func(tb testing.TB, p string) {
			dir := filepath.Dir(p)
			write(tb, filepath.Join(dir, "two.yaml"), "two")
			symlink(tb, "two.yaml", filepath.Join(dir, "current.new"))
			rename(tb, filepath.Join(dir, "current.new"), filepath.Join(dir, "current"))
		}, "two"},
		{"Kubernetes ConfigMap ..data swap", func(tb testing.TB, dir string) string {
			return configMap(tb, dir, "2024_01", "one")
		}, func(tb testing.TB, p string) { swapConfigMap(tb, filepath.Dir(p), "2024_01", "2024_02", "two") }, "two"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := tt.start(t, t.TempDir())
			h := startWatch(t, path, Options{}, false)
			tt.change(t, path)
			h.waitRead(t, tt.want)
		})
	}
}

// TestNeighbours: a change of another file in the folder (the edge's state
// database beside its config, the old version folder of a ConfigMap) does
// not count, unless AnyInFolder asks for it (a config naming a CA bundle
// beside it). Each case ends with a write of sentinel, a file that does not
// count: every event before it has been seen then.
func TestNeighbours(t *testing.T) {
	tests := []struct {
		name        string
		anyInFolder bool
		start       func(tb testing.TB, dir string) (path string)
		noise       func(tb testing.TB, path string)
		wantCounted bool
	}{
		{"another file written", false, plainFile, writeNeighbour, false},
		{"another file renamed into place", false, plainFile, func(tb testing.TB, p string) {
			renameOver(tb, filepath.Join(filepath.Dir(p), "state.db"), "x")
		}, false},
		{"a folder made and removed", false, plainFile, func(tb testing.TB, p string) {
			d := filepath.Join(filepath.Dir(p), "..2024_09")
			if err := os.Mkdir(d, 0o700); err != nil {
				tb.Fatal(err)
			}
			if err := os.Remove(d); err != nil {
				tb.Fatal(err)
			}
		}, false},
		{"another file beside a ConfigMap's links", false, func(tb testing.TB, dir string) string {
			return configMap(tb, dir, "2024_01", "one")
		}, func(tb testing.TB, p string) {
			write(tb, filepath.Join(filepath.Dir(p), "other.yaml"), "x")
		}, false},
		{"another file written, AnyInFolder", true, plainFile, writeNeighbour, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := tt.start(t, t.TempDir())
			h := startWatch(t, path, Options{AnyInFolder: tt.anyInFolder}, true)
			tt.noise(t, path)
			write(t, filepath.Join(filepath.Dir(path), "sentinel"), "")
			seen := h.waitEvent(t, "sentinel")
			counted := false
			for _, ev := range seen {
				counted = counted || ev.counted
			}
			if counted != tt.wantCounted {
				t.Errorf("counted = %v, want %v; events %v", counted, tt.wantCounted, seen)
			}
		})
	}
}

func plainFile(tb testing.TB, dir string) string {
	tb.Helper()
	p := filepath.Join(dir, "config.yaml")
	write(tb, p, "one")
	return p
}

func writeNeighbour(tb testing.TB, p string) {
	tb.Helper()
	write(tb, filepath.Join(filepath.Dir(p), "state.db"), "x")
}

// TestDebounce: a burst of changes calls back once, when the timer armed
// by its last event fires; timers armed before it no longer count.
func TestDebounce(t *testing.T) {
	tests := []struct {
		name   string
		writes int
	}{
		{"one write", 1},
		{"a burst of writes", 5},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := plainFile(t, t.TempDir())
			h := startWatch(t, path, Options{}, true)
			for i := range tt.writes {
				write(t, path, string(rune('a'+i)))
			}
			sentinel := filepath.Join(filepath.Dir(path), "sentinel")
			write(t, sentinel, "")
			h.waitEvent(t, "sentinel")
			timers := drain(h.arms)
			if len(timers) == 0 {
				t.Fatal("no change was counted")
			}
			for _, c := range timers[:len(timers)-1] {
				c <- time.Time{} // a superseded timer: nothing happens
			}
			timers[len(timers)-1] <- time.Time{}
			select {
			case got := <-h.reads:
				if want := string(rune('a' + tt.writes - 1)); got != want {
					t.Errorf("the callback read %q, want %q", got, want)
				}
			case <-t.Context().Done():
				t.Fatal("no callback")
			}
			// One more trip round Run's loop: a second callback would be
			// in reads by now.
			write(t, sentinel, "again")
			h.waitEvent(t, "sentinel")
			if extra := drain(h.reads); len(extra) != 0 {
				t.Errorf("called back again: %q", extra)
			}
		})
	}
}

func drain[T any](c chan T) []T {
	var got []T
	for {
		select {
		case v := <-c:
			got = append(got, v)
		default:
			return got
		}
	}
}

// TestWatcherError: events may have been lost, so an error counts as a
// change.
func TestWatcherError(t *testing.T) {
	path := plainFile(t, t.TempDir())
	h := startWatch(t, path, Options{}, true)
	h.w.fs.Errors <- fsnotify.ErrEventOverflow
	select {
	case c := <-h.arms:
		c <- time.Time{}
	case <-t.Context().Done():
		t.Fatal("the error armed no timer")
	}
	h.waitRead(t, "one")
}

// TestNew: a folder that cannot be watched is an error from New; Run
// returns nil when its context has ended.
func TestNew(t *testing.T) {
	t.Run("missing folder", func(t *testing.T) {
		_, err := New(filepath.Join(t.TempDir(), "nope", "config.yaml"), func(context.Context) {}, Options{})
		if !errors.Is(err, os.ErrNotExist) {
			t.Fatalf("New = %v, want a missing folder", err)
		}
	})
	t.Run("Run after the context ended", func(t *testing.T) {
		w, err := New(plainFile(t, t.TempDir()), func(context.Context) { t.Error("called back") }, Options{})
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		if err := w.Run(ctx); err != nil {
			t.Fatalf("Run = %v, want nil", err)
		}
	})
	t.Run("defaults", func(t *testing.T) {
		w, err := New(plainFile(t, t.TempDir()), func(context.Context) {}, Options{})
		if err != nil {
			t.Fatal(err)
		}
		defer w.fs.Close()
		if w.debounce != DefaultDebounce || w.log == nil {
			t.Errorf("debounce %v, logger %v", w.debounce, w.log)
		}
	})
}
