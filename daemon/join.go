package daemon

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"time"

	"github.com/airlockhq/airlock/daemon/apitype"
	"github.com/airlockhq/airlock/daemon/catalogue"
	"github.com/airlockhq/airlock/daemon/config"
	"github.com/airlockhq/airlock/daemon/kubeconfig"
	"github.com/airlockhq/airlock/daemon/safesocket"
)

// DefaultSyncInterval is how often the daemon re-checks a joined edge's
// catalogue (also after each sign-in).
const DefaultSyncInterval = 10 * time.Minute

// JoinOptions configure joining edges.
type JoinOptions struct {
	// StateDir holds the cached catalogues (its catalogue/ folder); empty
	// means $XDG_STATE_HOME/airlock.
	StateDir string
	// Airlock is the airlock program kubectl runs as the exec credential
	// plugin; empty means this process's executable.
	Airlock string
	// SyncInterval is the periodic re-check; zero means
	// DefaultSyncInterval, negative never.
	SyncInterval time.Duration
}

// ErrNotJoined is returned by Sync and Leave when no edge is joined (or
// not the one named).
var ErrNotJoined = errors.New("no such joined edge")

// joiner is the daemon's side of `airlock join`, `sync` and `leave`: the
// configuration file's catalogue edges, their cached catalogues and the
// kubeconfig entries written for them.
type joiner struct {
	d     *Daemon
	log   *slog.Logger
	store catalogue.Store
	exe   string
	every time.Duration
	kick  chan struct{}

	opMu     sync.Mutex // one join, sync or leave at a time
	toggleMu sync.Mutex // a cached catalogue's Disabled: read, changed and saved under it

	mu      sync.Mutex
	results map[string]apitype.Catalogue // by edge: the last sync's outcome
	cfg     *config.Config               // the running configuration
}

func (j *joiner) setConfig(cfg *config.Config) {
	j.mu.Lock()
	defer j.mu.Unlock()
	j.cfg = cfg
}

// statusNow is the core's StatusExtra: the running configuration's
// catalogues.
func (j *joiner) statusNow(st *apitype.Status) {
	j.mu.Lock()
	cfg := j.cfg
	j.mu.Unlock()
	j.status(st, cfg)
}

func newJoiner(d *Daemon, opts JoinOptions, getenv func(string) string, log *slog.Logger) *joiner {
	dir := opts.StateDir
	if dir == "" {
		dir = stateDir(getenv)
	}
	exe := opts.Airlock
	if exe == "" {
		exe, _ = os.Executable()
	}
	every := opts.SyncInterval
	if every == 0 {
		every = DefaultSyncInterval
	}
	return &joiner{d: d, log: log, store: catalogue.Store{Dir: filepath.Join(dir, "catalogue")}, exe: exe,
		every: every, kick: make(chan struct{}, 1), results: map[string]apitype.Catalogue{}}
}

// stateDir is $XDG_STATE_HOME/airlock, or ~/.local/state/airlock.
func stateDir(getenv func(string) string) string {
	if d := getenv("XDG_STATE_HOME"); filepath.IsAbs(d) {
		return filepath.Join(d, "airlock")
	}
	return filepath.Join(getenv("HOME"), ".local", "state", "airlock")
}

// expand returns cfg with the clusters of its catalogue edges' cached
// catalogues added, validated. cfg itself is not changed.
func (j *joiner) expand(cfg *config.Config) (*config.Config, error) {
	if !cfg.HasCatalogue() {
		return cfg, nil
	}
	out := *cfg
	out.Edges = slices.Clone(cfg.Edges)
	out.Clusters = slices.Clone(cfg.Clusters)
	for i := range out.Edges {
		e := &out.Edges[i]
		if !e.Catalogue {
			continue
		}
		c, err := j.store.Load(e.Name)
		if err != nil {
			j.log.Warn("the cached catalogue does not load; its clusters are left out until the next sync", "edge", e.Name, "err", err)
			continue
		}
		out.Clusters = append(out.Clusters, catalogue.Clusters(e, c, func(a catalogue.App) config.Kubeconfig {
			name := catalogue.ClusterName(e, a.Name)
			if mine := c.Mapped[name]; mine != "" {
				return config.Kubeconfig{Clusters: []string{mine}}
			}
			return config.Kubeconfig{Clusters: []string{name}}
		})...)
	}
	if err := out.Validate(); err != nil {
		return nil, err
	}
	return &out, nil
}

