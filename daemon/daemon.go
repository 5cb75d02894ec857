// Package daemon wires the end-user daemon together: the core (clusters'
// SOCKS5 listeners and edge links, daemon/core), the kubeconfig sync
// (daemon/kubeconfig) and the control API on the per-user unix socket
// (daemon/controlapi, daemon/safesocket). It is what `airlock daemon` runs
// and what daemon/daemontest starts in tests.
//
// The kubeconfig follows the listeners: at start the daemon gives back what
// a crashed daemon left in the files (kubeconfig.Cleanup); while a cluster
// that maps kubeconfig entries (its `kubeconfig:` block) listens, those
// entries carry its proxy-url and are kept so through other tools'
// rewrites; on disconnect and when the daemon stops (ctx end, SIGTERM) they
// are given back as they were. A cluster without a `kubeconfig:` block maps
// nothing and its kubeconfig is left alone.
//
// A cluster without a service token signs in at its edge (daemon/signin):
// its connections take the edge's access token, signing the user in on the
// first one; refresh tokens live in the OS keychain or, where none answers,
// a 0600 file under $XDG_STATE_HOME/airlock (daemon/keychain). Status and
// events show each edge's sign-in and the token store; POST /v1/login and
// /v1/logout drive it.
//
// The configuration file is followed while the daemon runs (reload.go):
// its folder is watched, since editors and tools replace files by rename,
// and a change is applied through the core without a restart — clusters
// added, removed or restarted, edges' links and sign-ins replaced — while
// unchanged clusters keep their streams. A file that does not load leaves
// the running configuration in place; status shows why, by line and field,
// until the file loads again.
//
// Joining an edge (join.go, `airlock join`): the daemon writes the edge
// into the configuration file itself (config.AddEdge, `catalogue: true`),
// signs the person in, fetches the catalogue of the apps they may use
// (daemon/catalogue, cached in the state folder) and runs one cluster per
// app besides the file's own, with kubeconfig entries written for them
// (kubeconfig.Syncer.Provision). Sync re-checks every 10 minutes and after
// each sign-in; leave gives the kubeconfig and the configuration back. A
// daemon started before there is any configuration file waits for a join.
package daemon

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sync"

	"github.com/airlockhq/airlock/daemon/apitype"
	"github.com/airlockhq/airlock/daemon/config"
	"github.com/airlockhq/airlock/daemon/controlapi"
	"github.com/airlockhq/airlock/daemon/core"
	"github.com/airlockhq/airlock/daemon/kubeconfig"
	"github.com/airlockhq/airlock/daemon/safesocket"
	"github.com/airlockhq/airlock/daemon/signin"
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
	// listen); Config, Logger and Version above take precedence, and so
	// does the kubeconfig sync.
	Core core.Options
	// Kubeconfig configures the kubeconfig sync. The zero value follows
	// $KUBECONFIG or ~/.kube/config with daemon/kubeconfig's defaults;
	// OnStatus is the daemon's own. When no kubeconfig file can be named
	// (no $KUBECONFIG and no home folder) the daemon runs without the sync
	// and logs why.
	Kubeconfig kubeconfig.Options
	// SignIn configures sign-in for clusters without a service token.
	SignIn SignInOptions
	// Reload configures following the configuration file (Config.Path).
	Reload ReloadOptions
	// Join configures joining edges (`airlock join`) and their catalogues.
	Join JoinOptions
}

// Daemon is the core plus its control API.
type Daemon struct {
	core    *core.Core
	kube    *kubeSync // nil without the kubeconfig sync
	signIn  *signInPart
	reload  *reloader // nil when the configuration file is not followed
	join    *joiner
	applyMu sync.Mutex // one configuration applied at a time
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
	if opts.Config == nil {
		return nil, errors.New("daemon: no configuration")
	}
	if err := opts.Config.Validate(); err != nil {
		return nil, err
	}
	getenv := opts.SignIn.Getenv
	if getenv == nil {
		getenv = os.Getenv
	}
	d := &Daemon{log: log, version: opts.Version, config: opts.Config.Path}
	d.join = newJoiner(d, opts.Join, getenv, log.With("part", "join"))
	cfg, err := d.join.expand(opts.Config)
	if err != nil {
		return nil, err
	}
	d.join.setConfig(cfg)
	co := opts.Core
	co.Config, co.Logger, co.Version = cfg, log, opts.Version
	ks, err := newKubeSync(log.With("part", "kubeconfig"), opts.Kubeconfig)
	if err != nil {
		log.Warn("kubeconfig sync off", "err", err)
		ks = nil
		co.Kubeconfig, co.KubeconfigFiles = nil, nil
	} else {
		co.Kubeconfig, co.KubeconfigFiles = ks, ks.syncer.Paths()
	}
	si, err := newSignIn(cfg, opts.SignIn, log.With("part", "signin"), &co)
	if err != nil {
		return nil, err
	}
	si.onSignedIn = d.join.signedIn
	if ks != nil {
		if prev := co.StatusExtra; prev != nil {
			co.StatusExtra = func(st *apitype.Status) { prev(st); ks.status(st) }
		} else {
			co.StatusExtra = ks.status
		}
	}
	if prev := co.StatusExtra; prev != nil {
		co.StatusExtra = func(st *apitype.Status) { prev(st); d.join.statusNow(st) }
	} else {
		co.StatusExtra = d.join.statusNow
	}
	c, err := core.New(co)
	if err != nil {
		return nil, err
	}
	if ks != nil {
		ks.setCore(c)
	}
	si.setCore(c)
	api := controlapi.New(c, log)
	api.SetSignIn(si, signin.ErrUnknownEdge, signin.ErrNoSignIn)
	api.SetCredentials(si, core.ErrUnknownCluster)
	api.SetJoin(d.join, ErrNotJoined)
	socket := opts.Socket
	if socket == "" {
		socket = safesocket.Path(os.Getenv)
	}
	d.core, d.kube, d.signIn, d.api, d.socket = c, ks, si, api, socket
	if opts.Config.Path != "" && !opts.Reload.Off {
		d.reload = newReloader(opts.Config.Path, opts.Reload.Debounce, log.With("part", "config"), d.applyConfig, c.SetConfigError)
	}
	return d, nil
}

// Core returns the daemon's core.
func (d *Daemon) Core() *core.Core { return d.core }

// Socket returns the control socket's path.
func (d *Daemon) Socket() string { return d.socket }

// Run opens the control socket (an *safesocket.AlreadyRunningError if
// another daemon has it), cleans up what a crashed daemon left in the
// kubeconfig, then runs the core, the kubeconfig sync and the API until ctx
// ends or the core or the API fails. Before it returns it gives the
// kubeconfig back.
func (d *Daemon) Run(ctx context.Context) error {
	ln, err := safesocket.Listen(d.socket)
	if err != nil {
		return err
	}
	defer ln.Close()
	d.log.Info("airlock daemon running", "version", d.version, "config", d.config, "control_socket", d.socket)
	if d.kube != nil {
		// Only now: a second daemon that found the socket taken must not
		// take back the first one's entries.
		d.kube.cleanup(ctx)
		defer d.kube.restore()
	}
	g, gctx := errgroup.WithContext(ctx)
	if d.kube != nil {
		g.Go(func() error {
			d.kube.run(gctx)
			return nil
		})
	}
	g.Go(func() error { return d.signIn.run(gctx) })
	g.Go(func() error {
		d.join.run(gctx)
		return nil
	})
	if d.reload != nil {
		g.Go(func() error {
			d.reload.run(gctx)
			return nil
		})
	}
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
