package kubeconfig

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"os"
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

func (s *Syncer) run(ctx context.Context, j job, checkFirst bool) *outcome {
	if len(j.wants) == 0 && len(j.release) == 0 && !j.all {
		return plan(nil, j)
	}
	// Plan on an unlocked read, then under the lock only check that the files are
	// still the same bytes: the lock is held for a read, a compare and the writes.
	pre := s.load()
	o := plan(pre, j)
	if checkFirst && len(o.changes) == 0 && !slices.ContainsFunc(pre, func(f *fileView) bool { return f.err != nil }) {
		s.done(0)
		return o
	}
	held, err := s.locker.lockAll(ctx, s.lockFiles())
	if err != nil {
		o := plan(nil, j)
		var names []string
		names = slices.AppendSeq(names, maps.Keys(j.wants))
		names = slices.AppendSeq(names, maps.Keys(j.release))
		o.fail(names, err)
		s.done(0)
		return o
	}
	defer s.locker.unlockAll(held)
	if files := s.load(); !sameFiles(pre, files) {
		o = plan(files, j)
	}
	wrote := s.execute(o)
	if j.all {
		for _, f := range s.lockFiles() {
			if err := removeTemps(f); err != nil {
				o.other = append(o.other, &FileError{Path: f, Err: err})
			}
		}
	}
	s.done(wrote)
	return o
}

// sameFiles says whether two reads found the same files with the same bytes and
// modes; then a plan made on the first holds for the second.
func sameFiles(a, b []*fileView) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		x, y := a[i], b[i]
		if x.real != y.real || x.dup != y.dup || (x.err == nil) != (y.err == nil) || string(x.src) != string(y.src) {
			return false
		}
		if x.info != nil && (y.info == nil || x.info.Mode() != y.info.Mode() || !os.SameFile(x.info, y.info)) {
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

// execute writes the planned changes and moves what they bring about into o.applied.
func (s *Syncer) execute(o *outcome) int {
	wrote := 0
	for _, c := range o.changes {
		err := checkWritable(c.file.real, c.file.info)
		if err == nil {
			err = writeAtomic(c.file.real, c.out, c.file.info, c.mode)
		}
		if err != nil {
			o.fail(c.names, &FileError{Path: c.file.path, Err: err})
			continue
		}
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
