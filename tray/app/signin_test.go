package app_test

import (
	"context"
	"errors"
	"io"

	"strings"
	"sync"
	"testing"
	"time"

	"github.com/godbus/dbus/v5"

	"github.com/airlockhq/airlock/daemon"
	"github.com/airlockhq/airlock/daemon/apitype"
	"github.com/airlockhq/airlock/daemon/config"
	"github.com/airlockhq/airlock/daemon/daemontest"
	"github.com/airlockhq/airlock/daemon/signin/signintest"
	"github.com/airlockhq/airlock/daemon/socks/sockstest"
	"github.com/airlockhq/airlock/edge/edgetest"
	"github.com/airlockhq/airlock/tray/traytest"
)

// actionNote is one Notify call to actionServer.
type actionNote struct {
	ID            uint32
	Summary, Body string
	Actions       []string // key, label, key, label …
}

// actionServer is an org.freedesktop.Notifications server that shows
// actions, as desktop ones do, and lets the test choose one
// (ActionInvoked), as a person clicking the notification would.
type actionServer struct {
	conn *dbus.Conn
	ch   chan actionNote

	mu   sync.Mutex
	all  []actionNote
	next uint32
}

const (
	notifyName = "org.freedesktop.Notifications"
	notifyPath = dbus.ObjectPath("/org/freedesktop/Notifications")
)

func ownActionServer(t *testing.T, bus *traytest.Bus) *actionServer {
	t.Helper()
	conn := bus.Conn(t)
	s := &actionServer{conn: conn, ch: make(chan actionNote, 64)}
	if err := conn.Export(actionServerObj{s}, notifyPath, notifyName); err != nil {
		t.Fatal(err)
	}
	reply, err := conn.RequestName(notifyName, dbus.NameFlagDoNotQueue)
	if err != nil || reply != dbus.RequestNameReplyPrimaryOwner {
		t.Fatalf("own %s: %v (reply %d)", notifyName, err, reply)
	}
	return s
}

type actionServerObj struct{ s *actionServer }

func (o actionServerObj) Notify(app string, replaces uint32, icon, summary, body string, actions []string, hints map[string]dbus.Variant, timeout int32) (uint32, *dbus.Error) {
	o.s.mu.Lock()
	id := replaces
	if id == 0 {
		o.s.next++
		id = o.s.next
	}
	n := actionNote{ID: id, Summary: summary, Body: body, Actions: actions}
	o.s.all = append(o.s.all, n)
	o.s.mu.Unlock()
	select {
	case o.s.ch <- n:
	default:
	}
	return id, nil
}

func (o actionServerObj) CloseNotification(id uint32) *dbus.Error { return nil }

func (o actionServerObj) GetCapabilities() ([]string, *dbus.Error) {
	return []string{"body", "actions"}, nil
}

func (o actionServerObj) GetServerInformation() (string, string, string, string, *dbus.Error) {
	return "airlock-test", "airlock", "1", "1.2", nil
}

// next waits for a notification match accepts.
func (s *actionServer) nextNote(t *testing.T, within time.Duration, match func(actionNote) bool) actionNote {
	t.Helper()
	timeout := time.After(within)
	for {
		select {
		case n := <-s.ch:
			if match(n) {
				return n
			}
		case <-timeout:
			s.mu.Lock()
			all := append([]actionNote(nil), s.all...)
			s.mu.Unlock()
			t.Fatalf("no matching notification within %v; got %+v", within, all)
		}
	}
}

// invoke chooses action key on notification id.
func (s *actionServer) invoke(t *testing.T, id uint32, key string) {
	t.Helper()
	if err := s.conn.Emit(notifyPath, notifyName+".ActionInvoked", id, key); err != nil {
		t.Fatal(err)
	}
}

// flakyBrowser fails to open the first URL (a browser that is not there
// yet), then signs in through the edge's login page.
type flakyBrowser struct {
	*signintest.FormBrowser
	mu    sync.Mutex
	tries int
}

func (b *flakyBrowser) Open(ctx context.Context, u string) error {
	b.mu.Lock()
	b.tries++
	first := b.tries == 1
	b.mu.Unlock()
	if first {
		return errors.New("no browser window could be opened")
	}
	return b.FormBrowser.Open(ctx, u)
}

// heldDial dials through a cluster in the background, as kubectl does
// before sign-in, and echoes msg once the connection opens.
func heldDial(proxyURL, msg string, tb testing.TB) <-chan error {
	addr, user, pass := proxyParts(tb, proxyURL)
	done := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
		defer cancel()
		c, err := sockstest.Dial(ctx, addr, user, pass, "kubernetes.default.svc:443")
		if err != nil {
			done <- err
			return
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(10 * time.Second))
		if _, err := io.WriteString(c, msg); err != nil {
			done <- err
			return
		}
		buf := make([]byte, len(msg))
		if _, err := io.ReadFull(c, buf); err != nil {
			done <- err
			return
		}
		if string(buf) != msg {
			done <- errors.New("echo " + string(buf))
			return
		}
		done <- nil
	}()
	return done
}

