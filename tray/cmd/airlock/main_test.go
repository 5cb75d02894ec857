package main_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/airlockhq/airlock/daemon/apitype"
	"github.com/airlockhq/airlock/internal/testenv"
)

// TestBinary builds the real airlock program and runs `airlock daemon`,
// `airlock status --json`, a second `airlock daemon`, and SIGTERM.
func TestBinary(t *testing.T) {
	dir, err := os.MkdirTemp("", "airlock-bin-") // short: the socket path is limited
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(dir)
	bin := testenv.BuildBinary(t, ".") // with -race when the test has it
	cfg := filepath.Join(dir, "config.yaml")
	os.WriteFile(cfg, []byte(`edges:
  - name: main
    address: 127.0.0.1:7844
clusters:
  - name: prod
    app: k8s.prod.example.com
    token: t
    listen: 127.0.0.1:0
`), 0o600)
	sock := filepath.Join(dir, "run", "airlock.sock")
	env := append(os.Environ(), "XDG_RUNTIME_DIR="+filepath.Join(dir, "xdg"))

	var dlog testenv.Buffer
	d := exec.Command(bin, "daemon", "--config", cfg, "--socket", sock)
	d.Env, d.Stdout, d.Stderr = env, &dlog, &dlog
	if err := d.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- d.Wait() }()
	defer func() {
		d.Process.Kill()
	}()

	airlock := func(args ...string) (string, error) {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		c := exec.CommandContext(ctx, bin, args...)
		c.Env = env
		out, err := c.CombinedOutput()
		return string(out), err
	}
	var out string
	testenv.Eventually(t, "an answer to airlock status", func() error {
		if out, err = airlock("status", "--json", "--socket", sock); err != nil {
			return fmt.Errorf("%v %s\ndaemon: %s", err, out, dlog.String())
		}
		return nil
	})
	var st apitype.Status
	if err := json.Unmarshal([]byte(out), &st); err != nil {
		t.Fatalf("status --json: %v\n%s", err, out)
	}
	if cl := st.FindCluster("prod"); cl == nil || !strings.HasPrefix(cl.ProxyURL, "socks5://airlock-") || st.PID != d.Process.Pid {
		t.Errorf("status = %+v", st)
	}

	out, err = airlock("daemon", "--config", cfg, "--socket", sock)
	if code := exitCode(err); code != 1 || !strings.Contains(out, "is already running on "+sock) {
		t.Errorf("second daemon: exit %d, %q", code, out)
	}

	d.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-exited:
		if err != nil {
			t.Errorf("daemon after SIGTERM: %v\n%s", err, dlog.String())
		}
	case <-time.After(15 * time.Second):
		t.Fatalf("daemon did not exit after SIGTERM\n%s", dlog.String())
	}
	if _, err := os.Lstat(sock); !os.IsNotExist(err) {
		t.Errorf("socket left after exit: %v", err)
	}
	if strings.Contains(dlog.String(), "DATA RACE") {
		t.Errorf("race in the daemon:\n%s", dlog.String())
	}
}

func exitCode(err error) int {
	if ee, ok := err.(*exec.ExitError); ok {
		return ee.ExitCode()
	}
	if err != nil {
		return -1
	}
	return 0
}
