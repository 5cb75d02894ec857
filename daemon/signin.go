package daemon

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"runtime"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/airlockhq/airlock/daemon/apitype"
	"github.com/airlockhq/airlock/daemon/config"
	"github.com/airlockhq/airlock/daemon/core"
	"github.com/airlockhq/airlock/daemon/keychain"
	"github.com/airlockhq/airlock/daemon/signin"
	"github.com/airlockhq/airlock/daemon/tokens"
)

// SignInOptions configure sign-in (clusters without a service token). The
// zero value keeps refresh tokens in the OS keychain, falling back to a
// file under $XDG_STATE_HOME/airlock, and opens the browser the
// configuration names (else $BROWSER, else the platform's opener).
type SignInOptions struct {
	// StateDir holds the fallback token file and the remembered choice;
	// empty means $XDG_STATE_HOME/airlock.
	StateDir string
	// Keychain replaces the OS keychain the store tries first (tests).
	Keychain keychain.Store
	// Browser opens sign-in URLs; nil means DefaultBrowser. NoBrowser says
	// none can be opened (the device flow is used).
	Browser   signin.Browser
	NoBrowser bool
	// Notifier tells the user about sign-ins the browser is not opened
	// for; nil means the log.
	Notifier signin.Notifier
	// HTTPClient replaces the client for an edge's sign-in endpoints.
	HTTPClient func(config.Edge) *http.Client
	// RefreshAt and Wait override signin's defaults (tests).
	RefreshAt float64
	Wait      time.Duration
	// Getenv reads the environment; nil means os.Getenv.
	Getenv func(string) string
}

// signInPart is the daemon's sign-in: one signin.Manager per edge that
// has sign-in clusters, and the token store they share. A reloaded
// configuration adds, replaces and removes managers edge by edge (update);
// the clusters' token sources look the edge's manager up on every call,
// so a replaced manager never needs a listener restarted.
type signInPart struct {
	log    *slog.Logger
	opts   SignInOptions
	getenv func(string) string

	mu       sync.Mutex
	core     *core.Core     // set once the core exists
	store    *keychain.Auto // opened with the first sign-in edge
	probed   bool
	edges    map[string]*edgeSignIn
	order    []string
	clusters map[string]config.Cluster // by name, for ClusterCredential
	runCtx   context.Context           // set while run runs
	wg       sync.WaitGroup
	saidNoUI bool
	// onSignedIn, when set, is told each time an edge's sign-in
	// completes (the catalogue re-check); it must not block.
	onSignedIn func()
}

// edgeSignIn is one edge's manager and what it was made from.
type edgeSignIn struct {
	key    string
	m      *signin.Manager
	cancel context.CancelFunc // nil until started
	done   chan struct{}
}

// newSignIn prepares sign-in for the configuration's sign-in edges (there
// may be none yet: a reload can add some) and points co's token sources
// and status at it.
func newSignIn(cfg *config.Config, opts SignInOptions, log *slog.Logger, co *core.Options) (*signInPart, error) {
	getenv := opts.Getenv
	if getenv == nil {
		getenv = os.Getenv
	}
	p := &signInPart{log: log, opts: opts, getenv: getenv, edges: map[string]*edgeSignIn{}}
	if _, err := p.update(cfg); err != nil {
		return nil, err
	}
	prevTokens := co.Tokens
	co.Tokens = func(c config.Cluster) tokens.Source {
		if c.UsesSignIn() {
			return signInSource{p: p, edge: c.Edge, app: c.App}
		}
		if prevTokens != nil {
			return prevTokens(c)
		}
		return core.ConfigTokens(c)
	}
	co.StatusExtra = p.status
	return p, nil
}

// watched says whether something follows the daemon's events (the tray,
// a waiting `airlock login`) that can show the person a sign-in.
func (p *signInPart) watched() bool {
	p.mu.Lock()
	c := p.core
	p.mu.Unlock()
	return c != nil && c.Watchers() > 0
}

func (p *signInPart) setCore(c *core.Core) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.core = c
}

// signInKey is what an edge's manager is made from: when it changes, the
// manager is replaced.
func signInKey(cfg *config.Config, name string) string {
	e := cfg.Edge(name)
	return strings.Join([]string{
		e.Address, e.CA, e.ServerName, e.AuthURL,
		strings.Join(cfg.SignInApps(name), ","),
		cfg.SignIn.Wait.String(), cfg.SignIn.BrowserInterval.String(), cfg.Browser,
	}, "\x00")
}

