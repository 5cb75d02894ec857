package cli_test

import (
	"bytes"
	"context"
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/airlockhq/airlock/daemon/apitype"
	"github.com/airlockhq/airlock/daemon/cli"
	"github.com/airlockhq/airlock/daemon/socks/sockstest"
)

func doctorRun(t *testing.T, check cli.ConfigCheck, args ...string) (int, string) {
	t.Helper()
	var out bytes.Buffer
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	env := cli.Env{Stdout: &out, Stderr: &out, Getenv: func(string) string { return "" }, CheckConfig: check}
	code := cli.Main(ctx, append([]string{"doctor"}, args...), env)
	return code, out.String()
}

func goodConfig(path string) (string, string, error) {
	return "/cfg/config.yaml", "1 edge(s), 2 cluster(s)", nil
}

func TestDoctor(t *testing.T) {
	d := start(t)
	d.WaitState(t, "prod", apitype.StateConnected)

	t.Run("healthy", func(t *testing.T) {
		code, out := doctorRun(t, goodConfig, "--socket", d.Socket)
		if code != 0 {
			t.Fatalf("exit %d:\n%s", code, out)
		}
		for _, want := range []string{
			"ok    config", "/cfg/config.yaml: 1 edge(s), 2 cluster(s)",
			"ok    daemon", "running, pid",
			"warn  tray host", "no D-Bus session bus", "fix: ",
			"ok    edge main", "not dialled yet",
			"ok    cluster prod", "connected on 127.0.0.1:",
			"no problems, ",
		} {
			if !strings.Contains(out, want) {
				t.Errorf("output lacks %q:\n%s", want, out)
			}
		}
	})

	t.Run("bad config", func(t *testing.T) {
		bad := func(string) (string, string, error) {
			return "/cfg/config.yaml", "", errors.New("invalid config: /cfg/config.yaml:7: clusters[0].listen: 10.0.0.1:1080 is not a loopback address")
		}
		code, out := doctorRun(t, bad, "--socket", d.Socket)
		if code != 1 || !strings.Contains(out, "FAIL  config") || !strings.Contains(out, "config.yaml:7: clusters[0].listen") || !strings.Contains(out, "fix: edit the file") {
			t.Errorf("exit %d:\n%s", code, out)
		}
	})

	t.Run("cluster refused", func(t *testing.T) {
		addr, user, pass := proxyParts(t, d.ProxyURL(t, "prod"))
		sockstest.Dial(context.Background(), addr, user, pass, "kubernetes.default.svc:443")
		d.WaitState(t, "prod", apitype.StateError)
		code, out := doctorRun(t, goodConfig, "--socket", d.Socket)
		if code != 1 || !strings.Contains(out, "FAIL  cluster prod") || !strings.Contains(out, "forbidden") || !strings.Contains(out, "ask your administrator") || !strings.Contains(out, "1 problem(s)") {
			t.Errorf("exit %d:\n%s", code, out)
		}
	})

	t.Run("no daemon", func(t *testing.T) {
		code, out := doctorRun(t, goodConfig, "--socket", filepath.Join(t.TempDir(), "none.sock"))
		if code != 1 || !strings.Contains(out, "FAIL  daemon") || !strings.Contains(out, "not running") || !strings.Contains(out, "fix: start the tray") {
			t.Errorf("exit %d:\n%s", code, out)
		}
	})

	t.Run("usage", func(t *testing.T) {
		if code, _ := doctorRun(t, goodConfig, "extra"); code != 2 {
			t.Errorf("exit %d for an extra argument", code)
		}
	})
}

// proxyParts splits socks5://USER:PASS@HOST:PORT.
func proxyParts(t testing.TB, proxyURL string) (addr, user, pass string) {
	t.Helper()
	rest, ok := strings.CutPrefix(proxyURL, "socks5://")
	at := strings.LastIndex(rest, "@")
	if !ok || at < 0 {
		t.Fatalf("proxy url %q", proxyURL)
	}
	user, pass, _ = strings.Cut(rest[:at], ":")
	return rest[at+1:], user, pass
}
