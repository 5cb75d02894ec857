package app

import (
	"fmt"
	"sync"

	"github.com/godbus/dbus/v5"
)

// dbusNotifier sends notes to org.freedesktop.Notifications over its own
// private session-bus connection (never the shared dbus.SessionBus() that
// systray uses), replacing the previous note with the same key.
type dbusNotifier struct {
	conn *dbus.Conn
	icon string // an icon file path, or ""

	mu  sync.Mutex
	ids map[string]uint32
}

const (
	notifyName = "org.freedesktop.Notifications"
	notifyPath = "/org/freedesktop/Notifications"
)

func newDBusNotifier(conn *dbus.Conn, icon string) *dbusNotifier {
	return &dbusNotifier{conn: conn, icon: icon, ids: map[string]uint32{}}
}

func (d *dbusNotifier) Notify(n Note) error {
	d.mu.Lock()
	replaces := d.ids[n.Key]
	d.mu.Unlock()
	urgency := byte(1)
	if n.Urgent {
		urgency = 2
	}
	hints := map[string]dbus.Variant{
		"urgency":       dbus.MakeVariant(urgency),
		"desktop-entry": dbus.MakeVariant("airlock"),
	}
	var id uint32
	call := d.conn.Object(notifyName, notifyPath).Call(notifyName+".Notify", 0,
		"Airlock", replaces, d.icon, n.Summary, n.Body, []string{}, hints, int32(-1))
	if err := call.Store(&id); err != nil {
		return fmt.Errorf("desktop notification: %w", err)
	}
	d.mu.Lock()
	d.ids[n.Key] = id
	d.mu.Unlock()
	return nil
}
