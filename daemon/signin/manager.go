package signin

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"reflect"
	"sync"
	"time"

	"github.com/airlockhq/airlock/daemon/apitype"
	"github.com/airlockhq/airlock/daemon/config"
	"github.com/airlockhq/airlock/daemon/keychain"
	"github.com/airlockhq/airlock/daemon/tokens"
)

// Defaults of Options.
const (
	DefaultFlowTimeout = 10 * time.Minute
	DefaultRefreshAt   = 0.8
)

// Options configure a Manager. Edge and Store are required.
type Options struct {
	// Edge is the edge to sign in at; its AuthURL is required.
	Edge config.Edge
	// Apps are the app hostnames of the edge's sign-in clusters: the
	// audience of the access token.
	Apps []string
	// SignIn gives the wait and the browser interval.
	SignIn config.SignIn
	// Store keeps refresh tokens (keychain.Auto in production). When it
	// also has DeleteEverywhere(ctx, key), logout uses that.
	Store keychain.Store
	// Browser opens sign-in URLs; nil means none can be opened (headless):
	// lazy sign-ins then use the device flow and the notifier.
	Browser Browser
	// Notifier tells the user about a sign-in the browser was not opened
	// for; nil means only the log.
	Notifier Notifier
	// Watched, when set, says whether something that shows the person a
	// sign-in follows the daemon's events (the tray, a waiting `airlock
	// login`). A sign-in that needs the person is not started when
	// neither the browser, the Notifier nor a watcher can reach them:
	// the connection that asked is answered at once.
	Watched func() bool
	// Logger receives the sign-in log; nil discards it.
	Logger *slog.Logger
	// HTTPClient returns the client for an edge's sign-in endpoints; nil
	// means HTTPClient.
	HTTPClient func(e config.Edge) *http.Client
	// Wait overrides Config.SignIn.Wait when set (tests).
	Wait time.Duration
	// FlowTimeout bounds one interactive sign-in (the loopback listener or
	// device code stays valid this long); zero means DefaultFlowTimeout.
	FlowTimeout time.Duration
	// RefreshAt is the share of an access token's lifetime after which it
	// is renewed in the background; zero means DefaultRefreshAt.
	RefreshAt float64
	// OnChange is called with an edge's sign-in whenever it changes, from
	// one goroutine while Run runs; it must not block long.
	OnChange func(apitype.SignIn)
}

// Manager runs sign-in at one edge. The daemon keeps one per sign-in edge,
// so that a reload replaces one edge's sign-in without touching the
// others', and it alone fans a request out over edges.
type Manager struct {
	opts     Options
	log      *slog.Logger
	store    keychain.Store
	browser  Browser
	notifier Notifier
	wait     time.Duration
	interval time.Duration
	edge     *edgeState

	base     context.Context // flights run under it; ends when Run ends
	stop     context.CancelFunc
	flightMu sync.Mutex // guards closed and flights.Go against Run's end
	closed   bool
	flights  sync.WaitGroup
	changed  chan struct{} // capacity 1: some edge changed
}