func signInDaemon(t *testing.T, e *edgetest.Edge, edgeName string, opt func(*daemon.Options)) *daemontest.Daemon {
	t.Helper()
	cfg := &config.Config{
		Edges:    []config.Edge{{Name: edgeName, Address: e.Addr, CA: string(e.CAPEM), ServerName: e.ServerName, AuthURL: e.OAuthURL}},
		Clusters: []config.Cluster{{Name: "demo", App: "k8s.demo.test"}},
		SignIn:   config.SignIn{Wait: 80 * time.Second},
	}
	if opt == nil {
		return daemontest.Start(t, cfg)
	}
	return daemontest.Start(t, cfg, opt)
}

func waitDone(t *testing.T, done <-chan error, what string) {
	t.Helper()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
	case <-time.After(90 * time.Second):
		t.Fatalf("%s: no answer within 90s", what)
	}
}

// TestSignInNotification drives the real tray over a private session bus
// against daemons that need a sign-in the browser was not opened for: the
// tray pops a notification with the URL, and its "Sign in…" signs in
// (the daemon opens the browser now, and the held connection completes);
// for the device flow the notification carries the URL and the code.
func TestSignInNotification(t *testing.T) {
	bus := traytest.StartBus(t)
	bus.OwnWatcher(t)
	notes := ownActionServer(t, bus)
	e := edgetest.Start(t, edgetest.Options{})
	e.AddUser(t, "alice@example.com", "alice-password-1")
	e.EchoConnector(t, e.CreateTunnel(t, "demo", "k8s.demo.test"))

	t.Run("browser not opened: notification, then Sign in…", func(t *testing.T) {
		browser := &flakyBrowser{FormBrowser: signintest.NewFormBrowser(e.HTTPClient(), "alice@example.com", "alice-password-1")}
		t.Cleanup(browser.Wait)
		d := signInDaemon(t, e, "corp", func(o *daemon.Options) {
			o.SignIn.NoBrowser = false
			o.SignIn.Browser = browser
		})
		env, _ := sandbox(t)
		p := startAirlock(t, bus.Env(env), "tray", "--socket", d.Socket, "--no-start")
		p.waitLog(t, "attached to the airlock daemon")

		held := heldDial(d.ProxyURL(t, "demo"), "after sign-in", t)
		n := notes.nextNote(t, 30*time.Second, func(n actionNote) bool { return strings.Contains(n.Summary, "Sign in to Airlock (corp)") })
		st, err := d.Client.Status(ctxT(t))
		if err != nil {
			t.Fatal(err)
		}
		si := st.FindEdge("corp").SignIn
		if si == nil || si.State != apitype.SignInNeeded || si.BrowserOpened || si.URL == "" {
			t.Fatalf("daemon's sign-in %+v", si)
		}
		if !strings.Contains(n.Body, si.URL) {
			t.Errorf("notification body %q lacks the sign-in URL %s", n.Body, si.URL)
		}
		if !hasAction(n.Actions, "signin", "Sign in…") {
			t.Errorf("notification actions %q lack Sign in…", n.Actions)
		}

		notes.invoke(t, n.ID, "signin")
		waitDone(t, held, "the held connection")
		st, err = d.Client.Status(ctxT(t))
		if err != nil {
			t.Fatal(err)
		}
		if si := st.FindEdge("corp").SignIn; si.State != apitype.SignInSignedIn || si.Email != "alice@example.com" {
			t.Errorf("after Sign in…: %+v", si)
		}
		if opened := browser.Opened(); len(opened) != 1 {
			t.Errorf("the browser signed in %d times, want 1 (after Sign in…)", len(opened))
		}
		p.waitLog(t, "sign in chosen on a notification")
	})

	t.Run("device flow: URL and code", func(t *testing.T) {
		d := signInDaemon(t, e, "lab", nil) // daemontest: no browser
		env, _ := sandbox(t)
		p := startAirlock(t, bus.Env(env), "tray", "--socket", d.Socket, "--no-start")
		p.waitLog(t, "attached to the airlock daemon")

		held := heldDial(d.ProxyURL(t, "demo"), "after the device", t)
		n := notes.nextNote(t, 30*time.Second, func(n actionNote) bool { return strings.Contains(n.Summary, "Sign in to Airlock (lab)") })
		st, err := d.Client.Status(ctxT(t))
		if err != nil {
			t.Fatal(err)
		}
		si := st.FindEdge("lab").SignIn
		if si == nil || !si.Device || si.UserCode == "" {
			t.Fatalf("daemon's sign-in %+v", si)
		}
		if !strings.Contains(n.Body, si.URL) || !strings.Contains(n.Body, si.UserCode) {
			t.Errorf("notification body %q lacks the URL %s or the code %s", n.Body, si.URL, si.UserCode)
		}
		if len(n.Actions) != 0 {
			t.Errorf("device-flow notification offers actions %q", n.Actions)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if _, err := signintest.ApproveDevice(ctx, e.HTTPClient(), si.URL, si.UserCode, "alice@example.com", "alice-password-1"); err != nil {
			t.Fatalf("approve the device: %v", err)
		}
		waitDone(t, held, "the held connection")
	})
}

func hasAction(actions []string, key, label string) bool {
	for i := 0; i+1 < len(actions); i += 2 {
		if actions[i] == key && actions[i+1] == label {
			return true
		}
	}
	return false
}

func ctxT(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	return ctx
}
