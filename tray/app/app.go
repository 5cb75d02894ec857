package app

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"time"

	"fyne.io/systray"
	"golang.org/x/sync/errgroup"

	"github.com/airlockhq/airlock/daemon/apitype"
	"github.com/airlockhq/airlock/daemon/client"
	"github.com/airlockhq/airlock/internal/backoff"
	"github.com/airlockhq/airlock/internal/desktop"
)

// Options configures an App. Client is required.
type Options struct {
	// Client talks to the daemon.
	Client *client.Client
	// Logger receives the tray's logs; nil discards them.
	Logger *slog.Logger
	// Getenv is os.Getenv in production (the session bus, the display).
	Getenv func(string) string
	// Supervisor starts a daemon when none answers; nil only attaches.
	Supervisor *Supervisor
	// Headless runs without an icon even when a session bus exists.
	Headless bool
	// Account returns the signed-in user from a status; nil means
	// AccountFromStatus.
	Account func(*apitype.Status) Account
	// SignIn and SignOut run those actions; nil disables the items.
	SignIn, SignOut func(ctx context.Context) error
	// Notifier shows desktop notifications; nil means
	// org.freedesktop.Notifications over a private D-Bus connection, when
	// a session bus exists.
	Notifier Notifier
	// Clipboard copies text; nil means wl-copy, xclip or xsel (see
	// CopyText). Open opens a file with the desktop's default
	// application; nil means xdg-open (see OpenFile).
	Clipboard func(ctx context.Context, text string) error
	Open      func(ctx context.Context, path string) error
	// ConfigPath is opened by "Open configuration" when the daemon does
	// not report its own.
	ConfigPath string
}

// App is the tray.
type App struct {
	opts Options
	log  *slog.Logger
	sup  *Supervisor

	acts chan action // unbuffered: a click while busy is dropped

	mu     sync.Mutex
	status *apitype.Status // the latest, nil while no daemon answers
	quit   context.CancelFunc
	notify Notifier
}

type actionKind int

const (
	actToggle actionKind = iota
	actConnectAll
	actDisconnectAll
	actCopy
	actOpenConfig
	actSignIn
	actSignOut
	actSync
	actLeave
	actQuit
)

type action struct {
	kind    actionKind
	cluster string
}

// New returns an App for opts.
func New(opts Options) *App {
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if opts.Client == nil {
		opts.Client = &client.Client{}
	}
	return &App{opts: opts, log: log, sup: opts.Supervisor, acts: make(chan action)}
}

// noWatcher is said once when no panel shows tray icons.
const noWatcher = "no StatusNotifierWatcher on the session bus: the tray icon cannot be shown " +
	"(on GNOME, install the AppIndicator extension); the tray keeps running, notifications still work, " +
	"and `airlock status` shows the state; the icon appears if a tray host starts later"

// Run runs the tray until ctx ends or the user chooses Quit. Without a
// session bus (or with Options.Headless) it runs headless.
func (a *App) Run(ctx context.Context) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	a.mu.Lock()
	a.quit = cancel
	a.mu.Unlock()

	headless := a.opts.Headless
	var dn *dbusNotifier // reports the actions chosen on notes
	if !headless {
		conn, err := desktop.ConnectPrivate(a.getenv)
		if err != nil {
			a.log.Warn("running headless, without a tray icon: "+err.Error()+"; the daemon runs and each change is logged here; use `airlock status`", "err", err)
			headless = true
		} else {
			defer conn.Close()
			if has, err := desktop.HasOwner(conn, desktop.WatcherName); err != nil {
				a.log.Warn("cannot ask the session bus for a tray host", "err", err)
			} else if !has {
				a.log.Warn(noWatcher)
			}
			if a.opts.Notifier == nil {
				dn = newDBusNotifier(conn, "")
				a.opts.Notifier = dn
			}
		}
	}
	if a.opts.Notifier != nil {
		a.notify = limitedNotifier{n: a.opts.Notifier, lim: newLimiter(5*time.Minute, 5, nil)}
	}

	g, gctx := errgroup.WithContext(ctx)
	if a.sup != nil {
		g.Go(func() error { return a.sup.Run(gctx) })
	}
	g.Go(func() error { return a.execute(gctx) })
	if dn != nil {
		if sigs, err := dn.listen(a.noteAction); err != nil {
			a.log.Warn("actions on notifications are off", "err", err)
		} else {
			g.Go(func() error {
				dn.run(gctx, sigs)
				return nil
			})
		}
	}
	if headless {
		g.Go(func() error { return a.follow(gctx, newLogUI(a.log), nil) })
		return g.Wait()
	}

	tu := newTrayUI(a.log, a.click, IconSize(a.getenv))
	tu.preset(BuildView(nil, Account{}, ""))
	ready := make(chan struct{})
	followed := make(chan struct{})
	g.Go(func() error {
		defer close(followed)
		return a.follow(gctx, tu, ready)
	})
	stopped := make(chan struct{})
	go func() { // ends once Run has returned: stopped is closed below
		select {
		case <-followed:
			// follow returns only once ctx has ended, and it is the only
			// caller of the UI: quit only then, since systray panics on a
			// change after Quit closed its connection.
			systray.Quit()
		case <-stopped:
		}
	}()
	systray.Run(func() { close(ready) }, nil)
	close(stopped)
	cancel()
	return g.Wait()
}

func (a *App) getenv(k string) string {
	if a.opts.Getenv == nil {
		return ""
	}
	return a.opts.Getenv(k)
}

// Quit ends Run.
func (a *App) Quit() {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.quit != nil {
		a.quit()
	}
}

