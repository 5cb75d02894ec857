package core

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/airlockhq/airlock/daemon/apitype"
	"github.com/airlockhq/airlock/daemon/config"
	"github.com/airlockhq/airlock/daemon/socks/sockstest"
	"github.com/airlockhq/airlock/internal/testenv"
	"github.com/airlockhq/airlock/internal/wire"
)

// edgeMaker hands out a new fakeEdge per link and remembers them, so a
// test sees which links a reload made and closed.
type edgeMaker struct {
	mu    sync.Mutex
	links map[string][]*appEdge
}

// appEdge is a fakeEdge that records the app of every stream.
type appEdge struct {
	*fakeEdge
	addr string
	mu   sync.Mutex
	apps []string
}

func (a *appEdge) Open(ctx context.Context, o *wire.Open) (net.Conn, error) {
	a.mu.Lock()
	a.apps = append(a.apps, o.App)
	a.mu.Unlock()
	return a.fakeEdge.Open(ctx, o)
}

func (a *appEdge) lastApp() string {
	a.mu.Lock()
	defer a.mu.Unlock()
	if len(a.apps) == 0 {
		return ""
	}
	return a.apps[len(a.apps)-1]
}

func (m *edgeMaker) new(e config.Edge, _ *slog.Logger) Edge {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.links == nil {
		m.links = map[string][]*appEdge{}
	}
	l := &appEdge{fakeEdge: &fakeEdge{}, addr: e.Address}
	m.links[e.Name] = append(m.links[e.Name], l)
	return l
}

func (m *edgeMaker) get(name string) []*appEdge {
	m.mu.Lock()
	defer m.mu.Unlock()
	return slices.Clone(m.links[name])
}

func (l *appEdge) isClosed() bool {
	l.fakeEdge.mu.Lock()
	defer l.fakeEdge.mu.Unlock()
	return l.closed
}

// echo dials through a cluster and checks one round trip.
func echo(t testing.TB, c net.Conn, msg string) {
	t.Helper()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	defer c.SetDeadline(time.Time{})
	if _, err := c.Write([]byte(msg)); err != nil {
		t.Fatalf("write %q: %v", msg, err)
	}
	buf := make([]byte, len(msg))
	if _, err := io.ReadFull(c, buf); err != nil || string(buf) != msg {
		t.Fatalf("echo %q, %v; want %q", buf, err, msg)
	}
}