// load reads the configuration file (NotJoined when it is gone) with the
// catalogues' clusters.
func (j *joiner) load() (*config.Config, error) {
	path := j.d.config
	cfg, err := config.Load(path)
	if errors.Is(err, fs.ErrNotExist) || onlyEmpty(err) {
		// No file, or one leave emptied of its only edge.
		cfg = config.NotJoined(path)
		err = cfg.Validate()
	}
	if err != nil {
		return nil, err
	}
	return cfg, nil
}

// onlyEmpty says whether err is only that the file has no edges and no
// clusters.
func onlyEmpty(err error) bool {
	var ce *config.Error
	if !errors.As(err, &ce) || len(ce.Problems) == 0 {
		return false
	}
	for _, p := range ce.Problems {
		if p.Line != 0 || (p.Field != "edges" && p.Field != "clusters") {
			return false
		}
	}
	return true
}

// reapply loads the file and makes it the running configuration.
func (j *joiner) reapply(ctx context.Context) (*config.Config, error) {
	cfg, err := j.load()
	if err != nil {
		return nil, err
	}
	if err := j.d.applyConfig(ctx, cfg); err != nil {
		return nil, err
	}
	return cfg, nil
}

// Join joins the edge req names: its metadata (the CA pinned when asked),
// the configuration file, the person's sign-in, the catalogue and the
// kubeconfig entries. It waits for the sign-in; ctx bounds it.
func (j *joiner) Join(ctx context.Context, req apitype.JoinRequest) (apitype.JoinResult, error) {
	if j.d.config == "" {
		return apitype.JoinResult{}, errors.New("the daemon runs without a configuration file: it cannot join")
	}
	inv, err := catalogue.ParseInvite(req.Invite, req.CA)
	if err != nil {
		return apitype.JoinResult{}, err
	}
	found, err := catalogue.Discover(ctx, inv)
	if err != nil {
		return apitype.JoinResult{}, err
	}
	j.opMu.Lock()
	defer j.opMu.Unlock()
	cur, err := j.load()
	if err != nil {
		return apitype.JoinResult{}, fmt.Errorf("the configuration file does not load; fix it first: %w", err)
	}
	name := found.Fleet
	already := false
	if e := cur.Edge(name); e != nil {
		if !e.Catalogue || e.AuthURL != found.AuthURL {
			return apitype.JoinResult{}, fmt.Errorf("%s already has an edge named %q that is not this one (%s): rename it to join", j.d.config, name, found.AuthURL)
		}
		already = true
	} else {
		created := missingDirs(filepath.Dir(j.d.config))
		if err := config.AddEdge(j.d.config, found.ConfigEdge()); err != nil {
			return apitype.JoinResult{}, err
		}
		j.d.reload.folderCreated()
		if len(created) > 0 {
			c, err := j.store.Load(name)
			if err != nil {
				c = &catalogue.Cached{Edge: name}
			}
			c.ConfigDirs = created
			if err := j.store.Save(c); err != nil {
				return apitype.JoinResult{}, err
			}
		}
		j.log.Info("joined an edge: added it to the configuration", "edge", name, "auth_url", found.AuthURL, "config", j.d.config)
	}
	if _, err := j.reapply(ctx); err != nil {
		return apitype.JoinResult{}, fmt.Errorf("apply the configuration: %w", err)
	}
	m := j.d.signIn.manager(name)
	if m == nil {
		return apitype.JoinResult{}, fmt.Errorf("edge %s has no sign-in after the join (the configuration changed meanwhile?)", name)
	}
	if si := m.SignIn(); si.State != apitype.SignInSignedIn {
		if err := j.signIn(ctx, name, req.Device); err != nil {
			return apitype.JoinResult{}, err
		}
	}
	cat, err := j.syncLocked(ctx, name, true)
	return apitype.JoinResult{Edge: name, Catalogue: cat, AlreadyJoined: already}, err
}

