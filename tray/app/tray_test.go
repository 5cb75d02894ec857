package app_test

import (
	"context"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/airlockhq/airlock/daemon"
	"github.com/airlockhq/airlock/daemon/apitype"
	"github.com/airlockhq/airlock/daemon/client"
	"github.com/airlockhq/airlock/daemon/config"
	"github.com/airlockhq/airlock/daemon/core"
	"github.com/airlockhq/airlock/daemon/daemontest"
	"github.com/airlockhq/airlock/daemon/socks"
	"github.com/airlockhq/airlock/daemon/socks/sockstest"
	"github.com/airlockhq/airlock/internal/testenv"
	"github.com/airlockhq/airlock/internal/wire"
	"github.com/airlockhq/airlock/tray/traytest"
)

// refusingEdge refuses every stream as forbidden.
type refusingEdge struct{}

func (refusingEdge) Open(context.Context, *wire.Open) (net.Conn, error) {
	return nil, wire.Errorf(wire.CodeForbidden, "alice@example.com may not use this app")
}
func (refusingEdge) State() (bool, time.Time, error) { return false, time.Time{}, nil }
func (refusingEdge) Close() error                    { return nil }

// startRefusingDaemon runs a daemon in this process with two clusters
// behind an edge that refuses every stream.
func startRefusingDaemon(t *testing.T) *daemontest.Daemon { return startRefusingDaemonB(t) }

func startRefusingDaemonB(t testing.TB) *daemontest.Daemon {
	no := false
	cfg := &config.Config{
		Edges: []config.Edge{{Name: "main", Address: "127.0.0.1:7844"}},
		Clusters: []config.Cluster{
			{Name: "prod", App: "k8s.prod.example.com", Token: "t", Autoconnect: &no},
			{Name: "staging", App: "k8s.staging.example.com", Token: "t", Autoconnect: &no},
		},
	}
	return daemontest.Start(t, cfg, func(o *daemon.Options) {
		o.Core.NewEdge = func(config.Edge, *slog.Logger) core.Edge { return refusingEdge{} }
	})
}

