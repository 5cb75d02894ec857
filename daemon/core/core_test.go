package core

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/airlockhq/airlock/daemon/apitype"
	"github.com/airlockhq/airlock/daemon/config"
	"github.com/airlockhq/airlock/daemon/socks/sockstest"
	"github.com/airlockhq/airlock/internal/edgeclient"
	"github.com/airlockhq/airlock/internal/testenv"
	"github.com/airlockhq/airlock/internal/wire"
)

// fakeEdge answers every Open with one end of a pipe to an echo, or err.
type fakeEdge struct {
	mu      sync.Mutex
	err     error
	warmErr error
	warm    chan struct{} // if non-nil, Connect waits for it
	closed  bool
}

func (f *fakeEdge) setErr(err error) {
	f.mu.Lock()
	f.err = err
	f.mu.Unlock()
}

func (f *fakeEdge) Open(ctx context.Context, o *wire.Open) (net.Conn, error) {
	f.mu.Lock()
	err := f.err
	f.mu.Unlock()
	if err != nil {
		return nil, err
	}
	a, b := net.Pipe()
	go func() {
		defer b.Close()
		io.Copy(b, b)
	}()
	return tcpAddrConn{a}, nil
}

func (f *fakeEdge) State() (bool, time.Time, error) { return false, time.Time{}, nil }

func (f *fakeEdge) Close() error {
	f.mu.Lock()
	f.closed = true
	f.mu.Unlock()
	return nil
}

type tcpAddrConn struct{ net.Conn }

func (tcpAddrConn) LocalAddr() net.Addr { return &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 1} }

type warmEdge struct{ *fakeEdge }

