package daemon

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/airlockhq/airlock/daemon/apitype"
	"github.com/airlockhq/airlock/daemon/config"
	"github.com/airlockhq/airlock/internal/filewatch"
)

// DefaultReloadDebounce is how long the configuration file must be quiet
// after a change before the daemon reads it.
const DefaultReloadDebounce = filewatch.DefaultDebounce

// ReloadOptions configure following the configuration file. The zero
// value follows it whenever the configuration came from a file
// (Config.Path): a change to the file is applied without a restart (see
// core.Core.Reload); a file that does not load leaves the running
// configuration in place and shows why in Status.ConfigError (and `airlock
// doctor`) until the file loads again.
type ReloadOptions struct {
	// Off leaves the file alone after start.
	Off bool
	// Debounce is how long the file must be quiet before it is read; zero
	// means DefaultReloadDebounce.
	Debounce time.Duration
}

// reloader follows the configuration file ([filewatch] watches its folder:
// editors and tools replace files by rename, which a watch on the file
// itself misses) and applies the file when it changed.
type reloader struct {
	path     string
	debounce time.Duration
	log      *slog.Logger
	apply    func(context.Context, *config.Config) error
	report   func(*apitype.ConfigError) // nil: the file loads again

	sum     [sha256.Size]byte // of the bytes last applied or refused
	failing bool              // the last attempt failed: retry on any change
	// created is told when `airlock join` created the file's folder, so
	// a daemon that started before it existed follows it from then on.
	created chan struct{}
}

// folderCreated tells run that the file's folder exists now.
func (r *reloader) folderCreated() {
	if r == nil {
		return
	}
	select {
	case r.created <- struct{}{}:
	default:
	}
}

func newReloader(path string, debounce time.Duration, log *slog.Logger, apply func(context.Context, *config.Config) error, report func(*apitype.ConfigError)) *reloader {
	if debounce <= 0 {
		debounce = DefaultReloadDebounce
	}
	r := &reloader{path: path, debounce: debounce, log: log, apply: apply, report: report, created: make(chan struct{}, 1)}
	// What the daemon started with: a change in the folder that leaves
	// this file as it was changes nothing.
	if data, err := os.ReadFile(path); err == nil {
		r.sum = sha256.Sum256(data)
	}
	return r
}

// run follows the file until ctx ends. Any change in the folder counts:
// the file itself, a rename onto it, a symlink swapped under it (..data in
// a Kubernetes volume), or a file it names; the content decides. A folder
// that cannot be watched is logged: the daemon then runs the configuration
// it started with.
func (r *reloader) run(ctx context.Context) {
	for {
		if _, err := os.Stat(filepath.Dir(r.path)); errors.Is(err, fs.ErrNotExist) {
			// Not joined yet: `airlock join` creates the folder and says so.
			select {
			case <-ctx.Done():
				return
			case <-r.created:
				continue
			}
		}
		w, err := filewatch.New(r.path, r.check, filewatch.Options{Debounce: r.debounce, AnyInFolder: true, Logger: r.log})
		if err != nil {
			r.log.Warn("cannot follow the configuration file; changes apply at the next start", "path", r.path, "err", err)
			return
		}
		r.check(ctx) // what changed before the watch began (join's file)
		wctx, stop := context.WithCancel(ctx)
		done := make(chan error, 1)
		go func() { done <- w.Run(wctx) }()
		var werr error
	watching:
		for {
			select {
			case werr = <-done:
				break watching
			case <-r.created:
				// Join wrote the file, maybe in a folder made anew after
				// a leave removed the old one, which a watch on the old
				// one never sees (its inode may even be reused): start
				// anew, reading the file first.
				stop()
				<-done
				werr = nil
				break watching
			}
		}
		stop()
		if ctx.Err() != nil {
			return
		}
		if _, serr := os.Stat(filepath.Dir(r.path)); errors.Is(serr, fs.ErrNotExist) || werr == nil {
			continue // the folder went or came back: wait for it, or watch it anew
		}
		r.log.Warn("stopped following the configuration file; changes apply at the next start", "path", r.path, "err", werr)
		return
	}
}

// check reads the file and applies it when it changed.
func (r *reloader) check(ctx context.Context) {
	data, err := os.ReadFile(r.path)
	missing := errors.Is(err, fs.ErrNotExist)
	if err != nil && !missing {
		r.fail(err, nil)
		return
	}
	sum := sha256.Sum256(data)
	if sum == r.sum && !r.failing {
		return
	}
	var cfg *config.Config
	if missing {
		// No file: not joined (`airlock leave` removed what join wrote).
		cfg, err = config.NotJoined(r.path), nil
	} else {
		cfg, err = config.Parse(data, r.path)
	}
	if err != nil {
		r.fail(err, sum[:])
		return
	}
	if err := r.apply(ctx, cfg); err != nil {
		if ctx.Err() != nil {
			return
		}
		r.fail(err, sum[:])
		return
	}
	if r.failing {
		r.log.Info("the configuration file loads again", "path", r.path)
	}
	r.sum, r.failing = sum, false
	r.report(nil)
}

// fail keeps the running configuration and says why the file does not
// load; the same problem is logged once.
func (r *reloader) fail(err error, sum []byte) {
	ce := configError(r.path, err)
	again := r.failing && sum != nil && bytes.Equal(sum, r.sum[:])
	if sum != nil {
		copy(r.sum[:], sum)
	}
	r.failing = true
	if !again {
		r.log.Warn("the configuration file does not load; keeping the running configuration", "path", r.path, "err", ce.Message)
	}
	r.report(ce)
}

// configError is err in the control API's shape: one problem per line,
// each naming the file, the line and the field.
func configError(path string, err error) *apitype.ConfigError {
	ce := &apitype.ConfigError{Path: path, Since: time.Now()}
	var cerr *config.Error
	if !errors.As(err, &cerr) {
		ce.Message = err.Error()
		ce.Problems = []apitype.ConfigProblem{{Message: err.Error()}}
		return ce
	}
	lines := make([]string, 0, len(cerr.Problems))
	for _, p := range cerr.Problems {
		ce.Problems = append(ce.Problems, apitype.ConfigProblem{Line: p.Line, Field: p.Field, Message: p.Msg})
		lines = append(lines, p.Error())
	}
	ce.Message = strings.Join(lines, "\n")
	return ce
}

// applyConfig makes cfg the running configuration: the sign-in managers
// first (a new edge's clusters find theirs), then the core.
func (d *Daemon) applyConfig(ctx context.Context, cfg *config.Config) error {
	d.applyMu.Lock()
	defer d.applyMu.Unlock()
	cfg, err := d.join.expand(cfg)
	if err != nil {
		return err
	}
	signInChanged, err := d.signIn.update(cfg)
	if err != nil {
		return err
	}
	ch, err := d.core.Reload(ctx, cfg)
	if err != nil {
		return err
	}
	d.join.setConfig(cfg)
	if signInChanged && ch.Empty() {
		// The core saw nothing to change, but the edges' sign-ins did.
		d.core.PublishStatus()
	}
	return nil
}
