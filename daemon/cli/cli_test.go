package cli_test

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"net"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/airlockhq/airlock/daemon"
	"github.com/airlockhq/airlock/daemon/apitype"
	"github.com/airlockhq/airlock/daemon/cli"
	"github.com/airlockhq/airlock/daemon/config"
	"github.com/airlockhq/airlock/daemon/core"
	"github.com/airlockhq/airlock/daemon/daemontest"
	"github.com/airlockhq/airlock/internal/testenv"
	"github.com/airlockhq/airlock/internal/wire"
)

type refusingEdge struct{}

func (refusingEdge) Open(context.Context, *wire.Open) (net.Conn, error) {
	return nil, wire.Errorf(wire.CodeForbidden, "test")
}
func (refusingEdge) State() (bool, time.Time, error) { return false, time.Time{}, nil }
func (refusingEdge) Close() error                    { return nil }

func start(t *testing.T) *daemontest.Daemon {
	no := false
	cfg := &config.Config{
		Edges: []config.Edge{{Name: "main", Address: "127.0.0.1:7844"}},
		Clusters: []config.Cluster{
			{Name: "prod", App: "k8s.prod.example.com", Token: "t"},
			{Name: "staging-long-name", App: "k8s.stage.example.com", Token: "t", Autoconnect: &no},
		},
	}
	return daemontest.Start(t, cfg, func(o *daemon.Options) {
		o.Core.NewEdge = func(config.Edge, *slog.Logger) core.Edge { return refusingEdge{} }
	})
}

func run(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errb bytes.Buffer
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	code = cli.Main(ctx, args, cli.Env{Stdout: &out, Stderr: &errb, Getenv: func(string) string { return "" }, Version: "v9"})
	return code, out.String(), errb.String()
}

func TestStatusJSON(t *testing.T) {
	d := start(t)
	prod := d.WaitState(t, "prod", apitype.StateConnected)
	code, out, errs := run(t, "status", "--json", "--socket", d.Socket)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	var st apitype.Status
	if err := json.Unmarshal([]byte(out), &st); err != nil {
		t.Fatalf("not JSON: %v\n%s", err, out)
	}
	got := st.FindCluster("prod")
	if got == nil || got.ProxyURL != prod.ProxyURL || got.State != apitype.StateConnected || got.Listen != prod.Listen {
		t.Errorf("prod in --json = %+v, want %+v", got, prod)
	}
	if !strings.Contains(out, `"proxy_url": "socks5://airlock-`) {
		t.Errorf("--json lacks the proxy_url field:\n%s", out)
	}
	if len(st.Edges) != 1 || st.Edges[0].Name != "main" {
		t.Errorf("edges = %+v", st.Edges)
	}
}

func TestStatusTable(t *testing.T) {
	d := start(t)
	prod := d.WaitState(t, "prod", apitype.StateConnected)
	code, out, errs := run(t, "status", "--socket", d.Socket)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	lines := strings.Split(out, "\n")
	if !strings.HasPrefix(lines[0], "CLUSTER") || !strings.Contains(out, prod.ProxyURL) {
		t.Fatalf("table:\n%s", out)
	}
	// Columns line up: STATE starts at the same offset on every row.
	col := strings.Index(lines[0], "STATE")
	for _, l := range lines[1:3] {
		if len(l) <= col || l[col-1] != ' ' || l[col] == ' ' {
			t.Errorf("row %q is not aligned under STATE (col %d)\n%s", l, col, out)
		}
	}
	if !strings.Contains(out, "staging-long-name  disconnected") {
		t.Errorf("table lacks the disconnected cluster:\n%s", out)
	}
	if !strings.Contains(out, "EDGE") || !strings.Contains(out, "127.0.0.1:7844") {
		t.Errorf("table lacks the edge:\n%s", out)
	}
}

func TestConnectDisconnect(t *testing.T) {
	d := start(t)
	code, out, errs := run(t, "connect", "--socket", d.Socket, "staging-long-name")
	if code != 0 || !strings.Contains(out, "staging-long-name: connected  proxy-url socks5://") {
		t.Fatalf("connect: %d %q %q", code, out, errs)
	}
	code, out, _ = run(t, "disconnect", "--socket", d.Socket, "staging-long-name")
	if code != 0 || !strings.Contains(out, "staging-long-name: disconnected") {
		t.Fatalf("disconnect: %d %q", code, out)
	}
	code, _, errs = run(t, "connect", "--socket", d.Socket, "nope")
	if code != 1 || !strings.Contains(errs, `no such cluster "nope"`) {
		t.Errorf("connect nope: %d %q", code, errs)
	}
}

func TestErrorsAndUsage(t *testing.T) {
	missing := filepath.Join(t.TempDir(), "none.sock")
	tests := []struct {
		name   string
		args   []string
		code   int
		stderr string
		stdout string
	}{
		{"no daemon", []string{"status", "--socket", missing}, 1, "no airlock daemon is running", ""},
		{"no args", nil, 2, "usage: airlock", ""},
		{"unknown verb", []string{"frobnicate"}, 2, `unknown command "frobnicate"`, ""},
		{"connect without name", []string{"connect"}, 2, "usage: airlock connect", ""},
		{"status extra arg", []string{"status", "x"}, 2, "usage: airlock status", ""},
		{"bad flag", []string{"status", "--jsn"}, 2, "flag provided but not defined", ""},
		{"version", []string{"version"}, 0, "", "airlock v9"},
		{"daemon not wired", []string{"daemon"}, 1, "no daemon", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, out, errs := run(t, tt.args...)
			if code != tt.code || !strings.Contains(errs, tt.stderr) || !strings.Contains(out, tt.stdout) {
				t.Errorf("exit %d stdout %q stderr %q; want %d, %q, %q", code, out, errs, tt.code, tt.stdout, tt.stderr)
			}
		})
	}
}

func TestStatusWatch(t *testing.T) {
	d := start(t)
	d.WaitState(t, "prod", apitype.StateConnected)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	pr := &lineBuffer{ch: make(chan string, 100)}
	done := make(chan int, 1)
	go func() {
		done <- cli.Main(ctx, []string{"status", "--watch", "--socket", d.Socket}, cli.Env{Stdout: pr, Stderr: pr, Getenv: func(string) string { return "" }})
	}()
	waitLine(t, pr, "CLUSTER")
	if _, err := d.Client.Connect(context.Background(), "staging-long-name"); err != nil {
		t.Fatal(err)
	}
	waitLine(t, pr, "staging-long-name  connected  socks5://")
	cancel()
	select {
	case code := <-done:
		if code != 0 {
			t.Errorf("status --watch exit %d after interrupt", code)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("status --watch did not stop")
	}
}

type lineBuffer struct {
	buf bytes.Buffer
	ch  chan string
}

func (l *lineBuffer) Write(p []byte) (int, error) {
	l.buf.Write(p)
	for {
		line, err := l.buf.ReadString('\n')
		if err != nil {
			l.buf.WriteString(line)
			return len(p), nil
		}
		l.ch <- line
	}
}

func waitLine(t *testing.T, l *lineBuffer, substr string) {
	t.Helper()
	ctx := testenv.Context(t)
	for {
		select {
		case line := <-l.ch:
			if strings.Contains(line, substr) {
				return
			}
		case <-ctx.Done():
			t.Fatalf("no line containing %q: %v", substr, context.Cause(ctx))
		}
	}
}
