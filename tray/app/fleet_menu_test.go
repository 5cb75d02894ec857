package app_test

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/airlockhq/airlock/daemon"
	"github.com/airlockhq/airlock/daemon/apitype"
	"github.com/airlockhq/airlock/daemon/catalogue"
	"github.com/airlockhq/airlock/daemon/config"
	"github.com/airlockhq/airlock/daemon/core"
	"github.com/airlockhq/airlock/daemon/daemontest"
	"github.com/airlockhq/airlock/internal/testenv"
	"github.com/airlockhq/airlock/tray/traytest"
)

// TestFleetMenu: a daemon that joined an edge shows each of the
// catalogue's clusters with its toggle, "Sync now" and "Leave fleet"; the
// real tray over a private session bus and a mock panel; "Leave fleet"
// takes the clusters out of the menu and says so in a notification.
func TestFleetMenu(t *testing.T) {
	bus := traytest.StartBus(t)
	watcher := bus.OwnWatcher(t)
	notes := bus.OwnNotifications(t)
	conn := bus.Conn(t)

	dir := t.TempDir()
	path := filepath.Join(dir, "config", "config.yaml")
	if err := config.AddEdge(path, config.Edge{Name: "acme", Addresses: []string{"127.0.0.1:7844"}, AuthURL: "https://127.0.0.1:7843", Catalogue: true}); err != nil {
		t.Fatal(err)
	}
	state := filepath.Join(dir, "state")
	store := catalogue.Store{Dir: filepath.Join(state, "catalogue")}
	if err := store.Save(&catalogue.Cached{Edge: "acme", Synced: time.Now(), Apps: []catalogue.App{
		{Hostname: "k8s.demo.example.com", Name: "demo"}, {Hostname: "k8s.lab.example.com", Name: "lab"},
	}}); err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	d := daemontest.Start(t, cfg, func(o *daemon.Options) {
		o.Core.NewEdge = func(config.Edge, *slog.Logger) core.Edge { return refusingEdge{} }
		o.Join.StateDir = state
		o.Join.SyncInterval = -1
	})
	env, _ := sandbox(t)
	startAirlock(t, bus.Env(env), "tray", "--socket", d.Socket, "--no-start")
	svc := watcher.Next(t, 20*time.Second).Service

	// The tray sets its items one call at a time and the panel may read
	// the menu between two of them (stop 20's CI saw the clusters before
	// "Sync now" was enabled): wait for the whole picture.
	m := traytest.WaitMenu(t, conn, svc, func(m traytest.MenuItem) bool {
		_, a := m.Find("acme-demo — ")
		_, b := m.Find("acme-lab — ")
		sync, c := m.Find("Sync now")
		leave, d := m.Find("Leave fleet acme")
		return a && b && c && sync.Enabled && d && leave.Enabled
	}, "showed the catalogue's clusters, an enabled Sync now and Leave fleet acme")
	if it, _ := m.Find("acme-demo — "); it.Toggle != "checkmark" {
		t.Errorf("acme-demo item %+v, want a toggle", it)
	}

	// The toggle turns the cluster off, and the daemon remembers it for
	// the joined edge (across syncs and restarts).
	demo, _ := m.Find("acme-demo — ")
	if !demo.Checked {
		t.Fatalf("acme-demo %+v, want it on (autoconnect)", demo)
	}
	traytest.Click(t, conn, svc, demo.ID)
	d.WaitState(t, "acme-demo", apitype.StateDisconnected)
	testenv.Eventually(t, "the status to show acme-demo turned off", func() error {
		st, err := d.Client.Status(context.Background())
		if err != nil {
			return err
		}
		for _, a := range st.Catalogues[0].Apps {
			if a.Cluster == "acme-demo" && !a.Enabled {
				return nil
			}
		}
		return fmt.Errorf("catalogue %+v", st.Catalogues)
	})

	leave, _ := m.Find("Leave fleet acme")
	traytest.Click(t, conn, svc, leave.ID)
	n := notes.Next(t, 20*time.Second, func(n traytest.Notification) bool { return strings.Contains(n.Summary, "Left") })
	if !strings.Contains(n.Summary, "acme") {
		t.Errorf("notification %+v", n)
	}
	traytest.WaitMenu(t, conn, svc, func(m traytest.MenuItem) bool {
		_, a := m.Find("acme-demo — ")
		it, ok := m.Find("Sync now")
		return !a && (!ok || !it.Visible)
	}, "took the fleet's clusters and Sync now out of the menu")
	if _, err := os.Stat(path); !os.IsNotExist(err) {
		t.Errorf("the configuration join wrote is still there after leave: %v", err)
	}
}
