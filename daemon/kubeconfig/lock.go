package kubeconfig

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"
)

// locker takes client-go's kubeconfig locks (FILE.lock, created with O_EXCL).
type locker struct {
	log      *slog.Logger
	timeout  time.Duration // how long to wait for a busy lock
	staleAge time.Duration // a foreign lock this old may be stale; < 0: never
	recheck  time.Duration // the pause before the second look at a stale lock
	now      func() time.Time
	self     string // what Airlock writes into its lock files
}

func newLocker(log *slog.Logger, timeout, staleAge, recheck time.Duration) *locker {
	return &locker{
		log: log, timeout: timeout, staleAge: staleAge, recheck: recheck, now: time.Now,
		self: fmt.Sprintf("airlock pid=%d start=%s\n", os.Getpid(), procStart(os.Getpid())),
	}
}

// heldLock is a lock file this process created.
type heldLock struct {
	name string
	info fs.FileInfo
}

// lockAll takes the locks of files in sorted order, as kubectl does. A file whose
// folder does not exist needs no lock. On error the locks taken so far are released.
func (l *locker) lockAll(ctx context.Context, files []string) ([]*heldLock, error) {
	files = slices.Clone(files)
	slices.Sort(files)
	files = slices.Compact(files)
	var held []*heldLock
	for _, f := range files {
		h, err := l.acquire(ctx, f)
		if err != nil {
			l.unlockAll(held)
			return nil, &FileError{Path: f, Err: err}
		}
		if h != nil {
			held = append(held, h)
		}
	}
	return held, nil
}

func (l *locker) unlockAll(held []*heldLock) {
	for i := len(held) - 1; i >= 0; i-- {
		h := held[i]
		st, err := os.Lstat(h.name)
		if err != nil || !os.SameFile(st, h.info) {
			l.log.Warn("kubeconfig lock was removed by someone else while held", "lock", h.name)
			continue
		}
		if err := os.Remove(h.name); err != nil {
			l.log.Warn("cannot remove kubeconfig lock", "lock", h.name, "err", err)
		}
	}
}

func (l *locker) acquire(ctx context.Context, file string) (*heldLock, error) {
	name := file + ".lock"
	deadline := time.Now().Add(l.timeout)
	wait := time.Millisecond
	var judged fs.FileInfo // a lock already found not stale in this call
	for {
		st, err := l.create(name)
		if err == nil {
			return &heldLock{name: name, info: st}, nil
		}
		if errors.Is(err, fs.ErrNotExist) {
			return nil, nil // no folder, so no file to protect
		}
		if !errors.Is(err, fs.ErrExist) {
			return nil, fmt.Errorf("%w: cannot create %s: %v", ErrNotWritable, name, err)
		}
		st, serr := os.Lstat(name)
		if serr != nil {
			continue // released in between
		}
		if judged == nil || !os.SameFile(judged, st) {
			broke, err := l.breakStale(ctx, file, name, st)
			if err != nil {
				return nil, err
			}
			if broke {
				continue
			}
			judged = st
		}
		if time.Now().After(deadline) {
			return nil, causef(ErrLocked, "%s exists since %s (kubectl leaves it behind when killed; remove it if no kubectl is running)",
				name, st.ModTime().Format(time.RFC3339))
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil, ctx.Err()
		case <-t.C:
		}
		wait = min(wait*2, 20*time.Millisecond)
	}
}

// create makes lock file name holding Airlock's tag, exclusively: the tag is written
// to a temporary file first and linked to name (link never replaces a file), so a
// crash never leaves a lock without the tag. Where hard links are not supported it
// falls back to O_EXCL, as client-go does.
func (l *locker) create(name string) (fs.FileInfo, error) {
	tmp, err := os.CreateTemp(filepath.Dir(name), "."+filepath.Base(name)+".airlock-*.tmp")
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, err
		}
		return l.createExcl(name)
	}
	defer os.Remove(tmp.Name())
	_, werr := tmp.WriteString(l.self)
	if err := errors.Join(werr, tmp.Close()); err != nil {
		return nil, fmt.Errorf("%w: writing %s: %v", ErrNotWritable, tmp.Name(), err)
	}
	if err := os.Link(tmp.Name(), name); err != nil {
		if errors.Is(err, fs.ErrExist) || errors.Is(err, fs.ErrNotExist) {
			return nil, err
		}
		return l.createExcl(name)
	}
	return os.Lstat(name)
}

func (l *locker) createExcl(name string) (fs.FileInfo, error) {
	f, err := os.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return nil, err
	}
	_, werr := f.WriteString(l.self)
	st, serr := f.Stat()
	if err := errors.Join(werr, serr, f.Close()); err != nil {
		_ = os.Remove(name)
		return nil, fmt.Errorf("%w: writing %s: %v", ErrNotWritable, name, err)
	}
	return st, nil
}

// breakStale removes lock file name (of file) when the package rule says it is stale.
func (l *locker) breakStale(ctx context.Context, file, name string, st fs.FileInfo) (bool, error) {
	data, _ := os.ReadFile(name)
	if pid, start, ok := parseLockTag(data); ok {
		if processAlive(pid, start) {
			return false, nil
		}
		return l.breakLock(name, st, "its airlock process is gone"), nil
	}
	if l.staleAge < 0 || l.now().Sub(st.ModTime()) < l.staleAge {
		return false, nil
	}
	t := time.NewTimer(l.recheck)
	select {
	case <-ctx.Done():
		t.Stop()
		return false, ctx.Err()
	case <-t.C:
	}
	again, err := os.Lstat(name)
	if err != nil || !os.SameFile(st, again) || again.Size() != st.Size() || !again.ModTime().Equal(st.ModTime()) {
		return false, nil
	}
	if fileInUse(canonical(file)) || fileInUse(canonical(name)) {
		return false, nil
	}
	return l.breakLock(name, again, "older than "+l.staleAge.String()), nil
}

// breakLock moves the lock aside, checks it moved the file judged stale, and removes it.
func (l *locker) breakLock(name string, st fs.FileInfo, why string) bool {
	var rnd [6]byte
	_, _ = rand.Read(rnd[:])
	aside := name + ".stale-" + hex.EncodeToString(rnd[:])
	if err := os.Rename(name, aside); err != nil {
		return false
	}
	moved, err := os.Lstat(aside)
	if err != nil || !os.SameFile(st, moved) {
		// Someone replaced the lock in between: put theirs back; link never overwrites.
		_ = os.Link(aside, name)
		_ = os.Remove(aside)
		return false
	}
	_ = os.Remove(aside)
	l.log.Warn("removed stale kubeconfig lock", "lock", name, "why", why, "created", st.ModTime())
	return true
}

// parseLockTag reads "airlock pid=N start=T" from a lock file Airlock wrote.
func parseLockTag(data []byte) (pid int, start string, ok bool) {
	s, found := strings.CutPrefix(strings.TrimSpace(string(data)), "airlock pid=")
	if !found {
		return 0, "", false
	}
	p, start, _ := strings.Cut(s, " start=")
	pid, err := strconv.Atoi(p)
	if err != nil || pid <= 0 {
		return 0, "", false
	}
	return pid, start, true
}

// canonical resolves symlinks where it can, as /proc shows open files.
func canonical(p string) string {
	if r, err := filepath.EvalSymlinks(p); err == nil {
		return r
	}
	return p
}
