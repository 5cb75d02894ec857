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

// Options configure a Manager. Config and Store are required.
type Options struct {
	// Config is the validated configuration: every edge with a sign-in
	// cluster gets a Source; its SignIn fields give the wait and the
	// browser interval.
	Config *config.Config
	// Store keeps refresh tokens (keychain.Auto in production). When it
	// also has DeleteEverywhere(ctx, key), logout uses that.
	Store keychain.Store
	// Browser opens sign-in URLs; nil means none can be opened (headless):
	// lazy sign-ins then use the device flow and the notifier.
	Browser Browser
	// Notifier tells the user about a sign-in the browser was not opened
	// for; nil means only the log.
	Notifier Notifier
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

// Manager runs sign-in for every edge that needs it.
type Manager struct {
	opts     Options
	log      *slog.Logger
	store    keychain.Store
	browser  Browser
	notifier Notifier
	wait     time.Duration
	interval time.Duration
	edges    []*edgeState
	byName   map[string]*edgeState

	base     context.Context // flights run under it; ends when Run ends
	stop     context.CancelFunc
	flightMu sync.Mutex // guards closed and flights.Go against Run's end
	closed   bool
	flights  sync.WaitGroup
	changed  chan struct{} // capacity 1: some edge changed
}

// New returns a Manager for the sign-in edges of opts.Config. Nothing runs
// until a token is asked for or Run starts the background renewals.
func New(opts Options) (*Manager, error) {
	if opts.Config == nil {
		return nil, errors.New("signin: no configuration")
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
		wait:     opts.Config.SignIn.Wait,
		interval: opts.Config.SignIn.BrowserInterval,
		byName:   map[string]*edgeState{},
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
	now := time.Now()
	for _, name := range opts.Config.SignInEdges() {
		ec := opts.Config.Edge(name)
		if ec.AuthURL == "" {
			return nil, fmt.Errorf("signin: edge %s has no auth_url (validate the configuration first)", name)
		}
		e := &edgeState{
			m: m, name: name, authURL: ec.AuthURL,
			audience: opts.Config.SignInApps(name),
			hc:       opts.HTTPClient(*ec),
			key:      storeKey(name),
			log:      log.With("edge", name),
			wake:     make(chan struct{}, 1),
			since:    now,
		}
		m.edges = append(m.edges, e)
		m.byName[name] = e
	}
	return m, nil
}

// Source returns the token source of edge's sign-in clusters, or nil when
// no cluster of that edge signs in.
func (m *Manager) Source(edge string) tokens.Source {
	if e, ok := m.byName[edge]; ok {
		return e
	}
	return nil
}

// Edges returns the names of the sign-in edges.
func (m *Manager) Edges() []string {
	out := make([]string, len(m.edges))
	for i, e := range m.edges {
		out[i] = e.name
	}
	return out
}

// Run renews access tokens in the background and publishes changes until
// ctx ends; then it ends every sign-in in progress and returns.
func (m *Manager) Run(ctx context.Context) error {
	var wg sync.WaitGroup
	for _, e := range m.edges {
		wg.Go(func() { e.renewLoop(ctx) })
	}
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

// Status returns every sign-in edge's state, in configuration order.
func (m *Manager) Status() []apitype.SignIn {
	out := make([]apitype.SignIn, len(m.edges))
	for i, e := range m.edges {
		out[i] = e.snapshot()
	}
	return out
}

// SignIn returns one edge's state.
func (m *Manager) SignIn(edge string) (apitype.SignIn, bool) {
	e, ok := m.byName[edge]
	if !ok {
		return apitype.SignIn{}, false
	}
	return e.snapshot(), true
}

func (m *Manager) pick(edge string) ([]*edgeState, error) {
	if len(m.edges) == 0 {
		return nil, ErrNoSignIn
	}
	if edge == "" {
		return m.edges, nil
	}
	e, ok := m.byName[edge]
	if !ok {
		return nil, fmt.Errorf("%w: %q (sign-in edges: %v)", ErrUnknownEdge, edge, m.Edges())
	}
	return []*edgeState{e}, nil
}

// Login starts a sign-in now at edge (every sign-in edge when empty): the
// browser opens whatever the rate limit says (the user asked), or the
// device flow starts when req.Device is set or no browser can be opened.
// It returns once each sign-in waits for the user (URL and code known) or
// has ended; the caller follows events to see them complete.
func (m *Manager) Login(ctx context.Context, req apitype.LoginRequest) ([]apitype.SignIn, error) {
	edges, err := m.pick(req.Edge)
	if err != nil {
		return nil, err
	}
	var out []apitype.SignIn
	for _, e := range edges {
		f := e.login(req.Device)
		select {
		case <-f.ready:
		case <-f.done:
		case <-ctx.Done():
			return nil, context.Cause(ctx)
		}
		out = append(out, e.snapshot())
	}
	return out, nil
}

// Logout signs out at edge (every sign-in edge when empty): it ends a
// sign-in in progress, revokes the refresh token at the edge if it
// answers within a few seconds, deletes it from every store, and drops the
// access token from memory (open streams stay open; new ones need a new
// sign-in).
func (m *Manager) Logout(ctx context.Context, req apitype.LogoutRequest) ([]apitype.SignIn, error) {
	edges, err := m.pick(req.Edge)
	if err != nil {
		return nil, err
	}
	var out []apitype.SignIn
	var errs []error
	for _, e := range edges {
		if err := e.logout(ctx); err != nil {
			errs = append(errs, err)
		}
		out = append(out, e.snapshot())
	}
	return out, errors.Join(errs...)
}

// changedNow wakes the publisher.
func (m *Manager) changedNow() {
	select {
	case m.changed <- struct{}{}:
	default:
	}
}

// publishLoop calls OnChange for every edge whose state differs from what
// was published last. One goroutine: events keep their order.
func (m *Manager) publishLoop(ctx context.Context) {
	last := map[string]apitype.SignIn{}
	for {
		select {
		case <-ctx.Done():
			return
		case <-m.changed:
		}
		for _, e := range m.edges {
			s := e.snapshot()
			if prev, ok := last[e.name]; ok && reflect.DeepEqual(prev, s) {
				continue
			}
			last[e.name] = s
			if m.opts.OnChange != nil {
				m.opts.OnChange(s)
			}
		}
	}
}
