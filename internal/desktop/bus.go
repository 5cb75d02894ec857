// Package desktop finds the desktop session's D-Bus without ever
// autolaunching one, and probes what it offers a tray app: a
// StatusNotifierWatcher (the panel that shows tray icons) and a notification
// server. It uses godbus only, so `airlock doctor` can ask without linking
// the tray.
package desktop

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/godbus/dbus/v5"
)

// WatcherName is the bus name of the StatusNotifierWatcher: the panel (or
// GNOME's AppIndicator extension) that shows tray icons.
const WatcherName = "org.kde.StatusNotifierWatcher"

// NotifyName is the bus name and interface of the notification server.
const NotifyName = "org.freedesktop.Notifications"

// ErrNoBus says there is no session bus to connect to.
var ErrNoBus = errors.New("no D-Bus session bus: DBUS_SESSION_BUS_ADDRESS is unset and $XDG_RUNTIME_DIR/bus does not exist")

// SessionBusAddress returns the session bus's address the way godbus finds
// it (DBUS_SESSION_BUS_ADDRESS, else $XDG_RUNTIME_DIR/bus), without ever
// autolaunching a bus with dbus-launch: that would leave a private bus
// behind that no panel is on.
func SessionBusAddress(getenv func(string) string) (string, error) {
	if a := getenv("DBUS_SESSION_BUS_ADDRESS"); a != "" && a != "disabled:" {
		return a, nil
	}
	if dir := getenv("XDG_RUNTIME_DIR"); dir != "" {
		p := filepath.Join(dir, "bus")
		if fi, err := os.Stat(p); err == nil && fi.Mode()&os.ModeSocket != 0 {
			return "unix:path=" + p, nil
		}
	}
	return "", ErrNoBus
}

// ConnectPrivate opens a private connection to the session bus (never the
// shared one systray uses).
func ConnectPrivate(getenv func(string) string) (*dbus.Conn, error) {
	addr, err := SessionBusAddress(getenv)
	if err != nil {
		return nil, err
	}
	conn, err := dbus.Connect(addr)
	if err != nil {
		return nil, fmt.Errorf("connect to the session bus at %s: %w", addr, err)
	}
	return conn, nil
}

// HasOwner reports whether name has an owner on conn's bus.
func HasOwner(conn *dbus.Conn, name string) (bool, error) {
	var has bool
	err := conn.BusObject().Call("org.freedesktop.DBus.NameHasOwner", 0, name).Store(&has)
	if err != nil {
		return false, fmt.Errorf("NameHasOwner(%s): %w", name, err)
	}
	return has, nil
}

// HostReport is what the desktop offers a tray, for `airlock doctor`.
type HostReport struct {
	Bus        bool
	BusErr     error
	Watcher    bool
	Notifier   bool // org.freedesktop.Notifications has an owner
	BusAddress string
}

// ProbeHost checks for a session bus, a StatusNotifierWatcher and a
// notification server, over a private connection it closes again.
func ProbeHost(getenv func(string) string) HostReport {
	var r HostReport
	r.BusAddress, r.BusErr = SessionBusAddress(getenv)
	if r.BusErr != nil {
		return r
	}
	conn, err := ConnectPrivate(getenv)
	if err != nil {
		r.BusErr = err
		return r
	}
	defer conn.Close()
	r.Bus = true
	if r.Watcher, err = HasOwner(conn, WatcherName); err != nil {
		r.BusErr = err
	}
	r.Notifier, _ = HasOwner(conn, NotifyName)
	return r
}