func dialCluster(t testing.TB, cl apitype.Cluster) net.Conn {
	t.Helper()
	addr, user, pass := credsOf(t, cl)
	c, err := sockstest.Dial(ctxT(t), addr, user, pass, "kubernetes:443")
	if err != nil {
		t.Fatalf("through %s: %v", cl.Name, err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// collect reads a subscription in the background.
type collect struct {
	mu   sync.Mutex
	evs  []apitype.Event
	wake chan struct{} // closed at the next event
}

// changed returns a channel that is closed when the next event arrives.
func (col *collect) changed() <-chan struct{} {
	col.mu.Lock()
	defer col.mu.Unlock()
	if col.wake == nil {
		col.wake = make(chan struct{})
	}
	return col.wake
}

func subscribe(t testing.TB, c *Core) *collect {
	sub := c.Subscribe()
	col := &collect{}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			ev, err := sub.Next(ctx)
			if err != nil {
				return
			}
			col.mu.Lock()
			col.evs = append(col.evs, ev)
			if col.wake != nil {
				close(col.wake)
				col.wake = nil
			}
			col.mu.Unlock()
		}
	}()
	t.Cleanup(func() { cancel(); sub.Close(); <-done })
	return col
}

// wait waits for an event ok accepts.
func (col *collect) wait(t testing.TB, what string, ok func(apitype.Event) bool) apitype.Event {
	t.Helper()
	ev, _ := col.waitFrom(t, 0, what, ok)
	return ev
}

// waitFrom waits for an event ok accepts at index from or later, and
// returns it and its index.
func (col *collect) waitFrom(t testing.TB, from int, what string, ok func(apitype.Event) bool) (apitype.Event, int) {
	t.Helper()
	ctx := testenv.Context(t)
	for {
		// Take the wake-up before reading, so that an event that comes in
		// between wakes us rather than being missed.
		changed := col.changed()
		col.mu.Lock()
		for i := from; i < len(col.evs); i++ {
			if ev := col.evs[i]; ok(ev) {
				col.mu.Unlock()
				return ev, i
			}
		}
		col.mu.Unlock()
		select {
		case <-changed:
		case <-ctx.Done():
			t.Fatalf("no event: %s (%v)", what, context.Cause(ctx))
		}
	}
}

func statusWithout(name string) func(apitype.Event) bool {
	return func(ev apitype.Event) bool {
		return ev.Type == apitype.EventStatus && ev.Status.FindCluster(name) == nil
	}
}

func statusWith(name string) func(apitype.Event) bool {
	return func(ev apitype.Event) bool {
		return ev.Type == apitype.EventStatus && ev.Status.FindCluster(name) != nil
	}
}

func TestReloadClusters(t *testing.T) {
	em := &edgeMaker{}
	rs := &recordingSync{}
	cfg := testConfig(t,
		config.Cluster{Name: "keep"},
		config.Cluster{Name: "change"},
		config.Cluster{Name: "gone", Kubeconfig: config.Kubeconfig{Clusters: []string{"gone-eks"}}},
		config.Cluster{Name: "idle", Autoconnect: no()})
	c, err := New(Options{Config: cfg, NewEdge: em.new, Kubeconfig: rs})
	if err != nil {
		t.Fatal(err)
	}
	rs.core = c
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	})
	keep := waitState(t, c, "keep", apitype.StateConnected)
	change := waitState(t, c, "change", apitype.StateConnected)
	gone := waitState(t, c, "gone", apitype.StateConnected)
	held := dialCluster(t, keep)
	echo(t, held, "before")
	changeConn := dialCluster(t, change)
	echo(t, changeConn, "x")
	if app := em.get("main")[0].lastApp(); app != "change.example.com" {
		t.Fatalf("stream app %q", app)
	}
	rs.take()
	col := subscribe(t, c)

	next := testConfig(t,
		config.Cluster{Name: "keep"},
		config.Cluster{Name: "change", App: "changed.example.com"},
		config.Cluster{Name: "idle", Autoconnect: no(), Kubeconfig: config.Kubeconfig{Clusters: []string{"idle-eks"}}},
		config.Cluster{Name: "new"},
		config.Cluster{Name: "new-off", Autoconnect: no()})
	ch, err := c.Reload(ctxT(t), next)
	if err != nil {
		t.Fatalf("Reload: %v", err)
	}
	want := Changes{Added: []string{"new", "new-off"}, Removed: []string{"gone"}, Restarted: []string{"change"}, Updated: []string{"idle"}}
	if !slices.Equal(ch.Added, want.Added) || !slices.Equal(ch.Removed, want.Removed) ||
		!slices.Equal(ch.Restarted, want.Restarted) || !slices.Equal(ch.Updated, want.Updated) ||
		len(ch.EdgesAdded)+len(ch.EdgesRemoved)+len(ch.EdgesChanged) != 0 {
		t.Errorf("changes %+v, want %+v", ch, want)
	}

	t.Run("unchanged cluster keeps its stream", func(t *testing.T) {
		echo(t, held, "after")
		if now, _ := c.Cluster("keep"); now.ProxyURL != keep.ProxyURL || !now.Since.Equal(keep.Since) {
			t.Errorf("keep changed: %+v, was %+v", now, keep)
		}
	})
	t.Run("changed cluster restarted with its credentials", func(t *testing.T) {
		changeConn.SetReadDeadline(time.Now().Add(5 * time.Second))
		if _, err := changeConn.Read(make([]byte, 1)); err == nil {
			t.Error("a stream of the restarted cluster is still open")
		}
		now := waitState(t, c, "change", apitype.StateConnected)
		if now.App != "changed.example.com" {
			t.Errorf("app %q", now.App)
		}
		_, u1, p1 := credsOf(t, change)
		_, u2, p2 := credsOf(t, now)
		if u1 != u2 || p1 != p2 {
			t.Error("restart changed the SOCKS credentials")
		}
		echo(t, dialCluster(t, now), "y")
		if app := em.get("main")[0].lastApp(); app != "changed.example.com" {
			t.Errorf("stream app after reload %q", app)
		}
	})
	t.Run("removed cluster closed and gone", func(t *testing.T) {
		if _, err := c.Cluster("gone"); !errors.Is(err, ErrUnknownCluster) {
			t.Errorf("Cluster(gone) = %v", err)
		}
		if _, err := c.Connect(ctxT(t), "gone"); !errors.Is(err, ErrUnknownCluster) {
			t.Errorf("Connect(gone) = %v", err)
		}
		if conn, err := net.Dial("tcp", gone.Listen); err == nil {
			conn.Close()
			t.Error("the removed cluster's listener still accepts")
		}
		col.wait(t, "status without gone", statusWithout("gone"))
	})
	t.Run("added clusters", func(t *testing.T) {
		echo(t, dialCluster(t, waitState(t, c, "new", apitype.StateConnected)), "z")
		if off, _ := c.Cluster("new-off"); off.State != apitype.StateDisconnected {
			t.Errorf("new-off is %s", off.State)
		}
		ev := col.wait(t, "status with new", statusWith("new"))
		var names []string
		for _, cl := range ev.Status.Clusters {
			names = append(names, cl.Name)
		}
		if !slices.Equal(names, []string{"keep", "change", "idle", "new", "new-off"}) {
			t.Errorf("clusters in status %v", names)
		}
	})
	t.Run("kubeconfig", func(t *testing.T) {
		calls := rs.take()
		if !slices.Equal(calls, []string{"down gone"}) {
			t.Errorf("kubeconfig calls %q", calls)
		}
		if idle, _ := c.Cluster("idle"); idle.Kubeconfig == nil || idle.Kubeconfig.Clusters[0] != "idle-eks" {
			t.Errorf("idle's mapping not updated: %+v", idle.Kubeconfig)
		}
		if _, err := c.Connect(ctxT(t), "idle"); err != nil {
			t.Fatal(err)
		}
		calls = rs.take()
		if len(calls) != 1 || calls[0][:len("up idle [idle-eks]")] != "up idle [idle-eks]" {
			t.Errorf("connect idle: kubeconfig calls %q", calls)
		}
	})
	t.Run("mapping changed in place on a listening cluster", func(t *testing.T) {
		next2 := testConfig(t,
			config.Cluster{Name: "keep", Kubeconfig: config.Kubeconfig{Clusters: []string{"keep-eks"}}},
			config.Cluster{Name: "change", App: "changed.example.com"},
			config.Cluster{Name: "idle", Autoconnect: no()},
			config.Cluster{Name: "new"},
			config.Cluster{Name: "new-off", Autoconnect: no()})
		ch, err := c.Reload(ctxT(t), next2)
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(ch.Updated, []string{"keep", "idle"}) || len(ch.Restarted)+len(ch.Added)+len(ch.Removed) != 0 {
			t.Errorf("changes %+v", ch)
		}
		calls := rs.take()
		if len(calls) != 2 || calls[0] != "down idle" || calls[1][:len("up keep [keep-eks]")] != "up keep [keep-eks]" {
			t.Errorf("kubeconfig calls %q", calls)
		}
		echo(t, held, "still")
		if k, _ := c.Cluster("keep"); k.Kubeconfig == nil || len(k.Kubeconfig.Applied) != 1 {
			t.Errorf("keep's kubeconfig %+v", k.Kubeconfig)
		}
	})
	t.Run("same configuration changes nothing", func(t *testing.T) {
		ch, err := c.Reload(ctxT(t), testConfig(t,
			config.Cluster{Name: "keep", Kubeconfig: config.Kubeconfig{Clusters: []string{"keep-eks"}}},
			config.Cluster{Name: "change", App: "changed.example.com"},
			config.Cluster{Name: "idle", Autoconnect: no()},
			config.Cluster{Name: "new"},
			config.Cluster{Name: "new-off", Autoconnect: no()}))
		if err != nil || !ch.Empty() {
			t.Errorf("changes %+v, %v", ch, err)
		}
		if calls := rs.take(); len(calls) != 0 {
			t.Errorf("kubeconfig calls %q", calls)
		}
	})
}