// New returns a Manager for opts.Edge. Nothing runs until a token is
// asked for or Run starts the background renewal.
func New(opts Options) (*Manager, error) {
	if opts.Edge.Name == "" {
		return nil, errors.New("signin: no edge")
	}
	if opts.Edge.AuthURL == "" {
		return nil, fmt.Errorf("signin: edge %s has no auth_url (validate the configuration first)", opts.Edge.Name)
	}
	if opts.Store == nil {
		return nil, errors.New("signin: no token store")
	}
	if opts.FlowTimeout <= 0 {
		opts.FlowTimeout = DefaultFlowTimeout
	}
	if opts.RefreshAt <= 0 || opts.RefreshAt >= 1 {
		opts.RefreshAt = DefaultRefreshAt
	}
	if opts.HTTPClient == nil {
		opts.HTTPClient = HTTPClient
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	m := &Manager{
		opts:     opts,
		log:      log,
		store:    opts.Store,
		browser:  opts.Browser,
		notifier: opts.Notifier,
		wait:     opts.SignIn.Wait,
		interval: opts.SignIn.BrowserInterval,
		changed:  make(chan struct{}, 1),
	}
	if opts.Wait > 0 {
		m.wait = opts.Wait
	}
	if m.wait <= 0 {
		m.wait = config.DefaultSignInWait
	}
	if m.notifier == nil {
		m.notifier = LogNotifier{Log: log}
	}
	m.base, m.stop = context.WithCancel(context.Background())
	name := opts.Edge.Name
	m.edge = &edgeState{
		m: m, name: name, authURL: opts.Edge.AuthURL,
		audience: opts.Apps,
		hc:       opts.HTTPClient(opts.Edge),
		key:      storeKey(name),
		log:      log.With("edge", name),
		wake:     make(chan struct{}, 1),
		since:    time.Now(),
	}
	return m, nil
}

// Edge returns the name of the edge this Manager signs in at.
func (m *Manager) Edge() string { return m.edge.name }

// Source returns the token source of the edge's sign-in clusters.
func (m *Manager) Source() tokens.Source { return m.edge }

// AppToken returns the access token a stream to app carries: the
// sign-in's token narrowed to app alone at the edge (see
// edgeState.AppToken), waiting for a sign-in when there is none.
func (m *Manager) AppToken(ctx context.Context, app string) (string, error) {
	return m.edge.AppToken(ctx, app)
}

// Invalidate drops tok, an app token or the sign-in's token, when the edge
// refused it as unauthenticated: the next stream renews it.
func (m *Manager) Invalidate(tok string) { m.edge.Invalidate(tok) }

// Run renews access tokens in the background and publishes changes until
// ctx ends; then it ends every sign-in in progress and returns.
func (m *Manager) Run(ctx context.Context) error {
	var wg sync.WaitGroup
	wg.Go(func() { m.edge.renewLoop(ctx) })
	wg.Go(func() { m.publishLoop(ctx) })
	<-ctx.Done()
	m.flightMu.Lock()
	m.closed = true
	m.flightMu.Unlock()
	m.stop()
	wg.Wait()
	m.flights.Wait()
	return nil
}

// SignIn returns the edge's sign-in state.
func (m *Manager) SignIn() apitype.SignIn { return m.edge.snapshot() }

// Login starts a sign-in now: the browser opens whatever the rate limit
// says (the user asked), or the device flow starts when device is set or
// no browser can be opened. It returns once the sign-in waits for the user
// (URL and code known) or has ended; the caller follows events to see it
// complete.
func (m *Manager) Login(ctx context.Context, device bool) (apitype.SignIn, error) {
	f := m.edge.login(device)
	select {
	case <-f.ready:
	case <-f.done:
	case <-ctx.Done():
		return apitype.SignIn{}, context.Cause(ctx)
	}
	return m.edge.snapshot(), nil
}

// Logout signs out: it ends a sign-in in progress, revokes the refresh
// token at the edge if it answers within a few seconds, deletes it from
// every store, and drops the access token from memory (open streams stay
// open; new ones need a new sign-in).
func (m *Manager) Logout(ctx context.Context) (apitype.SignIn, error) {
	err := m.edge.logout(ctx)
	return m.edge.snapshot(), err
}

// changedNow wakes the publisher.
func (m *Manager) changedNow() {
	select {
	case m.changed <- struct{}{}:
	default:
	}
}

// publishLoop calls OnChange whenever the edge's state differs from what
// was published last. One goroutine: events keep their order.
func (m *Manager) publishLoop(ctx context.Context) {
	var last *apitype.SignIn
	for {
		select {
		case <-ctx.Done():
			return
		case <-m.changed:
		}
		s := m.edge.snapshot()
		if last != nil && reflect.DeepEqual(*last, s) {
			continue
		}
		last = &s
		if m.opts.OnChange != nil {
			m.opts.OnChange(s)
		}
	}
}