func (w warmEdge) Connect(ctx context.Context) error {
	if w.warm != nil {
		select {
		case <-w.warm:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return w.warmErr
}

func testConfig(t testing.TB, clusters ...config.Cluster) *config.Config {
	t.Helper()
	for i := range clusters {
		if clusters[i].App == "" {
			clusters[i].App = clusters[i].Name + ".example.com"
		}
		if clusters[i].Token == "" {
			clusters[i].Token = "tok"
		}
		if clusters[i].Listen == "" {
			clusters[i].Listen = "127.0.0.1:0"
		}
	}
	return &config.Config{Edges: []config.Edge{{Name: "main", Address: "127.0.0.1:7844"}}, Clusters: clusters}
}

func no() *bool { b := false; return &b }

type running struct {
	*Core
	cancel context.CancelFunc
	done   chan error
	once   sync.Once
}

func run(t testing.TB, opts Options) *running {
	t.Helper()
	c, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	r := &running{Core: c, cancel: cancel, done: make(chan error, 1)}
	go func() { r.done <- c.Run(ctx) }()
	t.Cleanup(func() { r.stop(t) })
	return r
}

func (r *running) stop(t testing.TB) {
	r.once.Do(func() {
		r.cancel()
		select {
		case err := <-r.done:
			if err != nil {
				t.Errorf("Run: %v", err)
			}
		case <-time.After(10 * time.Second):
			buf := make([]byte, 1<<20)
			n := runtime.Stack(buf, true)
			t.Fatalf("Run did not return after cancel\n%s", buf[:n])
		}
	})
}

func ctxT(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// waitState polls Status until cluster name is in state st.
func waitState(t testing.TB, c *Core, name string, st apitype.State) apitype.Cluster {
	t.Helper()
	var cl apitype.Cluster
	testenv.Eventually(t, "cluster "+name+" "+string(st), func() error {
		var err error
		if cl, err = c.Cluster(name); err != nil {
			t.Fatal(err)
		}
		if cl.State != st {
			return fmt.Errorf("cluster %s is %s (%+v), want %s", name, cl.State, cl.Problem, st)
		}
		return nil
	})
	return cl
}

func credsOf(t testing.TB, cl apitype.Cluster) (addr, user, pass string) {
	t.Helper()
	if !strings.HasPrefix(cl.ProxyURL, "socks5://") {
		t.Fatalf("proxy url %q", cl.ProxyURL)
	}
	rest := strings.TrimPrefix(cl.ProxyURL, "socks5://")
	at := strings.LastIndex(rest, "@")
	up := strings.SplitN(rest[:at], ":", 2)
	return rest[at+1:], up[0], up[1]
}

func TestConnectDisconnect(t *testing.T) {
	fe := &fakeEdge{}
	r := run(t, Options{
		Config:  testConfig(t, config.Cluster{Name: "prod"}, config.Cluster{Name: "stage", Autoconnect: no()}),
		NewEdge: func(config.Edge, *slog.Logger) Edge { return fe },
	})
	prod := waitState(t, r.Core, "prod", apitype.StateConnected)
	if st, _ := r.Cluster("stage"); st.State != apitype.StateDisconnected || st.ProxyURL != "" {
		t.Fatalf("stage with autoconnect false = %+v", st)
	}
	addr, user, pass := credsOf(t, prod)
	if addr != prod.Listen {
		t.Errorf("proxy url host %s, listen %s", addr, prod.Listen)
	}
	c, err := sockstest.Dial(ctxT(t), addr, user, pass, "kubernetes:443")
	if err != nil {
		t.Fatalf("through prod: %v", err)
	}
	c.Write([]byte("ping"))
	buf := make([]byte, 4)
	if _, err := io.ReadFull(c, buf); err != nil || string(buf) != "ping" {
		t.Fatalf("echo %q, %v", buf, err)
	}

	stage, err := r.Connect(ctxT(t), "stage")
	if err != nil || stage.State != apitype.StateConnected || stage.ProxyURL == "" {
		t.Fatalf("Connect(stage) = %+v, %v", stage, err)
	}
	if stage.ProxyURL == prod.ProxyURL {
		t.Error("two clusters share credentials")
	}

	got, err := r.Disconnect(ctxT(t), "prod")
	if err != nil || got.State != apitype.StateDisconnected || got.ProxyURL != "" {
		t.Fatalf("Disconnect = %+v, %v", got, err)
	}
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := c.Read(buf); err == nil {
		t.Error("a connection through a disconnected cluster is still open")
	}
	// The port is free again, so a plain dial may reach whatever took it
	// since (another test's listener, or the dial connecting to itself when
	// the kernel picks that port as its source); prod's listener is the one
	// that would still answer prod's credentials.
	if c, err := sockstest.Dial(ctxT(t), addr, user, pass, "kubernetes:443"); err == nil {
		c.Close()
		t.Error("the listener of a disconnected cluster still serves its credentials")
	}

	if _, err := r.Connect(ctxT(t), "nope"); !errors.Is(err, ErrUnknownCluster) {
		t.Errorf("Connect(nope) err = %v, want ErrUnknownCluster", err)
	}

	r.stop(t)
	if _, err := r.Connect(ctxT(t), "prod"); !errors.Is(err, ErrNotRunning) {
		t.Errorf("Connect after Run = %v, want ErrNotRunning", err)
	}
	for _, cl := range r.Status().Clusters {
		if cl.State != apitype.StateDisconnected {
			t.Errorf("after Run: %s is %s", cl.Name, cl.State)
		}
	}
	if !fe.closed {
		t.Error("edge link not closed after Run")
	}
}

func TestOutcomesDriveState(t *testing.T) {
	fe := &fakeEdge{}
	r := run(t, Options{Config: testConfig(t, config.Cluster{Name: "prod"}), NewEdge: func(config.Edge, *slog.Logger) Edge { return fe }})
	sub := r.Subscribe()
	defer sub.Close()
	ev, err := sub.Next(ctxT(t))
	if err != nil || ev.Type != apitype.EventStatus || ev.Status == nil {
		t.Fatalf("first event = %+v, %v; want a status", ev, err)
	}
	cl := waitState(t, r.Core, "prod", apitype.StateConnected)
	addr, user, pass := credsOf(t, cl)

	steps := []struct {
		name  string
		err   error
		state apitype.State
		code  string
	}{
		{"forbidden", wire.Errorf(wire.CodeForbidden, "not in policy"), apitype.StateError, "forbidden"},
		{"ok again", nil, apitype.StateConnected, ""},
		{"edge down", &edgeclient.DialError{Addr: "x:1", Err: errors.New("timeout")}, apitype.StateError, "edge_unreachable"},
		{"overloaded keeps error", wire.Errorf(wire.CodeOverloaded, "busy"), apitype.StateError, "edge_unreachable"},
		{"no connector", wire.Errorf(wire.CodeNoConnector, "none"), apitype.StateError, "no_connector"},
		{"recovered", nil, apitype.StateConnected, ""},
		{"overloaded keeps connected", wire.Errorf(wire.CodeOverloaded, "busy"), apitype.StateConnected, ""},
	}
	for _, s := range steps {
		t.Run(s.name, func(t *testing.T) {
			fe.setErr(s.err)
			c, err := sockstest.Dial(ctxT(t), addr, user, pass, "k:443")
			if err == nil {
				c.Close()
			}
			got, _ := r.Cluster("prod")
			code := ""
			if got.Problem != nil {
				code = got.Problem.Code
			}
			if got.State != s.state || code != s.code {
				t.Fatalf("state %s %q, want %s %q", got.State, code, s.state, s.code)
			}
		})
	}
	// The subscription saw each change once, in order.
	want := "error:forbidden connected error:edge_unreachable error:no_connector connected"
	var seen []string
	for !strings.HasSuffix(strings.Join(seen, " "), want) {
		ev, err := sub.Next(ctxT(t))
		if err != nil {
			t.Fatalf("%v after events %q", err, seen)
		}
		if ev.Type != apitype.EventCluster {
			continue
		}
		s := string(ev.Cluster.State)
		if ev.Cluster.Problem != nil {
			s += ":" + ev.Cluster.Problem.Code
		}
		seen = append(seen, s)
	}
	// Before the steps, the tail of the first connect: the status snapshot may already
	// show connecting (or connected) when the subscription starts.
	got := strings.TrimSuffix(strings.Join(seen, " "), want)
	if got != "" && got != "connected " && got != "connecting connected " {
		t.Errorf("events %q, want %q after the first connect", strings.Join(seen, " "), want)
	}
}

func TestSlowSubscriberResyncs(t *testing.T) {
	fe := &fakeEdge{}
	r := run(t, Options{Config: testConfig(t, config.Cluster{Name: "prod", Autoconnect: no()}), NewEdge: func(config.Edge, *slog.Logger) Edge { return fe }})
	sub := r.Subscribe()
	defer sub.Close()
	if ev, _ := sub.Next(ctxT(t)); ev.Type != apitype.EventStatus {
		t.Fatalf("first event %s", ev.Type)
	}
	for i := 0; i < subscriptionQueue; i++ { // 2 events each: never read
		if _, err := r.Connect(ctxT(t), "prod"); err != nil {
			t.Fatal(err)
		}
		if _, err := r.Disconnect(ctxT(t), "prod"); err != nil {
			t.Fatal(err)
		}
	}
	ev, err := sub.Next(ctxT(t))
	if err != nil || ev.Type != apitype.EventStatus {
		t.Fatalf("after overflow got %+v, %v; want a fresh status", ev.Type, err)
	}
	if st := ev.Status.FindCluster("prod"); st == nil || st.State != apitype.StateDisconnected {
		t.Errorf("resync status = %+v", st)
	}
}

func TestListenFallback(t *testing.T) {
	var mu sync.Mutex
	var tried []string
	listen := func(ctx context.Context, addr string) (net.Listener, error) {
		mu.Lock()
		tried = append(tried, addr)
		mu.Unlock()
		if !strings.HasPrefix(addr, "127.0.0.1:") {
			return nil, &net.OpError{Op: "listen", Net: "tcp", Err: syscall.EADDRNOTAVAIL}
		}
		return net.Listen("tcp", "127.0.0.1:0")
	}
	cfg := testConfig(t, config.Cluster{Name: "a"}, config.Cluster{Name: "b"})
	cfg.Clusters[0].Listen, cfg.Clusters[1].Listen = "", ""
	r := run(t, Options{Config: cfg, Listen: listen, NewEdge: func(config.Edge, *slog.Logger) Edge { return &fakeEdge{} }})
	waitState(t, r.Core, "a", apitype.StateConnected)
	waitState(t, r.Core, "b", apitype.StateConnected)
	mu.Lock()
	got := strings.Join(tried, " ")
	mu.Unlock()
	if want := "127.0.0.2:1080 127.0.0.1:1080 127.0.0.3:1080 127.0.0.1:1081"; got != want {
		t.Errorf("listen attempts %q, want %q", got, want)
	}
}

func TestListenFailureIsErrorState(t *testing.T) {
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	r := run(t, Options{Config: testConfig(t, config.Cluster{Name: "a", Listen: busy.Addr().String(), Autoconnect: no()}), NewEdge: func(config.Edge, *slog.Logger) Edge { return &fakeEdge{} }})
	cl, err := r.Connect(ctxT(t), "a")
	if err == nil || cl.State != apitype.StateError || cl.Problem == nil || cl.Problem.Code != "listen_failed" {
		t.Fatalf("Connect on a busy address = %+v, %v", cl, err)
	}
	busy.Close()
	if cl, err := r.Connect(ctxT(t), "a"); err != nil || cl.State != apitype.StateConnected {
		t.Fatalf("Connect once free = %+v, %v", cl, err)
	}
}

func TestWarmUp(t *testing.T) {
	tests := []struct {
		name  string
		err   error
		state apitype.State
	}{
		{"reachable", nil, apitype.StateConnected},
		{"unreachable", &edgeclient.DialError{Addr: "x:1", Err: errors.New("no route")}, apitype.StateError},
		{"refused", fmt.Errorf("edge refused: %w", wire.Errorf(wire.CodeUnsupportedVersion, "v9")), apitype.StateError},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			we := warmEdge{&fakeEdge{warm: make(chan struct{}), warmErr: tt.err}}
			r := run(t, Options{Config: testConfig(t, config.Cluster{Name: "a", Autoconnect: no()}), NewEdge: func(config.Edge, *slog.Logger) Edge { return we }})
			cl, err := r.Connect(ctxT(t), "a")
			if err != nil || cl.State != apitype.StateConnecting {
				t.Fatalf("Connect = %s, %v; want connecting while the edge dials", cl.State, err)
			}
			close(we.warm)
			waitState(t, r.Core, "a", tt.state)
		})
	}
}
