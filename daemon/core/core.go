// Package core is the daemon's engine: one SOCKS5 listener per configured
// cluster, one shared edge link per edge, and each cluster's state machine
//
//	disconnected → connecting → connected ⇄ error(cause)
//
// with an event stream of state changes that never blocks the core. The
// control API (daemon/controlapi) drives it through Connect, Disconnect,
// Status and Subscribe.
//
// The set of clusters and edges can change while the core runs (Reload, a
// changed configuration file): Run's goroutine owns every change, and
// makes it under the core's lock, so the other methods see either the old
// set or the new one.
package core

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"slices"
	"sync"
	"time"

	"github.com/airlockhq/airlock/daemon/apitype"
	"github.com/airlockhq/airlock/daemon/config"
	"github.com/airlockhq/airlock/daemon/socks"
	"github.com/airlockhq/airlock/daemon/tokens"
	"github.com/airlockhq/airlock/internal/wire"
	"golang.org/x/sync/errgroup"
)

// Edge is the core's link to one edge, shared by every cluster behind it.
// The production Edge is an edgeclient.Client (see [NewEdgeClient]).
type Edge interface {
	// Open opens a stream; errors are those of edgeclient.Client.Open.
	Open(ctx context.Context, open *wire.Open) (net.Conn, error)
	// State reports whether a live connection exists, since when, and the
	// last dial or connection error.
	State() (connected bool, since time.Time, lastErr error)
	// Close closes the shared connection.
	Close() error
}

// Warmer is an Edge that can dial ahead of the first stream, so that
// Connect can report an unreachable edge at once. Optional.
type Warmer interface {
	Connect(ctx context.Context) error
}

// Carrier is an Edge that reaches a fleet of edges at several addresses
// and can say which carries what now (edgeclient.Fleet). Optional: Status
// shows no address for an Edge without it.
type Carrier interface {
	// Carrier is the address that carried app's last stream while it is up.
	Carrier(app string) string
	// Current is the address whose connection carries streams now.
	Current() string
}

// TransportTeller is an Edge that can say which transport its current
// connection uses and why (edgeclient.Fleet). Optional.
type TransportTeller interface {
	Transport() (name, reason string)
}

// Options configures a Core. Config is required.
type Options struct {
	// Config is the configuration; New validates it.
	Config *config.Config
	// Logger receives the core's logs. Nil discards them.
	Logger *slog.Logger
	// Version is reported in Status and sent to edges.
	Version string
	// NewEdge returns the link to an edge. Nil means [NewEdgeClient].
	NewEdge func(e config.Edge, log *slog.Logger) Edge
	// Tokens returns a cluster's token source. Nil means the cluster's
	// token or token_file.
	Tokens func(c config.Cluster) tokens.Source
	// Listen binds a cluster's TCP listener. Nil means net.Listen.
	Listen func(ctx context.Context, addr string) (net.Listener, error)
	// Rand is the source of SOCKS credentials. Nil means crypto/rand.
	Rand io.Reader
	// Kubeconfig, when set, is told when mapped clusters' listeners come
	// up and go down (see [KubeconfigSync]). Nil leaves kubeconfig alone.
	Kubeconfig KubeconfigSync
	// KubeconfigFiles are the kubeconfig files followed, for Status.
	KubeconfigFiles []string
	// StatusExtra, when set, adds to every Status what parts outside the
	// core know (sign-in per edge, the token store). It runs with the
	// core's lock held: it must not call the core.
	StatusExtra func(*apitype.Status)
}

// Errors callers match with errors.Is.
var (
	ErrUnknownCluster = errors.New("no such cluster")
	ErrNotRunning     = errors.New("the daemon is shutting down")
)

