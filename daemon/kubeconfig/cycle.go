package kubeconfig

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"time"
)

// cycle reads the files, plans and writes what the connected and disconnected clusters
// need, and publishes their Status. With checkFirst it looks without the lock first
// and takes it only when something is to be written (or a file did not parse, which
// may be a kubectl write under way); otherwise every read happens under the lock.
func (s *Syncer) cycle(ctx context.Context, checkFirst bool) *outcome {
	s.cycleMu.Lock()
	defer s.cycleMu.Unlock()
	j := s.job()
	o := s.run(ctx, j, checkFirst)
	s.publish(j, o)
	return o
}

func (s *Syncer) job() job {
	s.mu.Lock()
	defer s.mu.Unlock()
	return job{wants: maps.Clone(s.wants), release: maps.Clone(s.release)}
}

// restages is how many times a cycle writes its temporary files outside the lock and
// finds, under it, that a file changed meanwhile; the next time it writes them under
// the lock, so a file that keeps changing cannot starve the cycle.
const restages = 4

func (s *Syncer) run(ctx context.Context, j job, checkFirst bool) *outcome {
	if len(j.wants) == 0 && len(j.release) == 0 && !j.all {
		return plan(nil, j)
	}
	// Plan on an unlocked read and write and sync the new files beside the old ones;
	// then, under the lock, only check that the files are still the bytes the plan was
	// made on and rename. kubectl does not wait for a lock (it fails at once with
	// "file exists"), so the lock is held for a read, a compare and the renames, never
	// for a write or an fsync.
	pre := s.load()
	o := plan(pre, j)
	if checkFirst && len(o.changes) == 0 && !slices.ContainsFunc(pre, func(f *fileView) bool { return f.err != nil }) {
		s.done(0)
		return o
	}
	first := 1
	if s.writeUnderLock {
		first = restages
	}
	for attempt := first; ; attempt++ {
		last := attempt >= restages
		var st *staged
		if !last {
			st = s.stage(o)
		}
		held, err := s.locker.lockAll(ctx, s.lockFiles())
		if err != nil {
			st.discard()
			o := plan(nil, j)
			var names []string
			names = slices.AppendSeq(names, maps.Keys(j.wants))
			names = slices.AppendSeq(names, maps.Keys(j.release))
			o.fail(names, err)
			s.done(0)
			return o
		}
		if !last && !unchanged(pre) {
			st.discard()
			s.locker.unlockAll(held)
			pre = s.load()
			o = plan(pre, j)
			continue
		}
		if last {
			// The files keep changing: this time read and write under the lock.
			if !unchanged(pre) {
				pre = s.load()
				o = plan(pre, j)
			}
			st = s.stage(o)
		}
		wrote := s.commit(o, st)
		if j.all {
			for _, f := range s.lockFiles() {
				if err := removeTemps(f); err != nil {
					o.other = append(o.other, &FileError{Path: f, Err: err})
				}
			}
		}
		s.locker.unlockAll(held)
		st.syncDirs(s.log)
		s.done(wrote)
		return o
	}
}

// staged are the temporary files of a cycle's changes, by change; "" where staging
// failed (the change is then already in the outcome's errors).
type staged struct {
	tmp  map[*change]string
	dirs map[string]bool // folders renamed into, to sync
}

// stage writes and syncs each planned change to a temporary file; a change that
// cannot be written fails in o and is dropped from o.changes.
func (s *Syncer) stage(o *outcome) *staged {
	st := &staged{tmp: map[*change]string{}, dirs: map[string]bool{}}
	o.changes = slices.DeleteFunc(o.changes, func(c *change) bool {
		err := checkWritable(c.file.real, c.file.info)
		var tmp string
		if err == nil {
			tmp, err = stageAtomic(c.file.real, c.out, c.file.info, c.mode)
		}
		if err != nil {
			o.fail(c.names, &FileError{Path: c.file.path, Err: err})
			return true
		}
		st.tmp[c] = tmp
		return false
	})
	return st
}

// discard removes the temporary files of a plan that no longer holds.
func (st *staged) discard() {
	if st == nil {
		return
	}
	for _, tmp := range st.tmp {
		_ = os.Remove(tmp)
	}
	clear(st.tmp)
}

// syncDirs makes the renames durable; the lock is no longer needed for that.
func (st *staged) syncDirs(log *slog.Logger) {
	for dir := range st.dirs {
		if err := syncDir(dir); err != nil {
			log.Warn("cannot sync the kubeconfig folder", "dir", dir, "err", err)
		}
	}
}

