package kubeconfig

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"
	"unicode"
)

// Target says which kubeconfig cluster entries one Airlock cluster serves.
type Target struct {
	Name     string   // Airlock cluster name, kept in the extension record
	Clusters []string // kubeconfig cluster entry names
	Servers  []string // and/or entries whose cluster.server equals one of these URLs exactly
}

// Entry is one kubeconfig cluster entry.
type Entry struct {
	File    string // the file as listed in Options.Paths (before symlinks are resolved)
	Cluster string // the entry's name
}

// Status is what the Syncer knows about one Airlock cluster.
type Status struct {
	Name      string
	Connected bool     // between Connect and Disconnect
	Applied   []Entry  // entries that carry this cluster's proxy-url, in precedence order
	Missing   []string // names and server URLs of the Target that match no entry
	// Err is why the last attempt did not fully succeed (a file that does not parse,
	// is locked or read-only, an entry in an unsupported form …), nil when it did.
	// It wraps *FileError values; test causes with errors.Is(err, ErrLocked) etc.
	// After Disconnect, a non-nil Err means records are still in a file; Run retries.
	Err error
}

// ModeChange is a kubeconfig file the Syncer made private: it was readable by group or
// others when a proxy-url with a password was to be in it, so the write cleared those
// permission bits (0644 became 0600).
type ModeChange struct {
	File     string      // as listed in Options.Paths
	From, To fs.FileMode // permissions before and after
	Time     time.Time
}

// Options configure a Syncer. The zero value means the defaults.
type Options struct {
	// Paths are the kubeconfig files in precedence order; relative names are taken
	// from the working folder. Empty: DefaultPaths(os.Getenv).
	Paths []string
	// Debounce is how long Run waits after a file event for more to come before
	// re-applying (at most 4× this after the first). Zero: 20ms.
	Debounce time.Duration
	// LockTimeout bounds the wait for a FILE.lock held by another process. Zero: 2s.
	LockTimeout time.Duration
	// StaleLockAge is the age after which a foreign FILE.lock may be broken (see the
	// package documentation for the whole rule). Zero: 5 minutes; negative: never.
	StaleLockAge time.Duration
	// RetryInterval is Run's first retry delay after a failed attempt, doubled up to
	// 30s while failures go on. Zero: 1s.
	RetryInterval time.Duration
	// OnStatus, when set, is called after a cluster's Status changes, one call at a
	// time, from whichever call made the change. It must not block and must not call
	// Connect, Disconnect or DisconnectAll (Status is fine).
	OnStatus func(Status)
}

// Syncer keeps the proxy-url of connected Airlock clusters in the user's kubeconfig.
// Its methods are safe for concurrent use.
type Syncer struct {
	log    *slog.Logger
	opts   Options
	paths  []string
	locker *locker

	cycleMu sync.Mutex // one read-change-write cycle at a time

	mu      sync.Mutex
	wants   map[string]want
	release map[string]bool
	status  map[string]Status
	failing bool          // the last cycle left errors behind
	kick    chan struct{} // tells Run that a cycle failed
	modes   []ModeChange  // files made private, the latest per file

	// writeUnderLock makes a cycle write and fsync with the lock held, as it did
	// before it staged its writes: a test compares kubectl's lock failures.
	writeUnderLock bool
	// Test hooks, called with cycleMu held.
	afterWrite func(path string)
	afterCycle func(wrote int)
}

// New returns a Syncer for opts. It reads no file yet.
func New(log *slog.Logger, opts Options) (*Syncer, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if opts.Debounce <= 0 {
		opts.Debounce = 20 * time.Millisecond
	}
	if opts.LockTimeout <= 0 {
		opts.LockTimeout = 2 * time.Second
	}
	if opts.StaleLockAge == 0 {
		opts.StaleLockAge = 5 * time.Minute
	}
	if opts.RetryInterval <= 0 {
		opts.RetryInterval = time.Second
	}
	paths := opts.Paths
	if len(paths) == 0 {
		var err error
		if paths, err = DefaultPaths(os.Getenv); err != nil {
			return nil, err
		}
	}
	var abs []string
	for _, p := range paths {
		if p == "" {
			continue
		}
		a, err := filepath.Abs(p)
		if err != nil {
			return nil, fmt.Errorf("kubeconfig: %w", err)
		}
		if !slices.Contains(abs, a) {
			abs = append(abs, a)
		}
	}
	if len(abs) == 0 {
		return nil, errors.New("kubeconfig: no kubeconfig paths")
	}
	return &Syncer{
		log:     log,
		opts:    opts,
		paths:   abs,
		locker:  newLocker(log, opts.LockTimeout, opts.StaleLockAge, time.Second),
		wants:   map[string]want{},
		release: map[string]bool{},
		status:  map[string]Status{},
		kick:    make(chan struct{}, 1),
	}, nil
}