// update makes the managers match cfg: a new one for each sign-in edge
// that is new or whose settings changed (started at once while run runs),
// and stops those of edges that no longer sign in or were replaced. It
// changes nothing when a manager cannot be made, and reports whether
// anything changed.
func (p *signInPart) update(cfg *config.Config) (bool, error) {
	names := cfg.SignInEdges()
	p.mu.Lock()
	store := p.store
	p.mu.Unlock()
	if store == nil && len(names) > 0 {
		s, err := p.openStore()
		if err != nil {
			return false, err
		}
		store = s
	}
	made := map[string]*edgeSignIn{}
	for _, name := range names {
		key := signInKey(cfg, name)
		p.mu.Lock()
		cur := p.edges[name]
		p.mu.Unlock()
		if cur != nil && cur.key == key {
			continue
		}
		m, err := p.newManager(cfg, name, store)
		if err != nil {
			return false, fmt.Errorf("sign-in: %w", err)
		}
		made[name] = &edgeSignIn{key: key, m: m}
	}

	p.mu.Lock()
	if p.store == nil {
		p.store = store
	}
	var stale []*edgeSignIn
	keep := map[string]bool{}
	for _, name := range names {
		keep[name] = true
		if e, ok := made[name]; ok {
			if old := p.edges[name]; old != nil {
				stale = append(stale, old)
			}
			p.edges[name] = e
			if p.runCtx != nil {
				p.startLocked(e)
			}
		}
	}
	for name, e := range p.edges {
		if !keep[name] {
			stale = append(stale, e)
			delete(p.edges, name)
		}
	}
	changed := len(made) > 0 || len(stale) > 0 || !slices.Equal(p.order, names)
	p.order = names
	p.clusters = clustersByName(cfg)
	if p.runCtx != nil {
		p.probeLocked(p.runCtx)
	}
	p.mu.Unlock()
	for _, e := range stale {
		p.stop(e)
	}
	for name := range made {
		p.log.Info("sign-in ready", "edge", name)
	}
	return changed, nil
}

// probeLocked asks the token store once, in the background, so status
// shows which store answers, and runs its loop that asks a locked or slow
// keychain again.
func (p *signInPart) probeLocked(ctx context.Context) {
	if p.store == nil || p.probed {
		return
	}
	p.probed = true
	store := p.store
	p.wg.Go(func() { store.Probe(ctx) }) // bounded by the keychain timeout
	p.wg.Go(func() { store.Run(ctx) })
}

func (p *signInPart) openStore() (*keychain.Auto, error) {
	dir := p.opts.StateDir
	if dir == "" {
		d, err := keychain.DefaultDir(p.getenv)
		if err != nil {
			return nil, err
		}
		dir = d
	}
	return keychain.OpenAuto(keychain.AutoOptions{Dir: dir, Keychain: p.opts.Keychain, Logger: p.log, OnChange: p.storeChanged})
}

// newManager makes the sign-in of cfg's edge name.
func (p *signInPart) newManager(cfg *config.Config, name string, store *keychain.Auto) (*signin.Manager, error) {
	browser := p.opts.Browser
	if browser == nil && !p.opts.NoBrowser {
		browser = signin.DefaultBrowser(cfg.Browser, p.getenv, runtime.GOOS)
	}
	m, err := signin.New(signin.Options{
		Edge: *cfg.Edge(name), Apps: cfg.SignInApps(name), SignIn: cfg.SignIn,
		Store: store, Browser: browser, Notifier: p.opts.Notifier, Watched: p.watched,
		Logger: p.log, HTTPClient: p.opts.HTTPClient, RefreshAt: p.opts.RefreshAt, Wait: p.opts.Wait,
		OnChange: p.publish,
	})
	if err != nil {
		return nil, err
	}
	p.mu.Lock()
	say := browser == nil && !p.saidNoUI
	p.saidNoUI = p.saidNoUI || say
	p.mu.Unlock()
	if say {
		p.log.Info("no browser can be opened here: sign-in uses the device flow (a URL and a code to enter on any device)")
	}
	return m, nil
}

// publish sends an edge's sign-in change to the event stream.
func (p *signInPart) publish(s apitype.SignIn) {
	p.mu.Lock()
	c := p.core
	p.mu.Unlock()
	if c != nil {
		c.Publish(apitype.Event{Type: apitype.EventSignIn, Time: time.Now(), SignIn: &s})
	}
	if s.State == apitype.SignInSignedIn && p.onSignedIn != nil {
		p.onSignedIn()
	}
}

// storeChanged sends the full status when the token store changes (the
// keychain locked, absent, answering again), so the tray and `airlock
// status --watch` show it. The store calls it with no lock held.
func (p *signInPart) storeChanged(keychain.Info) {
	p.mu.Lock()
	c := p.core
	p.mu.Unlock()
	if c != nil {
		c.PublishStatus()
	}
}