// signIn starts a sign-in at edge and waits, as long as ctx allows (not
// the shorter wait of a held connection), until it completes or ends.
func (j *joiner) signIn(ctx context.Context, edge string, device bool) error {
	sub := j.d.core.Subscribe() // before the sign-in starts: no change is missed
	defer sub.Close()
	m := j.d.signIn.manager(edge)
	if m == nil {
		return fmt.Errorf("edge %s has no sign-in", edge)
	}
	if _, err := m.Login(ctx, device); err != nil {
		return fmt.Errorf("sign in at %s: %w", edge, err)
	}
	for {
		si := m.SignIn()
		switch {
		case si.State == apitype.SignInSignedIn:
			return nil
		case si.State == apitype.SignInSignedOut && si.Problem != nil:
			return fmt.Errorf("sign in at %s: %s: %s", edge, si.Problem.Code, si.Problem.Message)
		}
		if _, err := sub.Next(ctx); err != nil {
			return fmt.Errorf("sign in at %s: %w", edge, err)
		}
	}
}

// Sync re-fetches the catalogue of edge (every joined edge when empty),
// waiting for a sign-in when wait is set.
func (j *joiner) Sync(ctx context.Context, req apitype.SyncRequest) (apitype.SyncResult, error) {
	j.opMu.Lock()
	defer j.opMu.Unlock()
	names, err := j.joined(req.Edge)
	if err != nil {
		return apitype.SyncResult{}, err
	}
	var res apitype.SyncResult
	var errs []error
	for _, n := range names {
		c, err := j.syncLocked(ctx, n, true)
		res.Catalogues = append(res.Catalogues, c)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", n, err))
		}
	}
	return res, errors.Join(errs...)
}

// joined names the catalogue edges, or checks that edge is one.
func (j *joiner) joined(edge string) ([]string, error) {
	cfg, err := j.load()
	if err != nil {
		return nil, err
	}
	var names []string
	for _, e := range cfg.Edges {
		if e.Catalogue && (edge == "" || e.Name == edge) {
			names = append(names, e.Name)
		}
	}
	if len(names) == 0 {
		if edge == "" {
			return nil, fmt.Errorf("%w: no edge is joined (run `airlock join EDGE`)", ErrNotJoined)
		}
		return nil, fmt.Errorf("%w: %q is not a joined edge", ErrNotJoined, edge)
	}
	return names, nil
}

// syncLocked fetches edge's catalogue, writes the kubeconfig entries and
// applies the clusters. Without wait it does nothing while signed out.
func (j *joiner) syncLocked(ctx context.Context, edge string, wait bool) (apitype.Catalogue, error) {
	res, err := j.syncOnce(ctx, edge, wait)
	if err != nil {
		code := apitype.CatalogueFetchFailed
		var fe *kubeconfig.FileError
		if errors.As(err, &fe) {
			code = apitype.CatalogueKubeconfig
		}
		if errors.Is(err, catalogue.ErrUnauthorized) || errors.Is(err, errSignedOut) {
			code = apitype.CatalogueSignIn
		}
		res.Problem = &apitype.Problem{Code: code, Message: oneLine(err.Error())}
	}
	res.Edge = edge
	j.mu.Lock()
	prev := j.results[edge]
	j.results[edge] = res
	j.mu.Unlock()
	if len(res.Added) > 0 || len(res.Removed) > 0 || (res.Problem == nil) != (prev.Problem == nil) {
		j.d.core.Publish(apitype.Event{Type: apitype.EventCatalogue, Time: time.Now(), Catalogue: &res})
		j.d.core.PublishStatus()
	}
	return res, err
}

