package app

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

// errNoBus says there is no session bus to connect to.
var errNoBus = errors.New("no D-Bus session bus: DBUS_SESSION_BUS_ADDRESS is unset and $XDG_RUNTIME_DIR/bus does not exist")

// sessionBusAddress returns the session bus's address the way godbus finds
// it (DBUS_SESSION_BUS_ADDRESS, else $XDG_RUNTIME_DIR/bus), without ever
// autolaunching a bus with dbus-launch: that would leave a private bus
// behind that no panel is on.
func sessionBusAddress(getenv func(string) string) (string, error) {
	if a := getenv("DBUS_SESSION_BUS_ADDRESS"); a != "" && a != "disabled:" {
		return a, nil
	}
	if dir := getenv("XDG_RUNTIME_DIR"); dir != "" {
		p := filepath.Join(dir, "bus")
		if fi, err := os.Stat(p); err == nil && fi.Mode()&os.ModeSocket != 0 {
			return "unix:path=" + p, nil
		}
	}
	return "", errNoBus
}

// connectPrivate opens a private connection to the session bus (never the
// shared one systray uses).
func connectPrivate(getenv func(string) string) (*dbus.Conn, error) {
	addr, err := sessionBusAddress(getenv)
	if err != nil {
		return nil, err
	}
	conn, err := dbus.Connect(addr)
	if err != nil {
		return nil, fmt.Errorf("connect to the session bus at %s: %w", addr, err)
	}
	return conn, nil
}

// hasOwner reports whether name has an owner on conn's bus.
func hasOwner(conn *dbus.Conn, name string) (bool, error) {
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
	r.BusAddress, r.BusErr = sessionBusAddress(getenv)
	if r.BusErr != nil {
		return r
	}
	conn, err := connectPrivate(getenv)
	if err != nil {
		r.BusErr = err
		return r
	}
	defer conn.Close()
	r.Bus = true
	if r.Watcher, err = hasOwner(conn, WatcherName); err != nil {
		r.BusErr = err
	}
	r.Notifier, _ = hasOwner(conn, notifyName)
	return r
}
