package main

import (
	"bufio"
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/airlockhq/airlock/internal/testenv"
)

// TestServeSIGTERM runs the real binary and checks what main wires: SIGHUP
// reloads the config and SIGTERM gives a clean exit 0. The commands
// themselves are tested in edge/cli, serving and reloading in edge.
func TestServeSIGTERM(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary")
	}
	bin := testenv.BuildBinary(t, ".")
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
	serving, reloaded := make(chan struct{}), make(chan struct{})
	var (
		logsMu sync.Mutex
		logs   bytes.Buffer
	)
	logsText := func() string { logsMu.Lock(); defer logsMu.Unlock(); return logs.String() }
	logDone := make(chan struct{})
	go func() {
		defer close(logDone)
		sc := bufio.NewScanner(stderr)
		var sawServing, sawReload bool
		for sc.Scan() {
			logsMu.Lock()
			logs.WriteString(sc.Text() + "\n")
			logsMu.Unlock()
			if !sawServing && strings.Contains(sc.Text(), "edge serving") {
				sawServing = true
				close(serving)
			}
			if !sawReload && strings.Contains(sc.Text(), "edge config reloaded") {
				sawReload = true
				close(reloaded)
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
	case <-reloaded:
	case <-time.After(20 * time.Second):
		t.Fatalf("the edge did not reload on SIGHUP:\n%s", logsText())
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
