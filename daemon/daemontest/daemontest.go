// Package daemontest starts a real daemon (core, SOCKS5 listeners, control
// API on a private unix socket) inside a test, for this module's end-to-end
// tests: Start(tb, cfg) returns once the control API answers and stops the
// daemon at cleanup, failing the test if it does not stop cleanly.
package daemontest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/airlockhq/airlock/daemon"
	"github.com/airlockhq/airlock/daemon/apitype"
	"github.com/airlockhq/airlock/daemon/client"
	"github.com/airlockhq/airlock/daemon/config"
	"github.com/airlockhq/airlock/daemon/keychain"
	"github.com/airlockhq/airlock/internal/testenv"
)

// Daemon is a daemon running in the test's process.
type Daemon struct {
	*daemon.Daemon
	// Client talks to it over its control socket.
	Client *client.Client
	// Socket is its control socket's path.
	Socket string
	// Kubeconfig is the first kubeconfig file the daemon follows.
	Kubeconfig string

	logs *buffer
}

// Option adjusts the daemon's options before it starts.
type Option func(*daemon.Options)

// Start validates cfg, starts a daemon with it and waits until its control
// API answers. Clusters without a listen address get 127.0.0.1:0 (a free
// port) instead of the fixed defaults; their actual address is in the
// status. The daemon's kubeconfig sync follows a file of its own, Kubeconfig
// (absent until a test writes it), never the user's; an Option may change
// that. The daemon's logs are kept (see Logs) and printed if the test fails.
func Start(tb testing.TB, cfg *config.Config, opts ...Option) *Daemon {
	tb.Helper()
	for i := range cfg.Clusters {
		if cfg.Clusters[i].Listen == "" {
			cfg.Clusters[i].Listen = "127.0.0.1:0"
		}
	}
	dir, err := os.MkdirTemp("", "airlock-test-") // short: socket paths are limited to ~100 bytes
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { os.RemoveAll(dir) })
	logs := &buffer{}
	o := daemon.Options{
		Config:  cfg,
		Socket:  filepath.Join(dir, "run", "airlock.sock"),
		Logger:  slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
		Version: "test",
	}
	o.Kubeconfig.Paths = []string{filepath.Join(dir, "kubeconfig")}
	// Sign-in never touches the user's state folder or keychain, and opens
	// no browser unless an Option says so.
	o.SignIn.StateDir = filepath.Join(dir, "state")
	o.SignIn.Keychain = keychain.NewFile(filepath.Join(dir, "keychain.json"))
	o.SignIn.NoBrowser = true
	for _, opt := range opts {
		opt(&o)
	}
	d, err := daemon.New(o)
	if err != nil {
		tb.Fatalf("daemontest: %v", err)
	}
	td := &Daemon{Daemon: d, Client: &client.Client{Socket: o.Socket}, Socket: o.Socket, logs: logs}
	if len(o.Kubeconfig.Paths) > 0 {
		td.Kubeconfig = o.Kubeconfig.Paths[0]
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- d.Run(ctx) }()
	tb.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				tb.Errorf("daemontest: daemon stopped with %v", err)
			}
		case <-time.After(15 * time.Second):
			tb.Errorf("daemontest: daemon did not stop within 15s of cancel")
		}
		if tb.Failed() {
			tb.Logf("daemon logs:\n%s", logs.String())
		}
	})
	testenv.Eventually(tb, "daemontest: the control API", func() error {
		sctx, scancel := context.WithTimeout(context.Background(), time.Second)
		_, err := td.Client.Status(sctx)
		scancel()
		if err == nil {
			return nil
		}
		select {
		case rerr := <-done:
			done <- rerr
			return testenv.Stop(fmt.Errorf("the daemon exited before answering: %v", rerr))
		default:
		}
		return err
	})
	return td
}

// Logs returns everything the daemon logged so far.
func (d *Daemon) Logs() string { return d.logs.String() }

// Cluster returns a cluster's current state, failing the test if it does
// not exist.
func (d *Daemon) Cluster(tb testing.TB, name string) apitype.Cluster {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	st, err := d.Client.Status(ctx)
	if err != nil {
		tb.Fatalf("daemontest: status: %v", err)
	}
	cl := st.FindCluster(name)
	if cl == nil {
		tb.Fatalf("daemontest: no cluster %q", name)
	}
	return *cl
}

// WaitState waits until cluster name is in state st and returns it.
func (d *Daemon) WaitState(tb testing.TB, name string, st apitype.State) apitype.Cluster {
	tb.Helper()
	return d.waitCluster(tb, name, func(cl apitype.Cluster) bool { return cl.State == st },
		func(cl apitype.Cluster) string {
			return fmt.Sprintf("cluster %s is %s (%+v), want %s", name, cl.State, cl.Problem, st)
		})
}

// ProxyURL waits until cluster name listens and returns its proxy URL
// (socks5://USER:PASS@127.0.0.1:PORT), for a kubeconfig's proxy-url.
func (d *Daemon) ProxyURL(tb testing.TB, name string) string {
	tb.Helper()
	return d.waitCluster(tb, name, func(cl apitype.Cluster) bool { return cl.ProxyURL != "" },
		func(cl apitype.Cluster) string {
			return fmt.Sprintf("cluster %s has no listener (state %s, %+v)", name, cl.State, cl.Problem)
		}).ProxyURL
}

// waitCluster polls cluster name until ok accepts it; when it does not by
// the test's deadline, it fails the test with what says.
func (d *Daemon) waitCluster(tb testing.TB, name string, ok func(apitype.Cluster) bool, what func(apitype.Cluster) string) apitype.Cluster {
	tb.Helper()
	var cl apitype.Cluster
	testenv.Eventually(tb, "daemontest: cluster "+name, func() error {
		if cl = d.Cluster(tb, name); !ok(cl) {
			return errors.New(what(cl))
		}
		return nil
	})
	return cl
}

type buffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *buffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *buffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}