// startLocked runs e's manager under run's context.
func (p *signInPart) startLocked(e *edgeSignIn) {
	ctx, cancel := context.WithCancel(p.runCtx)
	e.cancel, e.done = cancel, make(chan struct{})
	p.wg.Go(func() {
		defer close(e.done)
		e.m.Run(ctx)
	})
}

// stop ends e's manager and its sign-ins in progress, and waits for it.
// A manager that never ran is run on an ended context, which ends them.
func (p *signInPart) stop(e *edgeSignIn) {
	if e.cancel == nil {
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		e.m.Run(ctx)
		return
	}
	e.cancel()
	<-e.done
}

// manager returns edge's manager, or nil.
func (p *signInPart) manager(edge string) *signin.Manager {
	p.mu.Lock()
	defer p.mu.Unlock()
	if e := p.edges[edge]; e != nil {
		return e.m
	}
	return nil
}

// status adds the token store and each edge's sign-in to st. It runs
// under the core's lock.
func (p *signInPart) status(st *apitype.Status) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.store == nil || len(p.edges) == 0 {
		return
	}
	info := p.store.Info()
	st.TokenStore = &apitype.TokenStore{
		Kind: string(info.Kind), Path: info.Path, Cause: string(info.Cause), Reason: info.Reason, Fix: info.Fix,
		Since: info.Since, Remembered: info.Remembered, ChoicePath: info.ChoicePath, Probed: info.Probed,
		Pending: info.Pending, Attempts: info.Attempts,
	}
	for i := range st.Edges {
		if e := p.edges[st.Edges[i].Name]; e != nil {
			s := e.m.SignIn()
			st.Edges[i].SignIn = &s
		}
	}
}

// run asks the token store once (so status shows which store answers)
// and runs the managers until ctx ends.
func (p *signInPart) run(ctx context.Context) error {
	p.mu.Lock()
	p.runCtx = ctx
	for _, name := range p.order {
		if e := p.edges[name]; e.cancel == nil {
			p.startLocked(e)
		}
	}
	p.probeLocked(ctx)
	p.mu.Unlock()
	<-ctx.Done()
	p.mu.Lock()
	p.runCtx = nil // managers made from now on never start
	p.mu.Unlock()
	p.wg.Wait()
	return nil
}

// pick returns the managers of edge (every sign-in edge when empty), in
// configuration order: the one place a request fans out over edges.
func (p *signInPart) pick(edge string) ([]*signin.Manager, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.order) == 0 {
		return nil, signin.ErrNoSignIn
	}
	if edge == "" {
		ms := make([]*signin.Manager, len(p.order))
		for i, n := range p.order {
			ms[i] = p.edges[n].m
		}
		return ms, nil
	}
	e, ok := p.edges[edge]
	if !ok {
		return nil, fmt.Errorf("%w: %q (sign-in edges: %v)", signin.ErrUnknownEdge, edge, p.order)
	}
	return []*signin.Manager{e.m}, nil
}

// Login implements controlapi.SignIn over the edges' managers.
func (p *signInPart) Login(ctx context.Context, req apitype.LoginRequest) ([]apitype.SignIn, error) {
	ms, err := p.pick(req.Edge)
	if err != nil {
		return nil, err
	}
	var out []apitype.SignIn
	for _, m := range ms {
		s, err := m.Login(ctx, req.Device)
		if err != nil {
			return nil, err
		}
		out = append(out, s)
	}
	return out, nil
}

// Logout implements controlapi.SignIn over the edges' managers.
func (p *signInPart) Logout(ctx context.Context, req apitype.LogoutRequest) ([]apitype.SignIn, error) {
	ms, err := p.pick(req.Edge)
	if err != nil {
		return nil, err
	}
	var out []apitype.SignIn
	var errs []error
	for _, m := range ms {
		s, err := m.Logout(ctx)
		out = append(out, s)
		if err != nil {
			errs = append(errs, err)
		}
	}
	return out, errors.Join(errs...)
}

// signInSource is a sign-in cluster's token source: the current manager
// of its edge, looked up on every call, and the token it narrows to the
// cluster's app alone (signin.Manager.AppToken): a stream never carries
// the sign-in's token for every app of the edge.
type signInSource struct {
	p         *signInPart
	edge, app string
}

// Token implements tokens.Source.
func (s signInSource) Token(ctx context.Context) (string, error) {
	m := s.p.manager(s.edge)
	if m == nil {
		return "", fmt.Errorf("%w: edge %s has no sign-in (the configuration changed)", tokens.ErrUnavailable, s.edge)
	}
	return m.AppToken(ctx, s.app)
}

// Invalidate implements tokens.Invalidator.
func (s signInSource) Invalidate(tok string) {
	if m := s.p.manager(s.edge); m != nil {
		m.Invalidate(tok)
	}
}

func (s signInSource) String() string { return "sign-in at edge " + s.edge }