// unchanged says, cheaply enough to do under the lock (no parse), whether the files
// are still the ones pre read: each path resolves to the same file, with the same mode
// and bytes; one pre could not read still cannot be read.
func unchanged(pre []*fileView) bool {
	for _, f := range pre {
		if f.err != nil && f.real == "" {
			if g := loadFile(f.path); g.err == nil || g.real != "" {
				return false
			}
			continue
		}
		real, err := resolve(f.path)
		if err != nil || real != f.real {
			return false
		}
		if real == "" {
			continue // still absent
		}
		info, err := os.Stat(real)
		if err != nil || info.Mode() != f.info.Mode() || !os.SameFile(info, f.info) || info.Size() != int64(len(f.src)) {
			return false
		}
		if src, err := os.ReadFile(real); err != nil || !bytes.Equal(src, f.src) {
			return false
		}
	}
	return true
}

func (s *Syncer) done(wrote int) {
	if s.afterCycle != nil {
		s.afterCycle(wrote)
	}
}

func (s *Syncer) load() []*fileView {
	files := make([]*fileView, len(s.paths))
	seen := map[string]bool{}
	for i, p := range s.paths {
		f := loadFile(p)
		if f.real != "" {
			f.dup = seen[f.real]
			seen[f.real] = true
		}
		files[i] = f
	}
	return files
}

// lockFiles are the files whose FILE.lock a write takes: every listed file, as kubectl
// locks them, and the target of each symlink, as kubectl given that name locks it.
func (s *Syncer) lockFiles() []string {
	out := slices.Clone(s.paths)
	for _, p := range s.paths {
		if real, err := resolve(p); err == nil && real != "" && real != p {
			out = append(out, real)
		}
	}
	return out
}

// commit renames the staged files over the old ones and moves what they bring about
// into o.applied.
func (s *Syncer) commit(o *outcome, st *staged) int {
	wrote := 0
	for _, c := range o.changes {
		if err := commitAtomic(st.tmp[c], c.file.real); err != nil {
			o.fail(c.names, &FileError{Path: c.file.path, Err: err})
			continue
		}
		delete(st.tmp, c)
		st.dirs[filepath.Dir(c.file.real)] = true
		wrote++
		s.log.Info("kubeconfig updated", "file", c.file.path, "airlock_clusters", c.names)
		if was := c.file.info.Mode().Perm(); c.mode != was {
			s.tightened(ModeChange{File: c.file.path, From: was, To: c.mode, Time: time.Now()})
		}
		if s.afterWrite != nil {
			s.afterWrite(c.file.real)
		}
		for n, es := range c.applied {
			o.applied[n] = append(o.applied[n], es...)
		}
	}
	return wrote
}

// publish stores the cycle's statuses and reports changes.
func (s *Syncer) publish(j job, o *outcome) {
	s.mu.Lock()
	var changed []Status
	set := func(st Status) {
		old, ok := s.status[st.Name]
		if !ok || !sameStatus(old, st) {
			changed = append(changed, st)
		}
		s.status[st.Name] = st
	}
	failing := len(o.other) > 0
	for n := range j.wants {
		if _, still := s.wants[n]; !still {
			continue // disconnected meanwhile; the next cycle reports it
		}
		es := slices.Clone(o.applied[n])
		slices.SortStableFunc(es, func(a, b Entry) int { return slices.Index(s.paths, a.File) - slices.Index(s.paths, b.File) })
		err := errors.Join(o.errs[n]...)
		failing = failing || err != nil
		set(Status{Name: n, Connected: true, Applied: es, Missing: o.missing[n], Err: err})
	}
	for n := range j.release {
		if _, again := s.wants[n]; again {
			continue
		}
		// A released name stays released until it connects again: kubectl reads
		// a kubeconfig before it takes the lock (client-go's ModifyConfig), so a
		// kubectl that started before the Disconnect can write our record back,
		// and Run must remove it again.
		err := errors.Join(o.errs[n]...)
		failing = failing || err != nil
		set(Status{Name: n, Err: err})
	}
	s.failing = failing
	s.mu.Unlock()
	if failing {
		select {
		case s.kick <- struct{}{}:
		default:
		}
	}
	if s.opts.OnStatus != nil {
		for _, st := range changed {
			s.opts.OnStatus(st)
		}
	}
}

func sameStatus(a, b Status) bool {
	errText := func(err error) string {
		if err == nil {
			return ""
		}
		return err.Error()
	}
	return a.Connected == b.Connected && slices.Equal(a.Applied, b.Applied) &&
		slices.Equal(a.Missing, b.Missing) && errText(a.Err) == errText(b.Err)
}

// tightened logs and records a file made private.
func (s *Syncer) tightened(m ModeChange) {
	s.log.Warn("kubeconfig was readable by other users; made it private, as it carries the SOCKS proxy password",
		"file", m.File, "mode_was", fmt.Sprintf("%04o", m.From), "mode", fmt.Sprintf("%04o", m.To))
	s.mu.Lock()
	defer s.mu.Unlock()
	s.modes = slices.DeleteFunc(s.modes, func(x ModeChange) bool { return x.File == m.File })
	s.modes = append(s.modes, m)
}
