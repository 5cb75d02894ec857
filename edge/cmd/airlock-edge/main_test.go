package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/airlockhq/airlock/edge"
	"github.com/airlockhq/airlock/internal/credentials"
)

func runCmd(t *testing.T, args ...string) (string, string, error) {
	t.Helper()
	var out, errOut bytes.Buffer
	err := run(context.Background(), args, strings.NewReader(""), &out, &errOut)
	return out.String(), errOut.String(), err
}

func TestCommands(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "state")
	if _, _, err := runCmd(t, "init", "--dir", dir, "--hostname", "edge.example.test"); err != nil {
		t.Fatal(err)
	}
	out, _, err := runCmd(t, "tunnel", "create", "demo", "--hostname", "k8s.demo.test", "--allow-email-domain", "example.com", "--dir", dir)
	if err != nil {
		t.Fatal(err)
	}
	credsFile := filepath.Join(dir, "tunnels", "demo.json")
	if !strings.Contains(out, credsFile) {
		t.Fatalf("tunnel create output does not name the credentials file:\n%s", out)
	}
	c, err := credentials.ReadCredentials(credsFile)
	if err != nil {
		t.Fatal(err)
	}
	if c.ServerName != "edge.example.test" {
		t.Fatalf("server name %q", c.ServerName)
	}
	out, _, err = runCmd(t, "token", "mint", "--app", "k8s.demo.test", "--email", "alice@example.com", "--ttl", "1h", "--config", filepath.Join(dir, "config.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if tok := strings.TrimSpace(out); strings.Count(tok, ".") != 2 || strings.Contains(tok, "\n") {
		t.Fatalf("token mint printed %q", out)
	}

	bad := []struct {
		name  string
		args  []string
		usage bool
		msg   string
	}{
		{"no command", nil, true, "no command"},
		{"unknown command", []string{"frobnicate"}, true, "frobnicate"},
		{"tunnel without create", []string{"tunnel"}, true, "create"},
		{"tunnel without name", []string{"tunnel", "create", "--dir", dir, "--hostname", "a.test"}, true, "NAME"},
		{"tunnel without hostname", []string{"tunnel", "create", "x", "--dir", dir}, false, "--hostname"},
		{"mint without email", []string{"token", "mint", "--app", "k8s.demo.test", "--dir", dir}, true, "--email"},
		{"mint unknown app", []string{"token", "mint", "--app", "nope.test", "--email", "a@example.com", "--dir", dir}, false, "nope.test"},
		{"init twice", []string{"init", "--dir", dir}, false, "--force"},
		{"serve missing config", []string{"serve", "--dir", filepath.Join(dir, "nope")}, false, "no such file"},
	}
	for _, tc := range bad {
		t.Run(tc.name, func(t *testing.T) {
			_, _, err := runCmd(t, tc.args...)
			var ue usageError
			if err == nil || errors.As(err, &ue) != tc.usage || !strings.Contains(err.Error(), tc.msg) {
				t.Fatalf("got %v, want a usage=%v error naming %q", err, tc.usage, tc.msg)
			}
		})
	}
}

func TestDefaultDir(t *testing.T) {
	t.Setenv("XDG_STATE_HOME", "/x/state")
	if d := defaultDir(); d != "/x/state/airlock-edge" {
		t.Fatalf("defaultDir = %q", d)
	}
	t.Setenv("XDG_STATE_HOME", "")
	t.Setenv("HOME", "/home/u")
	if d := defaultDir(); d != "/home/u/.local/state/airlock-edge" {
		t.Fatalf("defaultDir = %q", d)
	}
}

// TestServeSIGTERM runs the real binary and checks that SIGTERM gives a
// clean exit 0.
func TestServeSIGTERM(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary")
	}
	bin := filepath.Join(t.TempDir(), "airlock-edge")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	dir := filepath.Join(t.TempDir(), "state")
	if out, err := exec.Command(bin, "init", "--dir", dir, "--listen", "127.0.0.1:0", "--admin-listen", "127.0.0.1:0", "--http-listen", "127.0.0.1:0").CombinedOutput(); err != nil {
		t.Fatalf("init: %v\n%s", err, out)
	}
	cmd := exec.Command(bin, "serve", "--dir", dir)
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	serving, hupReloaded, reloaded := make(chan struct{}), make(chan struct{}), make(chan struct{})
	var (
		logsMu sync.Mutex
		logs   bytes.Buffer
	)
	logsText := func() string { logsMu.Lock(); defer logsMu.Unlock(); return logs.String() }
	logDone := make(chan struct{})
	go func() {
		defer close(logDone)
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			logsMu.Lock()
			logs.WriteString(sc.Text() + "\n")
			logsMu.Unlock()
			if strings.Contains(sc.Text(), "edge serving") {
				close(serving)
			}
			if strings.Contains(sc.Text(), "edge config reloaded") {
				select {
				case <-hupReloaded:
				default:
					close(hupReloaded)
				}
			}
			if strings.Contains(sc.Text(), "config file changed; reloaded") {
				select {
				case <-reloaded:
				default:
					close(reloaded)
				}
			}
		}
	}()
	select {
	case <-serving:
	case <-time.After(20 * time.Second):
		t.Fatal("the edge did not start serving")
	}
	if err := cmd.Process.Signal(syscall.SIGHUP); err != nil { // reload, keeps serving
		t.Fatal(err)
	}
	select {
	case <-hupReloaded:
	case <-time.After(20 * time.Second):
		t.Fatalf("the edge did not reload on SIGHUP:\n%s", logsText())
	}
	// A change of the config file reloads it without a signal.
	if _, err := edge.RotateKey(filepath.Join(dir, "config.yaml")); err != nil {
		t.Fatal(err)
	}
	select {
	case <-reloaded:
	case <-time.After(20 * time.Second):
		t.Fatalf("the edge did not reload the changed config file:\n%s", logsText())
	}
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	waited := make(chan error, 1)
	go func() { <-logDone; waited <- cmd.Wait() }()
	select {
	case err := <-waited:
		if err != nil {
			t.Fatalf("exit after SIGTERM: %v\n%s", err, logsText())
		}
	case <-time.After(20 * time.Second):
		t.Fatal("no exit within 20s of SIGTERM")
	}
	if _, err := os.Stat(filepath.Join(dir, "config.yaml")); err != nil {
		t.Fatal(err)
	}
}
