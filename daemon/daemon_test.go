package daemon_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/airlockhq/airlock/daemon"
	"github.com/airlockhq/airlock/daemon/apitype"
	"github.com/airlockhq/airlock/daemon/client"
	"github.com/airlockhq/airlock/daemon/config"
	"github.com/airlockhq/airlock/daemon/core"
	"github.com/airlockhq/airlock/daemon/daemontest"
	"github.com/airlockhq/airlock/daemon/safesocket"
	"github.com/airlockhq/airlock/internal/testenv"
	"github.com/airlockhq/airlock/internal/wire"
)

// childEnv makes the test binary act as a control API client (see
// TestMain), so that a test can run one as another user.
const childEnv = "AIRLOCK_DAEMON_TEST_CHILD_SOCKET"

func TestMain(m *testing.M) {
	if sock := os.Getenv(childEnv); sock != "" {
		c := &client.Client{Socket: sock}
		_, err := c.Status(context.Background())
		var e *client.Error
		switch {
		case err == nil:
			os.Stdout.WriteString("ok\n")
		case errors.As(err, &e):
			os.Stdout.WriteString(strconv.Itoa(e.Status) + " " + e.Code + " " + e.Message + "\n")
		default:
			os.Stdout.WriteString("error " + err.Error() + "\n")
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// nullEdge refuses every stream; these tests are about the control API.
type nullEdge struct{}

func (nullEdge) Open(context.Context, *wire.Open) (net.Conn, error) {
	return nil, wire.Errorf(wire.CodeNoConnector, "test edge")
}
func (nullEdge) State() (bool, time.Time, error) { return false, time.Time{}, nil }
func (nullEdge) Close() error                    { return nil }

func withNullEdge(o *daemon.Options) {
	o.Core.NewEdge = func(config.Edge, *slog.Logger) core.Edge { return nullEdge{} }
}

func testConfig() *config.Config {
	no := false
	return &config.Config{
		Edges: []config.Edge{{Name: "main", Address: "127.0.0.1:7844"}},
		Clusters: []config.Cluster{
			{Name: "prod", App: "k8s.prod.example.com", Token: "t"},
			{Name: "stage", App: "k8s.stage.example.com", Token: "t", Autoconnect: &no},
		},
	}
}

func ctxT(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func TestStatusConnectDisconnect(t *testing.T) {
	d := daemontest.Start(t, testConfig(), withNullEdge)
	ctx := ctxT(t)
	st, err := d.Client.Status(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if st.PID != os.Getpid() || len(st.Clusters) != 2 || len(st.Edges) != 1 || st.Edges[0].Address != "127.0.0.1:7844" {
		t.Fatalf("status = %+v", st)
	}
	prod := d.WaitState(t, "prod", apitype.StateConnected)
	if !strings.HasPrefix(prod.ProxyURL, "socks5://airlock-") || !strings.HasSuffix(prod.ProxyURL, "@"+prod.Listen) {
		t.Errorf("prod proxy url %q listen %q", prod.ProxyURL, prod.Listen)
	}
	if stage := st.FindCluster("stage"); stage.State != apitype.StateDisconnected || stage.ProxyURL != "" {
		t.Errorf("stage = %+v", stage)
	}
	cl, err := d.Client.Connect(ctx, "stage")
	if err != nil || cl.State != apitype.StateConnected || cl.ProxyURL == "" {
		t.Fatalf("connect stage = %+v, %v", cl, err)
	}
	cl, err = d.Client.Disconnect(ctx, "prod")
	if err != nil || cl.State != apitype.StateDisconnected {
		t.Fatalf("disconnect prod = %+v, %v", cl, err)
	}
	if _, err := d.Client.Connect(ctx, "nope"); !client.IsNotFound(err) {
		t.Errorf("connect nope err = %v, want not found", err)
	}
}

// rawClient sends requests over the socket exactly as given.
func rawClient(sock string) *http.Client {
	return &http.Client{Transport: &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
		return safesocket.Dial(ctx, sock)
	}}}
}

func TestRequestChecks(t *testing.T) {
	d := daemontest.Start(t, testConfig(), withNullEdge)
	hc := rawClient(d.Socket)
	tests := []struct {
		name   string
		method string
		path   string
		host   string
		header map[string]string
		status int
		code   string
	}{
		{"status ok", "GET", "/v1/status", apitype.Host, nil, 200, ""},
		{"curl's localhost", "GET", "/v1/status", "localhost", nil, 200, ""},
		{"origin", "GET", "/v1/status", apitype.Host, map[string]string{"Origin": "https://evil.example"}, 403, apitype.CodeForbidden},
		{"referer", "POST", "/v1/clusters/prod/disconnect", apitype.Host, map[string]string{"Referer": "https://evil.example/x"}, 403, apitype.CodeForbidden},
		{"origin null", "GET", "/v1/status", apitype.Host, map[string]string{"Origin": "null"}, 403, apitype.CodeForbidden},
		{"rebinding host", "GET", "/v1/status", "evil.example", nil, 403, apitype.CodeForbidden},
		{"wrong method", "GET", "/v1/clusters/prod/connect", apitype.Host, nil, 405, apitype.CodeMethodNotAllowed},
		{"unknown path", "GET", "/v2/status", apitype.Host, nil, 404, apitype.CodeNotFound},
		{"unknown cluster", "POST", "/v1/clusters/nope/connect", apitype.Host, nil, 404, apitype.CodeNotFound},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, _ := http.NewRequestWithContext(ctxT(t), tt.method, "http://x"+tt.path, nil)
			req.Host = tt.host
			for k, v := range tt.header {
				req.Header.Set(k, v)
			}
			resp, err := hc.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			body, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != tt.status {
				t.Fatalf("status %d %s, want %d", resp.StatusCode, body, tt.status)
			}
			if tt.code == "" {
				return
			}
			var eb apitype.ErrorBody
			if err := json.Unmarshal(body, &eb); err != nil || eb.Error.Code != tt.code || eb.Error.Message == "" {
				t.Errorf("body %s is not the error shape with code %q", body, tt.code)
			}
		})
	}
	if st := d.Cluster(t, "prod"); st.State != apitype.StateConnected {
		t.Errorf("a refused request changed state: prod is %s", st.State)
	}
}

func TestSocketModes(t *testing.T) {
	d := daemontest.Start(t, testConfig(), withNullEdge)
	st, err := os.Stat(filepath.Dir(d.Socket))
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Perm() != 0o700 {
		t.Errorf("socket folder mode %v, want 0700", st.Mode().Perm())
	}
	st, err = os.Lstat(d.Socket)
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Type() != os.ModeSocket || st.Mode().Perm() != 0o600 {
		t.Errorf("socket mode %v, want a socket with 0600", st.Mode())
	}
}

func TestSocketFolderOfAnotherUserRefused(t *testing.T) {
	requireRoot(t)
	dir := filepath.Join(t.TempDir(), "run")
	if err := os.Mkdir(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.Chown(dir, 65534, 65534); err != nil {
		t.Fatal(err)
	}
	_, err := safesocket.Listen(filepath.Join(dir, "airlock.sock"))
	if err == nil || !strings.Contains(err.Error(), "belongs to uid 65534") {
		t.Fatalf("Listen in another user's folder = %v", err)
	}
}

func requireRoot(t *testing.T) {
	t.Helper()
	if os.Getuid() != 0 {
		testenv.Missing(t, "root (this test runs a client as nobody)")
	}
}

// TestOtherUserRefused runs a control API client as nobody. With the
// socket's normal modes the kernel refuses it; with the modes opened up
// (a mistake, or a shared folder) the peer uid check still answers 403.
func TestOtherUserRefused(t *testing.T) {
	requireRoot(t)
	d := daemontest.Start(t, testConfig(), withNullEdge)

	// The test binary, somewhere nobody can run it.
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(t.TempDir(), "child")
	data, err := os.ReadFile(exe)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(bin, data, 0o755); err != nil {
		t.Fatal(err)
	}
	for dir := filepath.Dir(bin); dir != "/"; dir = filepath.Dir(dir) {
		if st, err := os.Stat(dir); err == nil && st.Mode().Perm()&0o005 != 0o005 {
			os.Chmod(dir, st.Mode().Perm()|0o005)
		}
	}
	asNobody := func() string {
		cmd := exec.Command(bin)
		cmd.Env = []string{childEnv + "=" + d.Socket}
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("child as nobody: %v\n%s", err, out)
		}
		return strings.TrimSpace(string(out))
	}

	if out := asNobody(); !strings.Contains(out, "permission denied") {
		t.Errorf("nobody with the socket's normal modes: %q, want permission denied", out)
	}

	os.Chmod(filepath.Dir(filepath.Dir(d.Socket)), 0o755)
	os.Chmod(filepath.Dir(d.Socket), 0o755)
	os.Chmod(d.Socket, 0o666)
	if out := asNobody(); !strings.HasPrefix(out, "403 forbidden uid 65534") {
		t.Errorf("nobody with open modes: %q, want 403 forbidden", out)
	}
	if !strings.Contains(d.Logs(), "refused another user") {
		t.Error("the daemon did not log the refusal")
	}
	// And we still get in.
	if _, err := d.Client.Status(ctxT(t)); err != nil {
		t.Errorf("own user refused: %v", err)
	}
}

func TestSecondDaemonRefused(t *testing.T) {
	d := daemontest.Start(t, testConfig(), withNullEdge)
	second, err := daemon.New(daemon.Options{Config: testConfig(), Socket: d.Socket})
	if err != nil {
		t.Fatal(err)
	}
	err = second.Run(ctxT(t))
	var ar *safesocket.AlreadyRunningError
	if !errors.As(err, &ar) || ar.PID != os.Getpid() || !strings.Contains(err.Error(), "already running") {
		t.Fatalf("second daemon Run = %v, want already running with our pid", err)
	}
	// The first one is untouched.
	if _, err := d.Client.Status(ctxT(t)); err != nil {
		t.Fatalf("first daemon after the second's attempt: %v", err)
	}

	// And the command says so.
	cfgPath := filepath.Join(t.TempDir(), "config.yaml")
	os.WriteFile(cfgPath, []byte("edges:\n  - name: main\n    address: 127.0.0.1:7844\nclusters:\n  - name: a\n    app: a.example.com\n    token: t\n    listen: 127.0.0.1:0\n"), 0o600)
	var stderr bytes.Buffer
	code := daemon.Command(ctxT(t), []string{"--config", cfgPath, "--socket", d.Socket}, daemon.Env{Stdout: io.Discard, Stderr: &stderr, Getenv: os.Getenv})
	if code != 1 || !strings.Contains(stderr.String(), "another airlock daemon (pid "+strconv.Itoa(os.Getpid())+") is already running on "+d.Socket) {
		t.Errorf("airlock daemon = %d, stderr %q", code, stderr.String())
	}
}

func TestStaleSocketReplaced(t *testing.T) {
	dir, err := os.MkdirTemp("", "airlock-stale-")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(dir)
	os.Chmod(dir, 0o700)
	sock := filepath.Join(dir, "airlock.sock")
	ln, err := net.ListenUnix("unix", &net.UnixAddr{Name: sock, Net: "unix"})
	if err != nil {
		t.Fatal(err)
	}
	ln.SetUnlinkOnClose(false)
	ln.Close() // a crashed daemon's socket: the file stays, nothing answers
	if _, err := os.Lstat(sock); err != nil {
		t.Fatal(err)
	}
	l2, err := safesocket.Listen(sock)
	if err != nil {
		t.Fatalf("Listen over a stale socket: %v", err)
	}
	defer l2.Close()

	// A file that is not a socket is never removed.
	notSock := filepath.Join(dir, "file.sock")
	os.WriteFile(notSock, []byte("x"), 0o600)
	if _, err := safesocket.Listen(notSock); err == nil || !strings.Contains(err.Error(), "not a socket") {
		t.Errorf("Listen over a regular file = %v", err)
	}
}

func TestCommandBadConfig(t *testing.T) {
	cfgPath := filepath.Join(t.TempDir(), "config.yaml")
	os.WriteFile(cfgPath, []byte("edges:\n  - name: main\n    address: 127.0.0.1:7844\nclusters:\n  - name: a\n    app: a.example.com\n    token: t\n    listen: 0.0.0.0:1080\n"), 0o600)
	var stderr bytes.Buffer
	code := daemon.Command(ctxT(t), []string{"--config", cfgPath, "--socket", filepath.Join(t.TempDir(), "s")}, daemon.Env{Stdout: io.Discard, Stderr: &stderr, Getenv: os.Getenv})
	if code != 1 || !strings.Contains(stderr.String(), cfgPath+":8: clusters[0].listen: 0.0.0.0 is not a loopback address") {
		t.Errorf("exit %d, stderr %q", code, stderr.String())
	}
}

func TestWatch(t *testing.T) {
	d := daemontest.Start(t, testConfig(), withNullEdge)
	ctx := ctxT(t)
	w, err := d.Client.Watch(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	ev, err := w.Next()
	if err != nil || ev.Type != apitype.EventStatus || ev.Status.FindCluster("stage") == nil {
		t.Fatalf("first event %+v, %v", ev, err)
	}
	if _, err := d.Client.Connect(ctx, "stage"); err != nil {
		t.Fatal(err)
	}
	for {
		ev, err := w.Next()
		if err != nil {
			t.Fatal(err)
		}
		if ev.Type == apitype.EventCluster && ev.Cluster.Name == "stage" && ev.Cluster.State == apitype.StateConnected {
			if ev.Cluster.ProxyURL == "" {
				t.Error("connected event without a proxy url")
			}
			break
		}
	}
}

func TestWatchEndsWhenDaemonStops(t *testing.T) {
	dir, err := os.MkdirTemp("", "airlock-w-")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(dir)
	sock := filepath.Join(dir, "run", "airlock.sock")
	o := daemon.Options{Config: testConfig(), Socket: sock}
	o.Kubeconfig.Paths = []string{filepath.Join(dir, "kubeconfig")}
	withNullEdge(&o)
	d, err := daemon.New(o)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- d.Run(ctx) }()
	c := &client.Client{Socket: sock}
	var w *client.Watcher
	testenv.Eventually(t, "a watch on the control API", func() (err error) {
		w, err = c.Watch(ctxT(t))
		return err
	})
	defer w.Close()
	w.Next()
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Run = %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("daemon did not stop with a watcher attached")
	}
	for {
		if _, err := w.Next(); err != nil {
			break
		}
	}
	if _, err := c.Status(ctxT(t)); !client.IsNotRunning(err) {
		t.Errorf("status after stop = %v, want not running", err)
	}
	if _, err := os.Lstat(sock); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("socket left behind: %v", err)
	}
}