// TestMenu drives the real tray over a private session bus with a mock
// panel: it reads the menu, toggles a cluster, uses Connect all /
// Disconnect all and Copy proxy URL, gets a notification when the edge
// refuses, and quits from the menu.
func TestMenu(t *testing.T) {
	bus := traytest.StartBus(t)
	watcher := bus.OwnWatcher(t)
	notes := bus.OwnNotifications(t)
	conn := bus.Conn(t)
	d := startRefusingDaemon(t)
	env, _ := sandbox(t)
	p := startAirlock(t, bus.Env(env), "tray", "--socket", d.Socket, "--no-start")

	reg := watcher.Next(t, 20*time.Second)
	if reg.Path != traytest.ItemPath {
		t.Errorf("registered path %q, want %s", reg.Path, traytest.ItemPath)
	}
	svc := reg.Service
	if title := traytest.Property(t, conn, svc, "Title").Value(); title != "Airlock" {
		t.Errorf("Title = %v", title)
	}
	m := traytest.WaitMenu(t, conn, svc, func(m traytest.MenuItem) bool {
		_, ok := m.Find("staging — disconnected")
		_, copyOK := m.Find("Copy proxy URL")
		return ok && copyOK
	}, "showed the clusters")
	for _, want := range []string{"prod — disconnected", "Connect all", "Disconnect all", "Open configuration", "Sign out", "Quit", "Sign in"} {
		if _, ok := m.Find(want); !ok {
			t.Errorf("menu lacks %q:\n%s", want, m)
		}
	}
	if it, _ := m.Find("Disconnect all"); it.Enabled {
		t.Errorf("Disconnect all enabled with nothing connected:\n%s", m)
	}
	prod, _ := m.Find("prod — ")
	if prod.Checked || prod.Toggle != "checkmark" {
		t.Errorf("prod item %+v, want an unchecked checkmark item", prod)
	}

	t.Run("toggle", func(t *testing.T) {
		traytest.Click(t, conn, svc, prod.ID)
		cl := d.WaitState(t, "prod", apitype.StateConnected)
		m := traytest.WaitMenu(t, conn, svc, func(m traytest.MenuItem) bool {
			it, ok := m.Find("prod — connected")
			return ok && it.Checked
		}, "showed prod connected and checked")
		it, _ := m.Find("prod — connected")
		if !strings.Contains(it.Label, cl.Listen) {
			t.Errorf("prod item %q lacks its address %s", it.Label, cl.Listen)
		}
		if icon := traytest.Property(t, conn, svc, "IconPixmap"); icon.Signature().String() != "a(iiay)" {
			t.Errorf("IconPixmap signature %s", icon.Signature())
		}
	})

	t.Run("refused notification", func(t *testing.T) {
		addr, user, pass := proxyParts(t, d.ProxyURL(t, "prod"))
		_, err := sockstest.Dial(context.Background(), addr, user, pass, "kubernetes.default.svc:443")
		if sockstest.Reply(err) != socks.ReplyNotAllowed {
			t.Fatalf("dial through a refusing edge: %v", err)
		}
		n := notes.Next(t, 10*time.Second, func(n traytest.Notification) bool { return strings.Contains(n.Summary, "refused") })
		if n.App != "Airlock" || !strings.Contains(n.Summary, "prod") || !strings.Contains(n.Body, "may not use this app") {
			t.Errorf("notification %+v", n)
		}
		traytest.WaitMenu(t, conn, svc, func(m traytest.MenuItem) bool {
			_, ok := m.Find("prod — error: access refused")
			return ok
		}, "showed prod refused")
	})

	t.Run("connect all and disconnect all", func(t *testing.T) {
		m := traytest.Layout(t, conn, svc)
		all, _ := m.Find("Connect all")
		traytest.Click(t, conn, svc, all.ID)
		d.WaitState(t, "staging", apitype.StateConnected)
		m = traytest.WaitMenu(t, conn, svc, func(m traytest.MenuItem) bool {
			it, ok := m.Find("Disconnect all")
			return ok && it.Enabled
		}, "enabled Disconnect all")
		none, _ := m.Find("Disconnect all")
		traytest.Click(t, conn, svc, none.ID)
		d.WaitState(t, "staging", apitype.StateDisconnected)
		d.WaitState(t, "prod", apitype.StateDisconnected)
		traytest.WaitMenu(t, conn, svc, func(m traytest.MenuItem) bool {
			_, a := m.Find("prod — disconnected")
			_, b := m.Find("staging — disconnected")
			return a && b
		}, "showed both clusters disconnected")
	})

	t.Run("copy proxy URL without a clipboard", func(t *testing.T) {
		if _, err := d.Client.Connect(context.Background(), "staging"); err != nil {
			t.Fatal(err)
		}
		url := d.ProxyURL(t, "staging")
		m := traytest.WaitMenu(t, conn, svc, func(m traytest.MenuItem) bool {
			cp, ok := m.Find("Copy proxy URL")
			if _, on := m.Find("staging — connected"); !ok || !on {
				return false
			}
			it, ok := cp.Find("staging")
			return ok && it.Enabled
		}, "enabled Copy proxy URL ▸ staging")
		cp, _ := m.Find("Copy proxy URL")
		it, _ := cp.Find("staging")
		traytest.Click(t, conn, svc, it.ID)
		// No DISPLAY: no clipboard, so the URL is shown instead.
		n := notes.Next(t, 10*time.Second, func(n traytest.Notification) bool { return strings.Contains(n.Summary, "Proxy URL") })
		if n.Body != url {
			t.Errorf("notification body %q, want the proxy URL", n.Body)
		}
		if strings.Contains(p.out.String(), url) {
			t.Errorf("the proxy URL (with its password) was logged")
		}
	})

	t.Run("quit", func(t *testing.T) {
		m := traytest.Layout(t, conn, svc)
		q, _ := m.Find("Quit")
		traytest.ClickLast(t, conn, svc, q.ID)
		if code := p.waitExit(t); code != 0 {
			t.Fatalf("exit %d after Quit\n%s", code, p.out.String())
		}
		// The tray attached to this daemon; it must keep running.
		if _, err := d.Client.Status(context.Background()); err != nil {
			t.Errorf("the daemon the tray attached to stopped with it: %v", err)
		}
		if traytest.HasOwner(t, conn, svc) {
			t.Errorf("the tray's bus name is still owned after quit")
		}
	})
	if n := strings.Count(p.out.String(), "StatusNotifierWatcher on the session bus"); n != 0 {
		t.Errorf("warned about a missing watcher with one present")
	}
}

// TestNoWatcher: without a StatusNotifierWatcher the tray says so once,
// keeps serving, notifications still work, and the icon registers when a
// watcher appears later.
func TestNoWatcher(t *testing.T) {
	bus := traytest.StartBus(t)
	notes := bus.OwnNotifications(t)
	conn := bus.Conn(t)
	d := startRefusingDaemon(t)
	env, _ := sandbox(t)
	p := startAirlock(t, bus.Env(env), "tray", "--socket", d.Socket, "--no-start")
	p.waitLog(t, "no StatusNotifierWatcher on the session bus")
	p.waitLog(t, "attached to the airlock daemon")

	// Still serving: a state change reaches a notification.
	if _, err := d.Client.Connect(context.Background(), "prod"); err != nil {
		t.Fatal(err)
	}
	addr, user, pass := proxyParts(t, d.ProxyURL(t, "prod"))
	sockstest.Dial(context.Background(), addr, user, pass, "kubernetes.default.svc:443")
	notes.Next(t, 10*time.Second, func(n traytest.Notification) bool { return strings.Contains(n.Summary, "refused") })

	// A panel starts: the item registers with it.
	watcher := bus.OwnWatcher(t)
	reg := watcher.Next(t, 10*time.Second)
	m := traytest.WaitMenu(t, conn, reg.Service, func(m traytest.MenuItem) bool {
		_, ok := m.Find("prod — error: access refused")
		return ok
	}, "showed prod refused")
	if _, ok := m.Find("staging — disconnected"); !ok {
		t.Errorf("menu:\n%s", m)
	}
	if n := strings.Count(p.out.String(), "no StatusNotifierWatcher on the session bus"); n != 1 {
		t.Errorf("said %d times that there is no watcher, want once", n)
	}
}

