package kubeconfig

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"time"

	"github.com/airlockhq/airlock/internal/backoff"
	"github.com/fsnotify/fsnotify"
)

// Run watches the kubeconfig folders and re-applies the connected clusters after
// other programs change the files; it retries failed attempts on a timer. It returns
// nil when ctx ends, or an error when the watcher cannot run.
func (s *Syncer) Run(ctx context.Context) error {
	w, err := fsnotify.NewWatcher()
	if err != nil {
		return fmt.Errorf("kubeconfig: watcher: %w", err)
	}
	defer w.Close()
	watched := map[string]bool{}
	var names map[string]bool
	rewatch := func() {
		var dirs map[string]bool
		dirs, names = watchDirs(s.paths)
		for d := range watched {
			if !dirs[d] {
				_ = w.Remove(d)
				delete(watched, d)
			}
		}
		for d := range dirs {
			if watched[d] {
				continue
			}
			if err := w.Add(d); err != nil {
				s.log.Warn("cannot watch kubeconfig folder", "dir", d, "err", err)
				continue
			}
			watched[d] = true
		}
	}
	rewatch()
	s.cycle(ctx, true)

	debounce := newTimer()
	retry := newTimer()
	delays := backoff.New(backoff.Config{Base: s.opts.RetryInterval, Max: 30 * time.Second, NoJitter: true})
	var first time.Time
	for {
		select {
		case <-ctx.Done():
			return nil
		case ev, ok := <-w.Events:
			if !ok {
				return fmt.Errorf("kubeconfig: watcher closed")
			}
			if !relevant(ev, names) {
				continue
			}
			now := time.Now()
			if !debounce.armed {
				first = now
			}
			at := now.Add(s.opts.Debounce)
			if limit := first.Add(4 * s.opts.Debounce); limit.Before(at) {
				at = limit
			}
			debounce.arm(at)
		case err, ok := <-w.Errors:
			if !ok {
				return fmt.Errorf("kubeconfig: watcher closed")
			}
			s.log.Warn("kubeconfig watcher", "err", err) // an overflow: look at everything
			debounce.arm(time.Now().Add(s.opts.Debounce))
		case <-s.kick:
			if !retry.armed {
				retry.arm(time.Now().Add(delays.Next()))
			}
		case <-debounce.c():
			debounce.armed = false
			rewatch()
			s.cycle(ctx, true)
		case <-retry.c():
			retry.armed = false
			rewatch()
			s.cycle(ctx, true)
			s.mu.Lock()
			if !s.failing {
				delays.Reset()
			}
			s.mu.Unlock()
		}
	}
}

// relevant says whether an event may change what Airlock keeps in the files: an
// event on a file, its symlink target, its lock (released by a writer) or a folder on
// the way to a missing file. Airlock's own temporary files and a lock being created
// are not.
func relevant(ev fsnotify.Event, names map[string]bool) bool {
	base := filepath.Base(ev.Name)
	if isTempName(base) || strings.Contains(base, ".lock.stale-") {
		return false
	}
	if strings.HasSuffix(ev.Name, ".lock") && ev.Op.Has(fsnotify.Create) {
		return false
	}
	return names[ev.Name]
}

// timer is a time.Timer that knows whether it is armed.
type timer struct {
	t     *time.Timer
	armed bool
}

func newTimer() *timer {
	t := time.NewTimer(time.Hour)
	t.Stop()
	return &timer{t: t}
}

func (t *timer) arm(at time.Time) {
	t.t.Reset(time.Until(at))
	t.armed = true
}

func (t *timer) c() <-chan time.Time { return t.t.C }