var errSignedOut = errors.New("signed out: sign in to sync (airlock login)")

func (j *joiner) syncOnce(ctx context.Context, edge string, wait bool) (apitype.Catalogue, error) {
	cfg, err := j.load()
	if err != nil {
		return apitype.Catalogue{}, err
	}
	e := cfg.Edge(edge)
	if e == nil || !e.Catalogue {
		return apitype.Catalogue{}, fmt.Errorf("%w: %q", ErrNotJoined, edge)
	}
	cached, err := j.store.Load(edge)
	if err != nil {
		cached = &catalogue.Cached{Edge: edge}
	}
	m := j.d.signIn.manager(edge)
	if m == nil {
		return j.view(e, cached), fmt.Errorf("edge %s has no sign-in", edge)
	}
	if !wait && m.SignIn().State != apitype.SignInSignedIn {
		return j.view(e, cached), errSignedOut
	}
	tok, err := m.Source().Token(ctx)
	if err != nil {
		return j.view(e, cached), fmt.Errorf("sign in at %s: %w", edge, err)
	}
	cat, err := catalogue.Fetch(ctx, catalogue.Client(e.RootCAs), e.AuthURL+catalogue.CataloguePath, tok)
	if errors.Is(err, catalogue.ErrUnauthorized) {
		m.Invalidate(tok)
	}
	if err != nil {
		return j.view(e, cached), err
	}
	cached.Apps, cached.Synced = cat.Apps, time.Now()
	var kres kubeconfig.ManagedResult
	var kerr error
	if ks := j.d.kube; ks != nil {
		kres, kerr = ks.syncer.Provision(ctx, edge, j.managed(e, cached), kubeconfig.ManagedState(cached.Kube))
		if kerr == nil || errors.Is(kerr, kubeconfig.ErrManagedEdited) {
			cached.Kube, cached.Mapped = catalogue.KubeRecord(kres.State), kres.MapOnto
		}
	}
	j.toggleMu.Lock()
	if latest, err := j.store.Load(edge); err == nil {
		cached.Disabled = latest.Disabled // a toggle since this sync began
	}
	err = j.store.Save(cached)
	j.toggleMu.Unlock()
	if err != nil {
		return j.view(e, cached), err
	}
	if _, err := j.reapply(ctx); err != nil {
		return j.view(e, cached), fmt.Errorf("apply the catalogue's clusters: %w", err)
	}
	v := j.view(e, cached)
	v.Added, v.Removed, v.Kept, v.CurrentContext = kres.Added, kres.Removed, kres.Kept, kres.Current
	if len(kres.Added) > 0 || len(kres.Removed) > 0 {
		j.log.Info("catalogue synced: kubeconfig contexts changed", "edge", edge, "added", kres.Added, "removed", kres.Removed, "file", kres.File)
	}
	if kerr != nil && !errors.Is(kerr, kubeconfig.ErrManagedEdited) {
		return v, kerr
	}
	if len(kres.Kept) > 0 {
		j.log.Warn("kubeconfig entries changed by you are left as they are", "edge", edge, "entries", kres.Kept)
	}
	return v, nil
}

// managed are the kubeconfig entries edge's apps want.
func (j *joiner) managed(e *config.Edge, c *catalogue.Cached) []kubeconfig.Managed {
	var out []kubeconfig.Managed
	for _, a := range c.Apps {
		k := a.Kubernetes
		if k == nil || k.Server == "" {
			continue
		}
		name := catalogue.ClusterName(e, a.Name)
		m := kubeconfig.Managed{Name: name, App: a.Hostname, Server: k.Server, CAData: k.CAData, TLSServerName: k.TLSServerName}
		if k.OIDC != nil {
			args := []string{"credential", "--cluster", name}
			if j.d.socket != safesocket.Path(os.Getenv) {
				args = append(args, "--socket", j.d.socket)
			}
			m.Exec = &kubeconfig.Exec{Command: j.exe, Args: args}
		}
		out = append(out, m)
	}
	return out
}

