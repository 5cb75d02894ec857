// Package daemon wires the end-user daemon together: the core (clusters'
// SOCKS5 listeners and edge links, daemon/core) and the control API on the
// per-user unix socket (daemon/controlapi, daemon/safesocket). It is what
// `airlock daemon` runs and what daemon/daemontest starts in tests.
package daemon

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"

	"github.com/airlockhq/airlock/daemon/config"
	"github.com/airlockhq/airlock/daemon/controlapi"
	"github.com/airlockhq/airlock/daemon/core"
	"github.com/airlockhq/airlock/daemon/safesocket"
	"golang.org/x/sync/errgroup"
)

// Options configures a Daemon. Config is required.
type Options struct {
	Config *config.Config
	// Socket is the control socket's path; empty means the user's default.
	Socket string
	// Logger receives the daemon's logs. Nil discards them.
	Logger *slog.Logger
	// Version is reported in status and sent to edges.
	Version string
	// Core lets tests replace parts of the core (edges, token sources,
	// listen); Config, Logger and Version above take precedence.
	Core core.Options
}

// Daemon is the core plus its control API.
type Daemon struct {
	core    *core.Core
	api     *controlapi.Server
	log     *slog.Logger
	socket  string
	version string
	config  string
}

// New builds a daemon: it validates the configuration and prepares the
// core. Nothing listens until Run.
func New(opts Options) (*Daemon, error) {
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	co := opts.Core
	co.Config, co.Logger, co.Version = opts.Config, log, opts.Version
	c, err := core.New(co)
	if err != nil {
		return nil, err
	}
	socket := opts.Socket
	if socket == "" {
		socket = safesocket.Path(os.Getenv)
	}
	return &Daemon{core: c, api: controlapi.New(c, log), log: log, socket: socket, version: opts.Version, config: opts.Config.Path}, nil
}

// Core returns the daemon's core.
func (d *Daemon) Core() *core.Core { return d.core }

// Socket returns the control socket's path.
func (d *Daemon) Socket() string { return d.socket }

// Run opens the control socket (an *safesocket.AlreadyRunningError if
// another daemon has it), then runs the core and the API until ctx ends or
// either fails.
func (d *Daemon) Run(ctx context.Context) error {
	ln, err := safesocket.Listen(d.socket)
	if err != nil {
		return err
	}
	defer ln.Close()
	d.log.Info("airlock daemon running", "version", d.version, "config", d.config, "control_socket", d.socket)
	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error {
		if err := d.core.Run(gctx); err != nil {
			return fmt.Errorf("core: %w", err)
		}
		return errStopped
	})
	g.Go(func() error {
		if err := d.api.Serve(gctx, ln); err != nil {
			return err
		}
		return errStopped
	})
	if err := g.Wait(); err != nil && !errors.Is(err, errStopped) {
		return err
	}
	return nil
}

// errStopped ends the group when one part returns cleanly, so the other
// stops too.
var errStopped = errors.New("stopped")