// Core owns the clusters' listeners and the edge links.
type Core struct {
	log       *slog.Logger
	version   string
	listen    func(ctx context.Context, addr string) (net.Listener, error)
	newEdge   func(e config.Edge, log *slog.Logger) Edge
	tokensFor func(c config.Cluster) tokens.Source
	rand      io.Reader
	kube      KubeconfigSync
	kubeFile  []string
	extra     func(*apitype.Status)
	reqs      chan request
	started   chan struct{}
	stopped   chan struct{}

	// The configuration and what it makes. Run's goroutine alone changes
	// them, under mu; it reads them without mu, everyone else with it.
	cfg       *config.Config
	edges     map[string]Edge
	clusters  []*cluster
	byName    map[string]*cluster
	configErr *apitype.ConfigError

	mu   sync.Mutex // guards the fields above, cluster state and subs
	subs map[*Subscription]struct{}
	once sync.Once
}

type cluster struct {
	cfg      config.Cluster
	user     string
	pass     string
	edge     Edge
	edgeName string
	tokens   tokens.Source

	// guarded by Core.mu
	state   apitype.State
	problem *apitype.Problem
	since   time.Time
	addr    string             // bound address while listening
	stop    context.CancelFunc // non-nil while listening
	done    chan struct{}      // closed when the listener's Serve returned
	kube    apitype.Kubeconfig // what the kubeconfig sync last reported
}

type request struct {
	name    string
	connect bool
	reload  *config.Config // a Reload: name and connect are unused
	reply   chan result
}

type result struct {
	c       apitype.Cluster
	changes Changes
	err     error
}