// missingDirs are dir and those of its parents that do not exist,
// innermost first.
func missingDirs(dir string) []string {
	var out []string
	for d := dir; ; d = filepath.Dir(d) {
		if _, err := os.Stat(d); err == nil || !errors.Is(err, fs.ErrNotExist) {
			return out
		}
		out = append(out, d)
		if filepath.Dir(d) == d {
			return out
		}
	}
}

// view is the control API's shape of a cached catalogue.
func (j *joiner) view(e *config.Edge, c *catalogue.Cached) apitype.Catalogue {
	v := apitype.Catalogue{Edge: e.Name, Synced: c.Synced, KubeconfigFile: c.Kube.File, Apps: []apitype.CatalogueApp{}}
	for _, a := range c.Apps {
		name := catalogue.ClusterName(e, a.Name)
		ca := apitype.CatalogueApp{Name: a.Name, Hostname: a.Hostname, DisplayName: a.DisplayName, Cluster: name,
			Enabled: !slices.Contains(c.Disabled, a.Name)}
		if a.Kubernetes != nil && a.Kubernetes.Server != "" {
			ca.Identity = a.Kubernetes.OIDC != nil
			if mine := c.Mapped[name]; mine != "" {
				ca.MappedOnto = mine
			} else {
				ca.Context = name
			}
		}
		v.Apps = append(v.Apps, ca)
	}
	return v
}

// Leave takes the edge out: its kubeconfig entries (the file given back as
// before the join), its sign-in (revoked, tokens deleted), its cached
// catalogue and its lines in the configuration file.
func (j *joiner) Leave(ctx context.Context, req apitype.LeaveRequest) (apitype.LeaveResult, error) {
	j.opMu.Lock()
	defer j.opMu.Unlock()
	names, err := j.joined(req.Edge)
	if err != nil {
		return apitype.LeaveResult{}, err
	}
	if len(names) > 1 {
		return apitype.LeaveResult{}, fmt.Errorf("several edges are joined (%v): name the one to leave", names)
	}
	edge := names[0]
	res := apitype.LeaveResult{Edge: edge}
	var errs []error
	if m := j.d.signIn.manager(edge); m != nil {
		if _, err := m.Logout(ctx); err != nil {
			errs = append(errs, fmt.Errorf("sign out: %w", err))
		}
		res.SignedOut = true
	}
	cached, err := j.store.Load(edge)
	if err != nil {
		cached = &catalogue.Cached{Edge: edge}
	}
	// The clusters first, so their proxy-urls are given back; then the
	// entries.
	cached.Apps = nil
	if err := j.store.Save(cached); err != nil {
		errs = append(errs, err)
	}
	if _, err := j.reapply(ctx); err != nil {
		errs = append(errs, err)
	}
	if ks := j.d.kube; ks != nil {
		kres, err := ks.syncer.Provision(ctx, edge, nil, kubeconfig.ManagedState(cached.Kube))
		res.Removed, res.Kept = kres.Removed, kres.Kept
		if err != nil && !errors.Is(err, kubeconfig.ErrManagedEdited) {
			errs = append(errs, err)
			cached.Kube = catalogue.KubeRecord(kres.State)
			_ = j.store.Save(cached)
			return res, errors.Join(errs...)
		}
	}
	if err := config.RemoveEdge(j.d.config, edge); err != nil {
		errs = append(errs, err)
	} else {
		for _, d := range cached.ConfigDirs {
			_ = os.Remove(d) // only when empty
		}
	}
	if err := j.store.Remove(edge); err != nil {
		errs = append(errs, err)
	}
	if _, err := j.reapply(ctx); err != nil {
		errs = append(errs, err)
	}
	j.mu.Lock()
	delete(j.results, edge)
	j.mu.Unlock()
	j.d.core.PublishStatus()
	j.log.Info("left the edge", "edge", edge, "kubeconfig_removed", res.Removed, "kept", res.Kept)
	return res, errors.Join(errs...)
}

