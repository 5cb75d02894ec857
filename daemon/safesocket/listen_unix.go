//go:build unix

package safesocket

import (
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"
)

func uid() int { return os.Getuid() }

// Listener is the control socket's listener. Close removes the socket and
// releases the lock.
type Listener struct {
	*net.UnixListener
	lock *os.File
	path string
}

// Close stops listening, removes the socket and releases the lock.
func (l *Listener) Close() error {
	err := l.UnixListener.Close()
	l.lock.Close()
	return err
}

// Path returns the socket's path.
func (l *Listener) Path() string { return l.path }

// Listen prepares the socket's folder (0700, ours), takes the daemon lock
// (an *AlreadyRunningError if another daemon holds it), removes a stale
// socket only after probing that nothing answers on it, and listens with
// mode 0600.
func Listen(path string) (*Listener, error) {
	dir := filepath.Dir(path)
	if err := ensureDir(dir); err != nil {
		return nil, err
	}
	lock, err := takeLock(path + ".lock")
	if err != nil {
		return nil, err
	}
	ok := false
	defer func() {
		if !ok {
			lock.Close()
		}
	}()
	if st, err := os.Lstat(path); err == nil {
		if st.Mode().Type() != fs.ModeSocket {
			return nil, fmt.Errorf("%s exists and is not a socket; remove it", path)
		}
		if probe(path) {
			return nil, &AlreadyRunningError{Path: path}
		}
		if err := os.Remove(path); err != nil {
			return nil, fmt.Errorf("remove stale socket: %w", err)
		}
	}
	ln, err := net.ListenUnix("unix", &net.UnixAddr{Name: path, Net: "unix"})
	if err != nil {
		return nil, fmt.Errorf("listen on %s: %w", path, err)
	}
	if err := os.Chmod(path, 0o600); err != nil {
		ln.Close()
		return nil, fmt.Errorf("chmod %s: %w", path, err)
	}
	ok = true
	return &Listener{UnixListener: ln, lock: lock, path: path}, nil
}

// EnsureDir makes dir 0700 if missing, and otherwise checks that it is a
// real folder (not a symlink) owned by us, fixing its mode to 0700. Other
// per-user runtime files of the daemon (the sign-in page) go in [Dir]
// through it too.
func EnsureDir(dir string) error { return ensureDir(dir) }

// ensureDir makes dir 0700 if missing, and otherwise checks that it is a
// real folder owned by us with no access for others (fixing the mode of one
// we own).
func ensureDir(dir string) error {
	if err := os.Mkdir(dir, 0o700); err != nil && !errors.Is(err, fs.ErrExist) {
		return fmt.Errorf("create socket folder: %w", err)
	}
	st, err := os.Lstat(dir)
	if err != nil {
		return fmt.Errorf("socket folder: %w", err)
	}
	if !st.IsDir() {
		return fmt.Errorf("socket folder %s is not a folder (a symlink?); remove it", dir)
	}
	if sys, ok := st.Sys().(*syscall.Stat_t); ok && int(sys.Uid) != os.Getuid() {
		return fmt.Errorf("socket folder %s belongs to uid %d, not to us (uid %d): refusing it", dir, sys.Uid, os.Getuid())
	}
	if st.Mode().Perm() != 0o700 {
		if err := os.Chmod(dir, 0o700); err != nil {
			return fmt.Errorf("chmod socket folder: %w", err)
		}
	}
	return nil
}

// takeLock holds an exclusive flock on path for the daemon's lifetime and
// records our pid in it.
func takeLock(path string) (*os.File, error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|syscall.O_NOFOLLOW, 0o600)
	if err != nil {
		return nil, fmt.Errorf("open lock file: %w", err)
	}
	if err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB); err != nil {
		data := make([]byte, 32)
		n, _ := f.ReadAt(data, 0)
		f.Close()
		if errors.Is(err, unix.EWOULDBLOCK) {
			pid, _ := strconv.Atoi(strings.TrimSpace(string(data[:n])))
			return nil, &AlreadyRunningError{Path: strings.TrimSuffix(path, ".lock"), PID: pid}
		}
		return nil, fmt.Errorf("lock %s: %w", path, err)
	}
	f.Truncate(0)
	f.WriteAt([]byte(strconv.Itoa(os.Getpid())+"\n"), 0)
	return f, nil
}