// New returns a Core for opts. It validates the configuration and makes
// each cluster's random SOCKS credentials; nothing listens until Run.
func New(opts Options) (*Core, error) {
	if opts.Config == nil {
		return nil, errors.New("core: no configuration")
	}
	if err := opts.Config.Validate(); err != nil {
		return nil, err
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	newEdge := opts.NewEdge
	if newEdge == nil {
		newEdge = func(e config.Edge, log *slog.Logger) Edge { return NewEdgeClient(e, opts.Version, log) }
	}
	tokensFor := opts.Tokens
	if tokensFor == nil {
		tokensFor = ConfigTokens
	}
	listen := opts.Listen
	if listen == nil {
		listen = func(ctx context.Context, addr string) (net.Listener, error) {
			var lc net.ListenConfig
			return lc.Listen(ctx, "tcp", addr)
		}
	}
	c := &Core{
		log:       log,
		cfg:       opts.Config,
		version:   opts.Version,
		listen:    listen,
		newEdge:   newEdge,
		tokensFor: tokensFor,
		rand:      opts.Rand,
		kube:      opts.Kubeconfig,
		kubeFile:  slices.Clone(opts.KubeconfigFiles),
		extra:     opts.StatusExtra,
		edges:     map[string]Edge{},
		byName:    map[string]*cluster{},
		reqs:      make(chan request),
		started:   make(chan struct{}),
		stopped:   make(chan struct{}),
		subs:      map[*Subscription]struct{}{},
	}
	for _, e := range opts.Config.Edges {
		c.edges[e.Name] = newEdge(e, log.With("edge", e.Name))
	}
	for _, cc := range opts.Config.Clusters {
		cl, err := c.newCluster(cc, "", "")
		if err != nil {
			return nil, err
		}
		c.clusters = append(c.clusters, cl)
		c.byName[cc.Name] = cl
	}
	return c, nil
}

// newCluster makes a disconnected cluster for cc on its edge in c.edges,
// with the SOCKS credentials user and pass, or new ones when empty.
func (c *Core) newCluster(cc config.Cluster, user, pass string) (*cluster, error) {
	if user == "" {
		var err error
		if user, pass, err = socks.NewCredentials(c.rand); err != nil {
			return nil, err
		}
	}
	return &cluster{
		cfg: cc, user: user, pass: pass,
		edge: c.edges[cc.Edge], edgeName: cc.Edge, tokens: c.tokensFor(cc),
		state: apitype.StateDisconnected, since: time.Now(),
	}, nil
}

// ConfigTokens returns the token source a cluster's configuration names.
func ConfigTokens(c config.Cluster) tokens.Source {
	if c.TokenFile != "" {
		return tokens.NewFile(c.TokenFile)
	}
	return tokens.Static(c.Token)
}

// Run connects the autoconnect clusters and serves Connect and Disconnect
// until ctx ends; then it closes every listener and edge link and returns.
// Run may be called once.
func (c *Core) Run(ctx context.Context) error {
	first := false
	c.once.Do(func() { first = true })
	if !first {
		return errors.New("core: Run called twice")
	}
	close(c.started)
	g, gctx := errgroup.WithContext(ctx)
	for _, cl := range c.clusters {
		if cl.cfg.AutoconnectEnabled() {
			if _, err := c.connect(gctx, g, cl); err != nil {
				c.log.Warn("autoconnect failed", "cluster", cl.cfg.Name, "err", err)
			}
		}
	}
loop:
	for {
		select {
		case <-gctx.Done():
			break loop
		case r := <-c.reqs:
			cl := c.byName[r.name]
			var res result
			switch {
			case r.reload != nil:
				res.changes, res.err = c.apply(gctx, g, r.reload)
			case cl == nil: // removed by a reload meanwhile
				res.err = fmt.Errorf("%w %q", ErrUnknownCluster, r.name)
			case r.connect:
				res.c, res.err = c.connect(gctx, g, cl)
			case c.listening(cl):
				res.c = c.kubeDown(gctx, cl, c.disconnect(cl))
			default:
				res.c = c.disconnect(cl)
			}
			r.reply <- res
		}
	}
	close(c.stopped)
	for _, cl := range c.clusters {
		c.disconnect(cl)
	}
	err := g.Wait()
	for _, e := range c.edges {
		e.Close()
	}
	c.mu.Lock()
	for s := range c.subs {
		s.closeLocked()
	}
	c.mu.Unlock()
	if err != nil && ctx.Err() == nil {
		return err
	}
	return nil
}

// Connect brings cluster name's listener up (a no-op when it is up) and
// returns the cluster's state. A listener that cannot be bound leaves the
// cluster in StateError and returns an error saying why.
func (c *Core) Connect(ctx context.Context, name string) (apitype.Cluster, error) {
	return c.do(ctx, request{name: name, connect: true})
}

// Disconnect closes cluster name's listener and every connection through
// it, and returns the cluster's state.
func (c *Core) Disconnect(ctx context.Context, name string) (apitype.Cluster, error) {
	return c.do(ctx, request{name: name})
}

func (c *Core) do(ctx context.Context, r request) (apitype.Cluster, error) {
	c.mu.Lock()
	_, ok := c.byName[r.name]
	c.mu.Unlock()
	if !ok {
		return apitype.Cluster{}, fmt.Errorf("%w %q", ErrUnknownCluster, r.name)
	}
	res, err := c.send(ctx, r)
	if err != nil {
		return apitype.Cluster{}, err
	}
	return res.c, res.err
}

// send hands r to Run's goroutine and waits for the answer.
func (c *Core) send(ctx context.Context, r request) (result, error) {
	r.reply = make(chan result, 1)
	select {
	case c.reqs <- r:
	case <-c.stopped:
		return result{}, ErrNotRunning
	case <-ctx.Done():
		return result{}, context.Cause(ctx)
	}
	return <-r.reply, nil
}

// connect runs on Run's goroutine.
func (c *Core) connect(ctx context.Context, g *errgroup.Group, cl *cluster) (apitype.Cluster, error) {
	c.mu.Lock()
	if cl.stop != nil {
		defer c.mu.Unlock()
		return c.snapshotLocked(cl), nil
	}
	c.setLocked(cl, apitype.StateConnecting, nil)
	c.mu.Unlock()

	ln, err := c.bind(ctx, cl)
	if err != nil {
		c.mu.Lock()
		defer c.mu.Unlock()
		c.setLocked(cl, apitype.StateError, &apitype.Problem{Code: "listen_failed", Message: err.Error()})
		return c.snapshotLocked(cl), err
	}
	sctx, stop := context.WithCancel(ctx)
	done := make(chan struct{})
	srv := socks.New(socks.Config{
		App: cl.cfg.App, Username: cl.user, Password: cl.pass,
		Tokens: cl.tokens, Edge: cl.edge,
		Logger:    c.log.With("cluster", cl.cfg.Name),
		OnOutcome: func(err error) { c.outcome(cl, err) },
	})
	c.mu.Lock()
	cl.addr, cl.stop, cl.done = ln.Addr().String(), stop, done
	w, warm := cl.edge.(Warmer)
	if !warm {
		st, p := edgeState(cl.edge)
		c.setLocked(cl, st, p)
	}
	snap := c.snapshotLocked(cl)
	c.mu.Unlock()
	name := cl.cfg.Name // cl.cfg changes under c.mu on a reload
	c.log.Info("cluster listening", "cluster", name, "app", cl.cfg.App, "addr", cl.addr)
	g.Go(func() error {
		defer close(done)
		if err := srv.Serve(sctx, ln); err != nil {
			c.log.Error("listener failed", "cluster", name, "err", err)
			c.mu.Lock()
			if cl.done == done {
				c.setLocked(cl, apitype.StateError, &apitype.Problem{Code: "listen_failed", Message: err.Error()})
			}
			c.mu.Unlock()
		}
		return nil
	})
	if warm {
		g.Go(func() error {
			c.warmed(cl, done, w.Connect(sctx))
			return nil
		})
	}
	return c.kubeUp(ctx, cl, snap), nil
}

// edgeState is a listening cluster's state from its edge's link: connected
// unless the link's last attempt failed.
func edgeState(e Edge) (apitype.State, *apitype.Problem) {
	up, _, lastErr := e.State()
	if up || lastErr == nil {
		return apitype.StateConnected, nil
	}
	f := socks.Classify(lastErr)
	return apitype.StateError, &apitype.Problem{Code: f.Cause, Message: f.Message}
}

// bind listens on the cluster's address, or on its fallback where the
// address does not exist (macOS has only 127.0.0.1), and refuses anything
// that did not end up on loopback.
func (c *Core) bind(ctx context.Context, cl *cluster) (net.Listener, error) {
	addr := cl.cfg.Listen
	if err := config.CheckListen(addr); err != nil {
		return nil, err
	}
	ln, err := c.listen(ctx, addr)
	if err != nil && cl.cfg.ListenFallback != "" && isAddrNotAvail(err) {
		c.log.Info("loopback address not available; using a port on 127.0.0.1", "cluster", cl.cfg.Name, "addr", addr, "fallback", cl.cfg.ListenFallback)
		addr = cl.cfg.ListenFallback
		ln, err = c.listen(ctx, addr)
	}
	if err != nil {
		return nil, fmt.Errorf("listen on %s: %w", addr, err)
	}
	ta, ok := ln.Addr().(*net.TCPAddr)
	if !ok || !ta.IP.IsLoopback() {
		ln.Close()
		return nil, fmt.Errorf("listener on %s is not on loopback; refusing it", ln.Addr())
	}
	return ln, nil
}

// listening reports whether cl's listener is up.
func (c *Core) listening(cl *cluster) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return cl.stop != nil
}