// TestNoBus: without a session bus the tray runs headless instead of
// crashing: it attaches, logs each change, and stops cleanly on SIGTERM.
func TestNoBus(t *testing.T) {
	d := startRefusingDaemon(t)
	env, _ := sandbox(t)
	p := startAirlock(t, env, "--socket", d.Socket, "--no-start")
	p.waitLog(t, "running headless")
	p.waitLog(t, "cluster prod — disconnected")
	if _, err := d.Client.Connect(context.Background(), "prod"); err != nil {
		t.Fatal(err)
	}
	p.waitLog(t, "cluster prod — connected")
	p.cmd.Process.Signal(syscall.SIGTERM)
	if code := p.waitExit(t); code != 0 {
		t.Fatalf("exit %d", code)
	}
	if strings.Contains(p.out.String(), "panic") {
		t.Errorf("panicked:\n%s", p.out.String())
	}
}

// TestStartsDaemon: with no daemon running the tray starts one as its
// child, restarts it when it dies, and stops it on Quit.
func TestStartsDaemon(t *testing.T) {
	bus := traytest.StartBus(t)
	watcher := bus.OwnWatcher(t)
	conn := bus.Conn(t)
	env, dir := sandbox(t)
	cfgPath := filepath.Join(dir, "config", "airlock", "config.yaml")
	os.MkdirAll(filepath.Dir(cfgPath), 0o700)
	os.WriteFile(cfgPath, []byte(`edges:
  - name: main
    address: 127.0.0.1:9
clusters:
  - name: prod
    app: k8s.prod.example.com
    token: t
    listen: 127.0.0.1:0
    autoconnect: false
`), 0o600)
	sock := filepath.Join(dir, "run", "airlock", "airlock.sock")
	p := startAirlock(t, bus.Env(env)) // no args: the default is the tray
	c := &client.Client{Socket: sock}

	pid := func() int {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		st, err := c.Status(ctx)
		if err != nil {
			return 0
		}
		return st.PID
	}
	testenv.Eventually(t, "the tray to start a daemon on "+sock, func() bool { return pid() != 0 })
	first := pid()
	if first == p.cmd.Process.Pid {
		t.Fatalf("the daemon runs in the tray's process")
	}
	reg := watcher.Next(t, 10*time.Second)
	traytest.WaitMenu(t, conn, reg.Service, func(m traytest.MenuItem) bool {
		_, ok := m.Find("prod — disconnected")
		return ok
	}, "showed the cluster of the daemon it started")

	// The daemon crashes: the tray starts a new one.
	syscall.Kill(first, syscall.SIGKILL)
	testenv.Eventually(t, "the tray to restart the daemon", func() bool { n := pid(); return n != 0 && n != first })
	second := pid()
	p.waitLog(t, "airlock daemon exited; restarting it")

	// Quit stops the daemon the tray started.
	m := traytest.WaitMenu(t, conn, reg.Service, func(m traytest.MenuItem) bool {
		_, ok := m.Find("prod — disconnected")
		return ok
	}, "showed the cluster again")
	q, _ := m.Find("Quit")
	traytest.ClickLast(t, conn, reg.Service, q.ID)
	if code := p.waitExit(t); code != 0 {
		t.Fatalf("exit %d after Quit", code)
	}
	if err := syscall.Kill(second, 0); err == nil {
		// It may be a zombie for a moment if reaping lags; wait for it.
		testenv.Eventually(t, "the daemon the tray started to end after Quit", func() bool { return syscall.Kill(second, 0) != nil || isZombie(second) })
	}
	if _, err := os.Stat(sock); !os.IsNotExist(err) {
		t.Errorf("socket left after the daemon stopped: %v", err)
	}
}

func isZombie(pid int) bool {
	b, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "stat"))
	if err != nil {
		return true
	}
	f := strings.Fields(string(b))
	return len(f) > 2 && f[2] == "Z"
}

// proxyParts splits socks5://USER:PASS@HOST:PORT.
func proxyParts(t testing.TB, proxyURL string) (addr, user, pass string) {
	t.Helper()
	rest, ok := strings.CutPrefix(proxyURL, "socks5://")
	at := strings.LastIndex(rest, "@")
	if !ok || at < 0 {
		t.Fatalf("proxy url %q", proxyURL)
	}
	user, pass, _ = strings.Cut(rest[:at], ":")
	return rest[at+1:], user, pass
}