// TestListensOnlyOnLoopback enumerates the process's listening TCP sockets
// while a daemon runs with several clusters: every one must be on loopback.
func TestListensOnlyOnLoopback(t *testing.T) {
	cfg := testConfig()
	cfg.Clusters[1].Autoconnect = nil
	cfg.Clusters = append(cfg.Clusters, config.Cluster{Name: "dev", App: "k8s.dev.example.com", Token: "t", Listen: "127.0.0.3:0"})
	d := daemontest.Start(t, cfg, withNullEdge)
	for _, name := range []string{"prod", "stage", "dev"} {
		d.WaitState(t, name, apitype.StateConnected)
	}
	n := 0
	ours := socketInodes(t)
	for _, file := range []string{"/proc/self/net/tcp", "/proc/self/net/tcp6"} {
		for _, addr := range listening(t, file, ours) {
			n++
			if !addr.IP.IsLoopback() {
				t.Errorf("listening off loopback on %s", addr)
			}
		}
	}
	if n < 3 {
		t.Errorf("found %d listeners, want at least the 3 clusters'", n)
	}
}

// socketInodes returns the inodes of this process's sockets.
func socketInodes(t *testing.T) map[string]bool {
	fds, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]bool{}
	for _, fd := range fds {
		link, err := os.Readlink(filepath.Join("/proc/self/fd", fd.Name()))
		if err == nil && strings.HasPrefix(link, "socket:[") {
			out[strings.TrimSuffix(strings.TrimPrefix(link, "socket:["), "]")] = true
		}
	}
	return out
}

// listening parses /proc/net/tcp{,6} for this process's sockets (by inode)
// in state LISTEN (0A). The file lists the whole network namespace.
func listening(t *testing.T, file string, ours map[string]bool) []*net.TCPAddr {
	f, err := os.Open(file)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil
		}
		t.Fatal(err)
	}
	defer f.Close()
	var out []*net.TCPAddr
	sc := bufio.NewScanner(f)
	sc.Scan() // header
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) < 10 || fields[3] != "0A" || !ours[fields[9]] {
			continue
		}
		hostHex, portHex, _ := strings.Cut(fields[1], ":")
		raw, err := hex.DecodeString(hostHex)
		if err != nil {
			t.Fatalf("%s: %q", file, fields[1])
		}
		// The kernel prints each 32-bit word in host (little-endian) order.
		for i := 0; i+4 <= len(raw); i += 4 {
			raw[i], raw[i+1], raw[i+2], raw[i+3] = raw[i+3], raw[i+2], raw[i+1], raw[i]
		}
		port, _ := strconv.ParseUint(portHex, 16, 16)
		out = append(out, &net.TCPAddr{IP: net.IP(raw), Port: int(port)})
	}
	return out
}