// follow keeps the view in line with the daemon's event stream, starting
// the daemon through the supervisor when none answers.
func (a *App) follow(ctx context.Context, u ui, ready <-chan struct{}) error {
	if ready != nil {
		select {
		case <-ready:
		case <-ctx.Done():
			return nil
		}
	}
	show := func(st *apitype.Status, note string) {
		var acct Account
		if st != nil {
			account := a.opts.Account
			if account == nil {
				account = AccountFromStatus
			}
			acct = account(st)
		}
		acct.CanSignIn = acct.CanSignIn && a.opts.SignIn != nil
		acct.CanSignOut = acct.CanSignOut && a.opts.SignOut != nil
		u.Show(BuildView(st, acct, note))
	}
	show(nil, "")
	retry := backoff.New(backoff.Config{Base: 50 * time.Millisecond, Max: 5 * time.Second, NoJitter: true})
	for {
		w, err := a.opts.Client.Watch(ctx)
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			note := "Airlock daemon: " + err.Error()
			if client.IsNotRunning(err) {
				note = "Starting the Airlock daemon…"
				if a.sup == nil {
					note = "No Airlock daemon is running: start one with `airlock daemon`"
				} else {
					a.sup.Need()
				}
			}
			a.setStatus(nil)
			show(nil, note)
			var ready <-chan struct{}
			if a.sup != nil {
				ready = a.sup.Ready()
			}
			select {
			case <-ctx.Done():
				return nil
			case <-ready:
			case <-time.After(retry.Next()):
			}
			continue
		}
		retry.Reset()
		err = a.read(ctx, w, show)
		w.Close()
		if ctx.Err() != nil {
			return nil
		}
		a.log.Warn("lost the daemon's event stream; reconnecting", "err", err)
	}
}

// read applies events from w until it ends.
func (a *App) read(ctx context.Context, w *client.Watcher, show func(*apitype.Status, string)) error {
	stop := context.AfterFunc(ctx, func() { w.Close() })
	defer stop()
	var st *apitype.Status
	for {
		ev, err := w.Next()
		if err != nil {
			return err
		}
		if n, ok := catalogueNote(ev); ok {
			a.show(n)
		}
		next := apply(st, ev)
		if next == nil {
			continue
		}
		if st == nil {
			a.log.Info("attached to the airlock daemon", "pid", next.PID, "version", next.Version, "socket", a.opts.Client.SocketPath())
		}
		prev := a.setStatus(next)
		a.notes(notes(prev, next))
		st = next
		show(st, "")
	}
}

// apply returns the status after ev, nil when ev changes nothing known.
func apply(st *apitype.Status, ev apitype.Event) *apitype.Status {
	switch ev.Type {
	case apitype.EventStatus:
		if ev.Status != nil {
			s := *ev.Status
			return &s
		}
	case apitype.EventSignIn:
		if st == nil || ev.SignIn == nil {
			return nil
		}
		s := *st
		s.Edges = append([]apitype.Edge(nil), st.Edges...)
		for i := range s.Edges {
			if s.Edges[i].Name == ev.SignIn.Edge {
				si := *ev.SignIn
				s.Edges[i].SignIn = &si
				return &s
			}
		}
		return nil
	case apitype.EventCluster:
		if st == nil || ev.Cluster == nil {
			return nil
		}
		s := *st
		s.Clusters = append([]apitype.Cluster(nil), st.Clusters...)
		for i := range s.Clusters {
			if s.Clusters[i].Name == ev.Cluster.Name {
				s.Clusters[i] = *ev.Cluster
				return &s
			}
		}
		s.Clusters = append(s.Clusters, *ev.Cluster)
		return &s
	}
	return nil
}

// setStatus stores the latest status and returns the previous one.
func (a *App) setStatus(st *apitype.Status) *apitype.Status {
	a.mu.Lock()
	defer a.mu.Unlock()
	prev := a.status
	a.status = st
	return prev
}

func (a *App) latest() *apitype.Status {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.status
}

func (a *App) notes(ns []Note) {
	for _, n := range ns {
		a.show(n)
	}
}

// show sends one notification, logging what cannot be shown.
func (a *App) show(n Note) {
	if a.notify == nil {
		a.log.Info("notification (no notification server)", "summary", n.Summary)
		return
	}
	if err := a.notify.Notify(n); err != nil {
		if errors.Is(err, errRateLimited) {
			a.log.Debug("notification rate-limited", "summary", n.Summary)
			return
		}
		a.log.Warn("notification not shown", "summary", n.Summary, "err", err)
	}
}

// noteAction runs the action the user chose on a note: "Sign in…".
func (a *App) noteAction(n Note) {
	if n.SignIn {
		a.log.Info("sign in chosen on a notification", "note", n.Key)
		a.click(action{kind: actSignIn})
	}
}

// click is called by the UI for each click; it never blocks. Quit acts at
// once; any other click is handed to execute, or dropped while execute is
// still busy with the previous one.
func (a *App) click(act action) {
	if act.kind == actQuit {
		a.log.Info("quit chosen in the tray menu")
		a.Quit()
		return
	}
	select {
	case a.acts <- act:
	default:
		a.log.Info("click dropped: the previous one is still running")
	}
}

// execute runs clicked actions one at a time until ctx ends.
func (a *App) execute(ctx context.Context) error {
	for {
		select {
		case <-ctx.Done():
			return nil
		case act := <-a.acts:
			actx, cancel := context.WithTimeout(ctx, 60*time.Second)
			a.do(actx, act)
			cancel()
		}
	}
}