// Paths are the kubeconfig files the Syncer follows, absolute, in precedence order.
func (s *Syncer) Paths() []string { return slices.Clone(s.paths) }

// Connect points the entries t maps at proxyURL (socks5://USER:PASS@HOST:PORT; http
// and https are accepted too) and keeps them pointed while Run runs. Connecting a
// connected name again replaces its target and URL. The target is kept even when
// Connect returns an error, and Run retries; entries that do not exist yet are picked
// up when they appear (Status.Missing lists them meanwhile). The error joins
// *FileError values.
func (s *Syncer) Connect(ctx context.Context, t Target, proxyURL string) error {
	if err := validate(t, proxyURL); err != nil {
		return err
	}
	t.Clusters, t.Servers = slices.Clone(t.Clusters), slices.Clone(t.Servers)
	s.mu.Lock()
	s.wants[t.Name] = want{target: t, proxyURL: proxyURL}
	delete(s.release, t.Name)
	s.mu.Unlock()
	return errors.Join(s.cycle(ctx, false).errs[t.Name]...)
}

// Disconnect restores the entries of Airlock cluster name, in every file, to what was
// there before Connect (see the package documentation) and stops keeping them. When it
// returns an error, Run keeps trying.
func (s *Syncer) Disconnect(ctx context.Context, name string) error {
	s.mu.Lock()
	delete(s.wants, name)
	s.release[name] = true
	s.mu.Unlock()
	return errors.Join(s.cycle(ctx, false).errs[name]...)
}

// DisconnectAll disconnects every connected cluster, as on quit.
func (s *Syncer) DisconnectAll(ctx context.Context) error {
	s.mu.Lock()
	var names []string
	for n := range s.wants {
		s.release[n] = true
		names = append(names, n)
	}
	clear(s.wants)
	s.mu.Unlock()
	o := s.cycle(ctx, false)
	var errs []error
	for _, n := range names {
		errs = append(errs, o.errs[n]...)
	}
	return errors.Join(errs...)
}

// Status reports on Airlock cluster name; an unknown name gives Status{Name: name}.
func (s *Syncer) Status(name string) Status {
	s.mu.Lock()
	defer s.mu.Unlock()
	st, ok := s.status[name]
	if !ok {
		return Status{Name: name}
	}
	st.Applied, st.Missing = slices.Clone(st.Applied), slices.Clone(st.Missing)
	return st
}

// Tightened lists the files the Syncer made private because they were readable by
// other users when it wrote a password into them (see [ModeChange]), the latest change
// per file, oldest first. Giving an entry back never loosens a file again.
func (s *Syncer) Tightened() []ModeChange {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.modes)
}

func validate(t Target, proxyURL string) error {
	if t.Name == "" {
		return errors.New("kubeconfig: target has no name")
	}
	if len(t.Clusters) == 0 && len(t.Servers) == 0 {
		return fmt.Errorf("kubeconfig: target %q maps no cluster entry", t.Name)
	}
	if strings.IndexFunc(proxyURL, func(r rune) bool { return unicode.IsSpace(r) || unicode.IsControl(r) }) >= 0 {
		return errors.New("kubeconfig: proxy URL holds white space or control characters")
	}
	u, err := url.Parse(proxyURL)
	if err != nil {
		return errors.New("kubeconfig: proxy URL does not parse") // the error would repeat the password
	}
	if u.Scheme != "socks5" && u.Scheme != "http" && u.Scheme != "https" {
		return fmt.Errorf("kubeconfig: proxy URL scheme %q is not socks5, http or https", u.Scheme)
	}
	if u.Hostname() == "" || u.Port() == "" {
		return errors.New("kubeconfig: proxy URL needs a host and a port")
	}
	return nil
}