func TestReloadEdges(t *testing.T) {
	em := &edgeMaker{}
	cfg := testConfig(t, config.Cluster{Name: "a", Edge: "main"}, config.Cluster{Name: "b", Edge: "other"})
	cfg.Edges = append(cfg.Edges, config.Edge{Name: "other", Address: "127.0.0.1:7845"})
	r := run(t, Options{Config: cfg, NewEdge: em.new})
	a := waitState(t, r.Core, "a", apitype.StateConnected)
	b := waitState(t, r.Core, "b", apitype.StateConnected)
	heldA := dialCluster(t, a)
	echo(t, heldA, "a")
	echo(t, dialCluster(t, b), "b")

	// "other" moves to a new address and "third" appears: b restarts on a
	// new link, a keeps its stream on main's.
	next := testConfig(t, config.Cluster{Name: "a", Edge: "main"}, config.Cluster{Name: "b", Edge: "other"}, config.Cluster{Name: "c", Edge: "third"})
	next.Edges = append(next.Edges, config.Edge{Name: "other", Address: "127.0.0.1:7846"}, config.Edge{Name: "third", Address: "127.0.0.1:7847"})
	ch, err := r.Reload(ctxT(t), next)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(ch.EdgesChanged, []string{"other"}) || !slices.Equal(ch.EdgesAdded, []string{"third"}) ||
		!slices.Equal(ch.Restarted, []string{"b"}) || !slices.Equal(ch.Added, []string{"c"}) {
		t.Errorf("changes %+v", ch)
	}
	links := em.get("other")
	if len(links) != 2 || !links[0].isClosed() || links[1].isClosed() || links[1].addr != "127.0.0.1:7846" {
		t.Fatalf("links of other: %d, first closed %v", len(links), links[0].isClosed())
	}
	echo(t, heldA, "a2")
	echo(t, dialCluster(t, waitState(t, r.Core, "b", apitype.StateConnected)), "b2")
	if links[1].lastApp() != "b.example.com" {
		t.Error("b's stream did not use the new link")
	}
	echo(t, dialCluster(t, waitState(t, r.Core, "c", apitype.StateConnected)), "c")
	st := r.Status()
	if len(st.Edges) != 3 || st.Edges[1].Address != "127.0.0.1:7846" || st.Edges[2].Name != "third" {
		t.Errorf("edges in status %+v", st.Edges)
	}

	// third goes away with its cluster.
	ch, err = r.Reload(ctxT(t), testConfig(t, config.Cluster{Name: "a"}))
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(ch.EdgesRemoved, []string{"other", "third"}) || !slices.Equal(ch.Removed, []string{"b", "c"}) {
		t.Errorf("changes %+v", ch)
	}
	if !em.get("third")[0].isClosed() || !em.get("other")[1].isClosed() {
		t.Error("removed edges' links not closed")
	}
	if em.get("main")[0].isClosed() {
		t.Error("main's link closed")
	}
	echo(t, heldA, "a3")
}

