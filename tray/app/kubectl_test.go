package app_test

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/airlockhq/airlock/daemon/apitype"
	"github.com/airlockhq/airlock/daemon/config"
	"github.com/airlockhq/airlock/daemon/daemontest"
	"github.com/airlockhq/airlock/daemon/socks/sockstest"
	"github.com/airlockhq/airlock/edge/edgetest"
	"github.com/airlockhq/airlock/internal/systest/connectortest"
	"github.com/airlockhq/airlock/internal/systest/kapitest"
	"github.com/airlockhq/airlock/internal/testenv"
	"github.com/airlockhq/airlock/tray/traytest"
)

// TestClickThenKubectl is the tray's end-to-end test: a real
// kube-apiserver, edge and connector, a daemon, and the real tray on a
// private session bus with a mock panel. Clicking the cluster in the menu
// brings its SOCKS listener up, kubectl works through it, and the menu
// item shows "connected".
func TestClickThenKubectl(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a kube-apiserver")
	}
	kubectl := testenv.LookPath(t, "kubectl", "apt-get install kubectl")
	bus := traytest.StartBus(t)
	watcher := bus.OwnWatcher(t)
	conn := bus.Conn(t)
	kapi := kapitest.Start(t, kapitest.Options{})

	e := edgetest.Start(t, edgetest.Options{})
	tun := e.CreateTunnel(t, "demo", "k8s.demo.test")
	connectortest.Start(t, e, tun, "k8s.demo.test=tcp://"+kapi.Addr)
	no := false
	d := daemontest.Start(t, &config.Config{
		Edges: []config.Edge{{Name: "test", Address: e.Addr, CA: string(e.CAPEM), ServerName: e.ServerName}},
		Clusters: []config.Cluster{{
			Name: "demo", App: "k8s.demo.test", Autoconnect: &no,
			Token: e.MintToken(t, "k8s.demo.test", "alice@example.com", time.Hour),
		}},
	})
	env, dir := sandbox(t)
	startAirlock(t, bus.Env(env), "--socket", d.Socket, "--no-start")

	reg := watcher.Next(t, 20*time.Second)
	m := traytest.WaitMenu(t, conn, reg.Service, func(m traytest.MenuItem) bool {
		_, ok := m.Find("demo — disconnected")
		return ok
	}, "showed demo disconnected")
	item, _ := m.Find("demo — ")
	if cl := d.Cluster(t, "demo"); cl.ProxyURL != "" {
		t.Fatalf("demo listens before the click: %+v", cl)
	}
	traytest.Click(t, conn, reg.Service, item.ID)

	// The SOCKS listener comes up.
	proxyURL := d.ProxyURL(t, "demo")
	addr, user, pass := proxyParts(t, proxyURL)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := sockstest.Dial(ctx, addr, user, pass, "kubernetes.default.svc:443"); err != nil && sockstest.Reply(err) == 0 {
		t.Fatalf("the SOCKS listener at %s does not answer: %v", addr, err)
	}

	// kubectl works through it: the kubeconfig names a server that
	// resolves nowhere here, so only Airlock can carry the request.
	kc := filepath.Join(dir, "kubeconfig")
	if err := kapi.Kubeconfig(kc, proxyURL); err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(kc)
	os.WriteFile(kc, []byte(strings.Replace(string(b), kapi.URL, "https://kubernetes.default.svc:443", 1)), 0o600)
	var out []byte
	testenv.Eventually(t, "kubectl through the tray's cluster", func() error { // until the connector has joined the edge
		var err error
		if out, err = exec.Command(kubectl, "--kubeconfig", kc, "--request-timeout=10s", "get", "namespaces", "-o", "name").CombinedOutput(); err != nil {
			return fmt.Errorf("%v\n%s", err, out)
		}
		return nil
	})
	if !strings.Contains(string(out), "namespace/default") {
		t.Fatalf("kubectl get namespaces: %s", out)
	}

	d.WaitState(t, "demo", apitype.StateConnected)
	m = traytest.WaitMenu(t, conn, reg.Service, func(m traytest.MenuItem) bool {
		it, ok := m.Find("demo — connected")
		return ok && it.Checked
	}, "showed demo connected and checked")
	if it, _ := m.Find("demo — connected"); !strings.Contains(it.Label, addr) {
		t.Errorf("menu item %q lacks the listener's address %s", it.Label, addr)
	}
}