// SetEnabled turns a catalogue cluster on or off (the tray's toggle): it
// is kept across syncs in the cached catalogue, and connects or
// disconnects the cluster now.
func (j *joiner) SetEnabled(_ context.Context, cluster string, on bool) error {
	// Not opMu: a join may hold it for minutes while the person signs in.
	j.toggleMu.Lock()
	defer j.toggleMu.Unlock()
	cfg, err := j.load()
	if err != nil {
		return err
	}
	for _, e := range cfg.Edges {
		if !e.Catalogue {
			continue
		}
		c, err := j.store.Load(e.Name)
		if err != nil {
			continue
		}
		for _, a := range c.Apps {
			if catalogue.ClusterName(&e, a.Name) != cluster {
				continue
			}
			c.Disabled = slices.DeleteFunc(c.Disabled, func(n string) bool { return n == a.Name })
			if !on {
				c.Disabled = append(c.Disabled, a.Name)
			}
			j.mu.Lock()
			if v, ok := j.results[e.Name]; ok {
				v.Apps = slices.Clone(v.Apps)
				for i := range v.Apps {
					if v.Apps[i].Cluster == cluster {
						v.Apps[i].Enabled = on
					}
				}
				j.results[e.Name] = v
			}
			j.mu.Unlock()
			return j.store.Save(c)
		}
	}
	return nil
}

// status adds the catalogues to st (under the core's lock: only j.mu and
// the cache files).
func (j *joiner) status(st *apitype.Status, cfg *config.Config) {
	if cfg == nil {
		return
	}
	st.NotJoined = cfg.IsNotJoined()
	for i := range cfg.Edges {
		e := &cfg.Edges[i]
		if !e.Catalogue {
			continue
		}
		j.mu.Lock()
		v, ok := j.results[e.Name]
		j.mu.Unlock()
		if !ok {
			c, err := j.store.Load(e.Name)
			if err != nil {
				v = apitype.Catalogue{Edge: e.Name, Apps: []apitype.CatalogueApp{}, Problem: &apitype.Problem{Code: apitype.CatalogueFetchFailed, Message: oneLine(err.Error())}}
			} else {
				v = j.view(e, c)
			}
		}
		st.Catalogues = append(st.Catalogues, v)
	}
}

// run re-checks the catalogues every interval and after each sign-in until
// ctx ends. A check while signed out does nothing.
func (j *joiner) run(ctx context.Context) {
	var tick <-chan time.Time
	if j.every > 0 {
		t := time.NewTicker(j.every)
		defer t.Stop()
		tick = t.C
	}
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick:
		case <-j.kick:
		}
		j.checkAll(ctx)
	}
}

// signedIn tells run that an edge's sign-in completed.
func (j *joiner) signedIn() {
	select {
	case j.kick <- struct{}{}:
	default:
	}
}

func (j *joiner) checkAll(ctx context.Context) {
	if !j.opMu.TryLock() {
		return // a join, sync or leave is running: it syncs
	}
	defer j.opMu.Unlock()
	cfg, err := j.load()
	if err != nil {
		return
	}
	for _, e := range cfg.Edges {
		if !e.Catalogue {
			continue
		}
		if _, err := j.syncLocked(ctx, e.Name, false); err != nil && !errors.Is(err, errSignedOut) && ctx.Err() == nil {
			j.log.Warn("catalogue re-check failed; the cached one stays", "edge", e.Name, "err", err)
		}
	}
}
