// Package filewatch owns following one file for changes, as Airlock does
// for its configuration files (the edge's config.yaml, the daemon's
// config): it watches the file's folder, not the file, so that every way a
// file is replaced is seen once —
//
//   - a write in place, to the file or to the file a symlink in the same
//     folder names;
//   - a new file renamed over the old one (atomic writers, editors that
//     save by rename, `kubectl apply` tools);
//   - a symlink swapped under it, such as the ..data link of a Kubernetes
//     ConfigMap or Secret volume, where no event names the file itself;
//   - the file removed and written again;
//
// and after the file has been quiet for a debounce it calls back once,
// for a whole burst. What changed is the caller's business: it reads the
// file again. A watcher error (the kernel's queue overflowed: events were
// lost) counts as a change.
//
// A write in place to a symlink's target in another folder is not seen:
// only the file's own folder is watched.
package filewatch

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"strings"
	"time"

	"github.com/fsnotify/fsnotify"
)

// DefaultDebounce is how long the file must be quiet before the callback
// when [Options].Debounce is zero.
const DefaultDebounce = 250 * time.Millisecond

// Options say how a [Watcher] follows its file. The zero value is usable.
type Options struct {
	// Debounce is how long the file must be quiet after a change before
	// the callback; zero means DefaultDebounce.
	Debounce time.Duration
	// AnyInFolder counts a change of anything in the file's folder, not
	// only of the file: for a file that names its neighbours (a CA bundle
	// beside a config), whose reader decides by content what changed.
	AnyInFolder bool
	// Logger receives the watcher's errors; nil discards them.
	Logger *slog.Logger
}

// Watcher follows one file. Make it with [New]; [Watcher.Run] delivers the
// changes.
type Watcher struct {
	path, dir, name string
	changed         func(context.Context)
	debounce        time.Duration
	anyInFolder     bool
	log             *slog.Logger
	fs              *fsnotify.Watcher
	realDir         string // dir after symlinks
	target          string // what path resolved to at the last look; "" if nothing
	targetName      string // the name in dir on the way to target; "" if none

	// after arms the debounce (time.After); onEvent, if set, sees each
	// event and whether it counted. Both are for tests.
	after   func(time.Duration) <-chan time.Time
	onEvent func(ev fsnotify.Event, counted bool)
}

// New starts watching path's folder: a change from the moment New returns
// is seen. changed is called from [Watcher.Run] once the file has been
// quiet for the debounce after a change. Run must be called once, even if
// ctx has ended, to release the watch.
func New(path string, changed func(context.Context), opts Options) (*Watcher, error) {
	w := &Watcher{
		path: path, dir: filepath.Dir(path), name: filepath.Base(path),
		changed: changed, debounce: opts.Debounce, anyInFolder: opts.AnyInFolder, log: opts.Logger,
		after: time.After,
	}
	if w.debounce <= 0 {
		w.debounce = DefaultDebounce
	}
	if w.log == nil {
		w.log = slog.New(slog.DiscardHandler)
	}
	fw, err := fsnotify.NewWatcher()
	if err != nil {
		return nil, fmt.Errorf("filewatch: %w", err)
	}
	if err := fw.Add(w.dir); err != nil {
		fw.Close()
		return nil, fmt.Errorf("filewatch: watch the folder %s: %w", w.dir, err)
	}
	w.fs = fw
	w.realDir = w.dir
	if d, err := filepath.EvalSymlinks(w.dir); err == nil {
		w.realDir = d
	}
	w.look()
	return w, nil
}

// errClosed: the watch ended without Run closing it.
var errClosed = errors.New("filewatch: the watch closed")

// Run calls the callback after each change (one call for a burst) until ctx
// ends, then returns nil, or an error if the watch ends first. It closes
// the watch when it returns; the callback runs on Run's goroutine, so a
// change that comes while it runs is delivered after it returns.
func (w *Watcher) Run(ctx context.Context) error {
	defer w.fs.Close()
	var fire <-chan time.Time // nil while no change waits for quiet
	for {
		select {
		case <-ctx.Done():
			return nil
		case ev, ok := <-w.fs.Events:
			if !ok {
				return errClosed
			}
			counted := w.counts(ev)
			if w.onEvent != nil {
				w.onEvent(ev, counted)
			}
			if counted {
				fire = w.after(w.debounce)
			}
		case err, ok := <-w.fs.Errors:
			if !ok {
				return errClosed
			}
			w.log.Warn("file watcher error; reading the file again", "path", w.path, "err", err)
			fire = w.after(w.debounce)
		case <-fire:
			fire = nil
			w.changed(ctx)
		}
	}
}

// counts says whether ev may have changed what path reads: an event on the
// file's own name or on the file it resolves to (when that is in the
// folder), or one after which path resolves to another file (a symlink on
// the way was swapped).
func (w *Watcher) counts(ev fsnotify.Event) bool {
	name := filepath.Base(ev.Name)
	before := w.target
	w.look()
	return name == w.name || name == w.targetName || w.target != before || w.anyInFolder
}

// look notes what path resolves to now.
func (w *Watcher) look() {
	w.target, w.targetName = "", ""
	t, err := filepath.EvalSymlinks(w.path)
	if err != nil {
		return
	}
	w.target = t
	if rel, err := filepath.Rel(w.realDir, t); err == nil {
		if first, _, _ := strings.Cut(filepath.ToSlash(rel), "/"); first != ".." {
			w.targetName = first
		}
	}
}