func TestReloadInvalidAndConfigError(t *testing.T) {
	r := run(t, Options{
		Config:  testConfig(t, config.Cluster{Name: "a"}),
		NewEdge: func(config.Edge, *slog.Logger) Edge { return &fakeEdge{} },
	})
	a := waitState(t, r.Core, "a", apitype.StateConnected)
	col := subscribe(t, r.Core)

	bad := testConfig(t, config.Cluster{Name: "a"}, config.Cluster{Name: "b", Listen: "10.0.0.1:1080"})
	_, err := r.Reload(ctxT(t), bad)
	var ce *config.Error
	if !errors.As(err, &ce) {
		t.Fatalf("Reload(bad) = %v, want a *config.Error", err)
	}
	if _, err := r.Cluster("b"); !errors.Is(err, ErrUnknownCluster) {
		t.Error("an invalid configuration was applied")
	}

	r.SetConfigError(&apitype.ConfigError{Path: "/c.yaml", Message: "/c.yaml:7: clusters[1].listen: bad", Problems: []apitype.ConfigProblem{{Line: 7, Field: "clusters[1].listen", Message: "bad"}}})
	if st := r.Status(); st.ConfigError == nil || st.ConfigError.Problems[0].Line != 7 {
		t.Fatalf("status config error %+v", st.ConfigError)
	}
	_, at := col.waitFrom(t, 0, "status with the config error", func(ev apitype.Event) bool {
		return ev.Type == apitype.EventStatus && ev.Status.ConfigError != nil && ev.Status.ConfigError.Problems[0].Field == "clusters[1].listen"
	})
	if now, _ := r.Cluster("a"); now.ProxyURL != a.ProxyURL {
		t.Error("cluster a changed with a config error")
	}

	if _, err := r.Reload(ctxT(t), testConfig(t, config.Cluster{Name: "a"})); err != nil {
		t.Fatal(err)
	}
	if st := r.Status(); st.ConfigError != nil {
		t.Errorf("config error kept after a good reload: %+v", st.ConfigError)
	}
	col.waitFrom(t, at+1, "status without the config error", func(ev apitype.Event) bool {
		return ev.Type == apitype.EventStatus && ev.Status.ConfigError == nil
	})
}
