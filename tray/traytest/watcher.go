package traytest

import (
	"sync"
	"testing"
	"time"

	"github.com/godbus/dbus/v5"

	"github.com/airlockhq/airlock/internal/desktop"
)

// Registration is one RegisterStatusNotifierItem call.
type Registration struct {
	// Service is the caller's unique bus name; Path the object path it
	// passed (systray passes "/StatusNotifierItem").
	Service string
	Path    string
	At      time.Time
}

// Watcher is a StatusNotifierWatcher owned by the test: the part of a
// panel that items register with.
type Watcher struct {
	conn *dbus.Conn
	regs chan Registration

	mu  sync.Mutex
	all []Registration
}

// OwnWatcher owns org.kde.StatusNotifierWatcher on a new connection and
// records registrations until cleanup.
func (b *Bus) OwnWatcher(tb testing.TB) *Watcher {
	tb.Helper()
	conn := b.Conn(tb)
	w := &Watcher{conn: conn, regs: make(chan Registration, 16)}
	if err := conn.Export(watcherObj{w}, "/StatusNotifierWatcher", desktop.WatcherName); err != nil {
		tb.Fatal(err)
	}
	own(tb, conn, desktop.WatcherName)
	return w
}

type watcherObj struct{ w *Watcher }

// RegisterStatusNotifierItem pairs the path with the caller, as panels do.
func (o watcherObj) RegisterStatusNotifierItem(sender dbus.Sender, service string) *dbus.Error {
	r := Registration{Service: string(sender), Path: service, At: time.Now()}
	o.w.mu.Lock()
	o.w.all = append(o.w.all, r)
	o.w.mu.Unlock()
	select {
	case o.w.regs <- r:
	default:
	}
	return nil
}

// RegisterStatusNotifierHost accepts a host.
func (o watcherObj) RegisterStatusNotifierHost(service string) *dbus.Error { return nil }

// Next waits for the next registration.
func (w *Watcher) Next(tb testing.TB, within time.Duration) Registration {
	tb.Helper()
	select {
	case r := <-w.regs:
		return r
	case <-time.After(within):
		tb.Fatalf("traytest: no RegisterStatusNotifierItem within %v", within)
	}
	return Registration{}
}

// Registrations returns every registration so far.
func (w *Watcher) Registrations() []Registration {
	w.mu.Lock()
	defer w.mu.Unlock()
	return append([]Registration(nil), w.all...)
}

// Notification is one Notify call.
type Notification struct {
	App, Summary, Body string
	Replaces           uint32
}

// Notifications is an org.freedesktop.Notifications server owned by the
// test.
type Notifications struct {
	ch chan Notification

	mu   sync.Mutex
	all  []Notification
	next uint32
}

// OwnNotifications owns org.freedesktop.Notifications on a new connection
// and records each notification.
func (b *Bus) OwnNotifications(tb testing.TB) *Notifications {
	tb.Helper()
	conn := b.Conn(tb)
	n := &Notifications{ch: make(chan Notification, 64)}
	if err := conn.Export(notifyObj{n}, "/org/freedesktop/Notifications", "org.freedesktop.Notifications"); err != nil {
		tb.Fatal(err)
	}
	own(tb, conn, "org.freedesktop.Notifications")
	return n
}

type notifyObj struct{ n *Notifications }

// Notify records a notification.
func (o notifyObj) Notify(app string, replaces uint32, icon, summary, body string, actions []string, hints map[string]dbus.Variant, timeout int32) (uint32, *dbus.Error) {
	nt := Notification{App: app, Summary: summary, Body: body, Replaces: replaces}
	o.n.mu.Lock()
	o.n.all = append(o.n.all, nt)
	o.n.next++
	id := o.n.next
	o.n.mu.Unlock()
	select {
	case o.n.ch <- nt:
	default:
	}
	return id, nil
}

// GetCapabilities answers like a minimal server.
func (o notifyObj) GetCapabilities() ([]string, *dbus.Error) { return []string{"body"}, nil }

// GetServerInformation answers like a minimal server.
func (o notifyObj) GetServerInformation() (string, string, string, string, *dbus.Error) {
	return "traytest", "airlock", "1", "1.2", nil
}

// Next waits for a notification whose summary contains substr.
func (n *Notifications) Next(tb testing.TB, within time.Duration, match func(Notification) bool) Notification {
	tb.Helper()
	timeout := time.After(within)
	for {
		select {
		case nt := <-n.ch:
			if match(nt) {
				return nt
			}
		case <-timeout:
			tb.Fatalf("traytest: no matching notification within %v; got %+v", within, n.All())
		}
	}
}

// All returns every notification so far.
func (n *Notifications) All() []Notification {
	n.mu.Lock()
	defer n.mu.Unlock()
	return append([]Notification(nil), n.all...)
}
