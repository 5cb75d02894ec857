// Package traytest gives tests a private D-Bus session bus and the desktop
// parts a tray talks to on it: a StatusNotifierWatcher that records
// registrations (a mock of the panel), a notification server that records
// notifications, and helpers that read an item's properties and its
// com.canonical.dbusmenu menu and click its items the way a panel does.
//
// StartBus runs `dbus-daemon --session --nofork --print-address` and stops
// it at cleanup. Without dbus-daemon the test is skipped, or fails when
// CI=true.
package traytest

import (
	"bufio"
	"fmt"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/airlockhq/airlock/internal/desktop"
	"github.com/airlockhq/airlock/internal/testenv"
	"github.com/godbus/dbus/v5"
)

// Bus is a private session bus.
type Bus struct {
	// Address is the bus's address, for DBUS_SESSION_BUS_ADDRESS.
	Address string
	cmd     *exec.Cmd
}

// StartBus starts a private session bus for tb.
func StartBus(tb testing.TB) *Bus {
	tb.Helper()
	bin := testenv.LookPath(tb, "dbus-daemon", "apt-get install dbus-daemon")
	cmd := exec.Command(bin, "--session", "--nofork", "--nopidfile", "--print-address=1")
	out, err := cmd.StdoutPipe()
	if err != nil {
		tb.Fatal(err)
	}
	var stderr testenv.Buffer
	cmd.Stderr = &stderr // "Failed to set fd limit" and the like: shown only when the test fails
	if err := cmd.Start(); err != nil {
		tb.Fatalf("traytest: start dbus-daemon: %v", err)
	}
	tb.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
		if tb.Failed() && stderr.String() != "" {
			tb.Logf("dbus-daemon: %s", stderr.String())
		}
	})
	lines := make(chan string, 1)
	go func() {
		line, _ := bufio.NewReader(out).ReadString('\n')
		lines <- strings.TrimSpace(line)
	}()
	select {
	case addr := <-lines:
		if addr == "" {
			tb.Fatal("traytest: dbus-daemon printed no address")
		}
		return &Bus{Address: addr, cmd: cmd}
	case <-time.After(10 * time.Second):
		tb.Fatal("traytest: dbus-daemon printed no address within 10s")
	}
	return nil
}

// Env returns environ with DBUS_SESSION_BUS_ADDRESS set to the bus.
func (b *Bus) Env(environ []string) []string {
	out := make([]string, 0, len(environ)+1)
	for _, kv := range environ {
		if !strings.HasPrefix(kv, "DBUS_SESSION_BUS_ADDRESS=") {
			out = append(out, kv)
		}
	}
	return append(out, "DBUS_SESSION_BUS_ADDRESS="+b.Address)
}

// Conn returns a new connection to the bus, closed at cleanup.
func (b *Bus) Conn(tb testing.TB) *dbus.Conn {
	tb.Helper()
	conn, err := dbus.Connect(b.Address)
	if err != nil {
		tb.Fatalf("traytest: connect to the bus: %v", err)
	}
	tb.Cleanup(func() { conn.Close() })
	return conn
}

// HasOwner reports whether name has an owner.
func HasOwner(tb testing.TB, conn *dbus.Conn, name string) bool {
	tb.Helper()
	var has bool
	if err := conn.BusObject().Call("org.freedesktop.DBus.NameHasOwner", 0, name).Store(&has); err != nil {
		tb.Fatalf("traytest: NameHasOwner: %v", err)
	}
	return has
}

// own requests name on conn, failing the test when it is taken.
func own(tb testing.TB, conn *dbus.Conn, name string) {
	tb.Helper()
	reply, err := conn.RequestName(name, dbus.NameFlagDoNotQueue)
	if err != nil || reply != dbus.RequestNameReplyPrimaryOwner {
		tb.Fatalf("traytest: own %s: %v (reply %d)", name, err, reply)
	}
}

// WatcherProperty reads a property of the StatusNotifierWatcher on conn,
// such as IsStatusNotifierHostRegistered or
// RegisteredStatusNotifierItems.
func WatcherProperty(tb testing.TB, conn *dbus.Conn, name string) any {
	tb.Helper()
	v, err := conn.Object(desktop.WatcherName, "/StatusNotifierWatcher").GetProperty(desktop.WatcherName + "." + name)
	if err != nil {
		return fmt.Errorf("traytest: watcher property %s: %w", name, err)
	}
	return v.Value()
}