// disconnect runs on Run's goroutine.
func (c *Core) disconnect(cl *cluster) apitype.Cluster {
	c.mu.Lock()
	stop, done := cl.stop, cl.done
	c.mu.Unlock()
	if stop != nil {
		stop()
		<-done
		c.log.Info("cluster disconnected", "cluster", cl.cfg.Name)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	cl.stop, cl.done, cl.addr = nil, nil, ""
	c.setLocked(cl, apitype.StateDisconnected, nil)
	return c.snapshotLocked(cl)
}

// outcome updates a listening cluster's state from a stream's result (nil
// for success). Transient failures leave the state alone.
func (c *Core) outcome(cl *cluster, err error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if cl.stop == nil {
		return
	}
	if err == nil {
		c.setLocked(cl, apitype.StateConnected, nil)
		return
	}
	f := socks.Classify(err)
	switch {
	case f.Code == wire.CodeOverloaded, f.Code == wire.CodeGoingAway, f.Code == wire.CodeInternal:
		return // the edge asks us to try again: not the user's concern
	case f.Cause == socks.CauseTimeout, f.Cause == socks.CauseInternal:
		return // one slow or odd stream says little about the cluster
	}
	c.setLocked(cl, apitype.StateError, &apitype.Problem{Code: f.Cause, Message: f.Message})
}

// warmed sets a cluster's state from the edge's warm-up dial.
func (c *Core) warmed(cl *cluster, done chan struct{}, err error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if cl.done != done || cl.state != apitype.StateConnecting {
		return // disconnected meanwhile, or a stream already told us
	}
	if err == nil {
		c.setLocked(cl, apitype.StateConnected, nil)
		return
	}
	f := socks.Classify(err)
	c.setLocked(cl, apitype.StateError, &apitype.Problem{Code: f.Cause, Message: f.Message})
}

// setLocked changes a cluster's state and publishes the change, if any.
func (c *Core) setLocked(cl *cluster, st apitype.State, p *apitype.Problem) {
	if cl.state == st && sameProblem(cl.problem, p) {
		return
	}
	cl.state, cl.problem, cl.since = st, p, time.Now()
	if st == apitype.StateError && p != nil {
		c.log.Warn("cluster in error", "cluster", cl.cfg.Name, "cause", p.Code, "err", p.Message)
	}
	snap := c.snapshotLocked(cl)
	c.publishLocked(apitype.Event{Type: apitype.EventCluster, Time: cl.since, Cluster: &snap})
}

// cloneProblem copies p, so a snapshot or event shares nothing with the
// core's state.
func cloneProblem(p *apitype.Problem) *apitype.Problem {
	if p == nil {
		return nil
	}
	cp := *p
	return &cp
}

func sameProblem(a, b *apitype.Problem) bool {
	if a == nil || b == nil {
		return a == b
	}
	return *a == *b
}

func (c *Core) snapshotLocked(cl *cluster) apitype.Cluster {
	out := apitype.Cluster{
		Name: cl.cfg.Name, App: cl.cfg.App, Edge: cl.edgeName,
		State: cl.state, Listen: cl.cfg.Listen,
		Autoconnect: cl.cfg.AutoconnectEnabled(), Since: cl.since,
		KubeconfigClusters: append([]string(nil), cl.cfg.Kubeconfig.Clusters...),
		Kubeconfig:         kubeconfigLocked(cl),
		Problem:            cloneProblem(cl.problem),
	}
	if cr, ok := cl.edge.(Carrier); ok && cl.stop != nil {
		out.EdgeAddress = cr.Carrier(cl.cfg.App)
	}
	if cl.addr != "" {
		out.Listen = cl.addr
		out.ProxyURL = ProxyURL(cl.user, cl.pass, cl.addr)
	}
	return out
}

// Status returns every cluster's and edge's state.
func (c *Core) Status() apitype.Status {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.statusLocked()
}

func (c *Core) statusLocked() apitype.Status {
	st := apitype.Status{PID: os.Getpid(), Version: c.version, ConfigPath: c.cfg.Path, KubeconfigFiles: slices.Clone(c.kubeFile)}
	if c.configErr != nil {
		ce := *c.configErr
		ce.Problems = slices.Clone(ce.Problems)
		st.ConfigError = &ce
	}
	for _, cl := range c.clusters {
		st.Clusters = append(st.Clusters, c.snapshotLocked(cl))
	}
	for _, e := range c.cfg.Edges {
		up, since, lastErr := c.edges[e.Name].State()
		es := apitype.Edge{Name: e.Name, Address: e.Address, Connected: up}
		if len(e.Addresses) > 1 {
			es.Addresses = slices.Clone(e.Addresses)
		}
		if cr, ok := c.edges[e.Name].(Carrier); ok && up {
			es.Current = cr.Current()
		}
		if tt, ok := c.edges[e.Name].(TransportTeller); ok && up {
			es.Transport, es.TransportReason = tt.Transport()
		}
		if up {
			es.Since = since
		}
		if lastErr != nil {
			es.Error = lastErr.Error()
		}
		st.Edges = append(st.Edges, es)
	}
	if c.extra != nil {
		c.extra(&st)
	}
	return st
}

// Cluster returns one cluster's state.
func (c *Core) Cluster(name string) (apitype.Cluster, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	cl, ok := c.byName[name]
	if !ok {
		return apitype.Cluster{}, fmt.Errorf("%w %q", ErrUnknownCluster, name)
	}
	return c.snapshotLocked(cl), nil
}
