package cli_test

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
	"github.com/airlockhq/airlock/daemon/cli"
	"github.com/airlockhq/airlock/daemon/client"
	"github.com/airlockhq/airlock/daemon/config"
	"github.com/airlockhq/airlock/daemon/core"
	"github.com/airlockhq/airlock/daemon/daemontest"
	"github.com/airlockhq/airlock/internal/testenv"
)

// TestDoctorConfigReloadFailed writes a bad configuration under a running
// daemon that follows its file: the daemon keeps serving the previous
// configuration, and `airlock doctor` exits 1 naming the file's line and
// field, both from its own check and from the daemon's reload error; once
// the file is fixed, doctor is clean again.
func TestDoctorConfigReloadFailed(t *testing.T) {
	path := filepath.Join(t.TempDir(), "config.yaml")
	good := "edges:\n  - name: main\n    address: 127.0.0.1:7844\nclusters:\n  - name: prod\n    app: k8s.prod.example.com\n    token: t\n    listen: 127.0.0.1:0\n"
	if err := os.WriteFile(path, []byte(good), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	d := daemontest.Start(t, cfg, func(o *daemon.Options) {
		o.Core.NewEdge = func(config.Edge, *slog.Logger) core.Edge { return refusingEdge{} }
		o.Reload.Debounce = 50 * time.Millisecond
	})
	prod := d.WaitState(t, "prod", apitype.StateConnected)

	// Line 8: listen off loopback.
	bad := strings.Replace(good, "127.0.0.1:0", "10.1.2.3:1080", 1)
	if err := os.WriteFile(path, []byte(bad), 0o600); err != nil {
		t.Fatal(err)
	}
	waitConfigError(t, d.Client, true)
	code, out := doctorRun(t, nil, "--socket", d.Socket)
	if code != 1 {
		t.Errorf("doctor exit %d with a bad config, want 1:\n%s", code, out)
	}
	where := path + ":8: clusters[0].listen"
	for _, want := range []string{"FAIL  config ", "FAIL  config reload", where, "runs the previous configuration", "ok    cluster prod"} {
		if !strings.Contains(out, want) {
			t.Errorf("doctor output lacks %q:\n%s", want, out)
		}
	}
	if reload := lineWith(out, "FAIL  config reload"); !strings.Contains(reload, where) {
		t.Errorf("the reload line does not name the line and field: %q", reload)
	}
	if now := d.Cluster(t, "prod"); now.ProxyURL != prod.ProxyURL || now.State != apitype.StateConnected {
		t.Errorf("prod after a bad config: %+v", now)
	}

	// Fixed: doctor is clean.
	if err := os.WriteFile(path, []byte(good), 0o600); err != nil {
		t.Fatal(err)
	}
	waitConfigError(t, d.Client, false)
	code, out = doctorRun(t, nil, "--socket", d.Socket)
	if strings.Contains(out, "FAIL  config") || code != 0 {
		t.Errorf("doctor after the fix: exit %d:\n%s", code, out)
	}
}

func lineWith(out, prefix string) string {
	for _, l := range strings.Split(out, "\n") {
		if strings.HasPrefix(l, prefix) {
			return l
		}
	}
	return ""
}

// waitConfigError polls the daemon until its status has (or has not) a
// configuration error.
func waitConfigError(t *testing.T, c *client.Client, want bool) {
	t.Helper()
	testenv.Eventually(t, "the status's configuration error", func() error {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		st, err := c.Status(ctx)
		cancel()
		if err != nil {
			t.Fatal(err)
		}
		if (st.ConfigError != nil) != want {
			return fmt.Errorf("config error in status %+v, want present=%v", st.ConfigError, want)
		}
		return nil
	})
}

func TestPrintStatusConfigError(t *testing.T) {
	var b strings.Builder
	cli.PrintStatus(&b, &apitype.Status{ConfigError: &apitype.ConfigError{
		Path:    "/cfg/config.yaml",
		Message: "/cfg/config.yaml:8: clusters[0].listen: not loopback\n/cfg/config.yaml:12: clusters[1].app: is required",
	}})
	for _, want := range []string{"/cfg/config.yaml does not load", "runs the previous one", "\n  /cfg/config.yaml:8: clusters[0].listen", "\n  /cfg/config.yaml:12: clusters[1].app"} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("status lacks %q:\n%s", want, b.String())
		}
	}
}
