package e2e

import (
	"bufio"
	"context"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/airlockhq/airlock/edge/edgetest"
	"github.com/airlockhq/airlock/internal/credentials"
	"github.com/airlockhq/airlock/internal/edgeclient"
	"github.com/airlockhq/airlock/internal/systest/netns"
	"github.com/airlockhq/airlock/internal/testenv"
	"github.com/airlockhq/airlock/internal/wire"
)

// The network tests run their parts as this same test binary re-executed
// inside a namespace (netns.NS.Command), chosen by helperRole: an edge with
// an echo connector, or a client that streams through it. Sockets belong to
// the namespace of the process that makes them, and a client that migrates
// makes new ones at any time, so each part is a process of its own.
const helperRole = "AIRLOCK_NETNS_HELPER"

// netnsEdge is what the edge helper tells the test, on its first stdout
// line.
type netnsEdge struct {
	Addr, ServerName, App, Token string
	CAPEM                        []byte
	// Tunnel is a second tunnel's, for a connector helper (it has no
	// connector until one runs).
	Tunnel *credentials.Credentials
}

// TestNetnsHelperEdge is the edge part: it runs an edge listening on the
// address in AIRLOCK_NETNS_LISTEN and an echo connector for one app, prints
// how to reach them and runs until its stdin closes.
func TestNetnsHelperEdge(t *testing.T) {
	if os.Getenv(helperRole) != "edge" {
		t.Skip("a helper of the netns tests")
	}
	const app = "k8s.netns.test"
	e := edgetest.Start(t, edgetest.Options{Listen: os.Getenv("AIRLOCK_NETNS_LISTEN")})
	e.EchoConnector(t, e.CreateTunnel(t, "netns", app))
	tun := e.CreateTunnel(t, "netns-connector", "conn.netns.test")
	b, _ := json.Marshal(netnsEdge{Addr: e.Addr, ServerName: e.ServerName, App: app, CAPEM: e.CAPEM, Tunnel: tun.Credentials,
		Token: e.MintToken(t, app, "alice@"+edgetest.DefaultEmailDomain, time.Hour)})
	fmt.Printf("EDGE %s\n", b)
	io.Copy(io.Discard, os.Stdin)
}

// TestNetnsHelperClient is the client part: it dials the edge described in
// AIRLOCK_NETNS_EDGE as a daemon does and echoes a pattern through one
// stream without end, printing "echoed N" every 4 MiB and "migrations N"
// when the connection moves. On the line "new" from stdin it opens a second
// stream and prints "new ok DURATION"; on "stop" it ends the long stream,
// checks every byte came back and prints "done N".
func TestNetnsHelperClient(t *testing.T) {
	if os.Getenv(helperRole) != "client" {
		t.Skip("a helper of the netns tests")
	}
	var ed netnsEdge
	if err := json.Unmarshal([]byte(os.Getenv("AIRLOCK_NETNS_EDGE")), &ed); err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(ed.CAPEM)
	ctx := testenv.Context(t)
	c, err := edgeclient.Dial(ctx, edgeclient.Config{Addr: ed.Addr, ServerName: ed.ServerName, RootCAs: pool,
		Hello: wire.Hello{Role: wire.RoleClient, Software: "netns-test"}, Logger: helperLogger()})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close(wire.CodeOK, "")
	open := &wire.Open{App: ed.App, Token: ed.Token, Target: "echo:1"}
	s, err := c.OpenStream(ctx, open)
	if err != nil {
		t.Fatal(err)
	}
	var (
		out     sync.Mutex
		stop    = make(chan struct{})
		written int64
	)
	say := func(format string, args ...any) {
		out.Lock()
		defer out.Unlock()
		fmt.Printf(format+"\n", args...)
	}
	go func() { // commands
		sc := bufio.NewScanner(os.Stdin)
		for sc.Scan() {
			switch sc.Text() {
			case "new":
				start := time.Now()
				got, err := edgetest.Echo(t, c, ed.App, ed.Token, "hi")
				if err != nil || got != "hi" {
					say("new failed %q %v", got, err)
					continue
				}
				say("new ok %s", time.Since(start))
			case "stop":
				close(stop)
				return
			}
		}
	}()
	wrote := make(chan error, 1)
	go func() {
		buf := make([]byte, 64<<10)
		for {
			select {
			case <-stop:
				wrote <- s.CloseWrite()
				return
			default:
			}
			for i := range buf {
				buf[i] = byte(written + int64(i))
			}
			if _, err := s.Write(buf); err != nil {
				wrote <- err
				return
			}
			written += int64(len(buf))
		}
	}()
	var (
		read       int64
		migrations uint64
		buf        = make([]byte, 64<<10)
	)
	for {
		n, err := s.Read(buf)
		for i := range n {
			if buf[i] != byte(read+int64(i)) {
				t.Fatalf("byte %d came back as %d", read+int64(i), buf[i])
			}
		}
		if read/(4<<20) != (read+int64(n))/(4<<20) {
			say("echoed %d", read+int64(n))
		}
		read += int64(n)
		if m := c.Migrations(); m != migrations {
			migrations = m
			say("migrations %d local %s", m, c.LocalAddr())
		}
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("the long stream broke after %d bytes: %v", read, err)
		}
	}
	if err := <-wrote; err != nil {
		t.Fatalf("writing the long stream: %v", err)
	}
	if read != written {
		t.Fatalf("echoed %d bytes of %d", read, written)
	}
	say("done %d dropped %d", read, c.Dropped())
}

// helper is a part of a netns test running in its own process.
type helper struct {
	cmd   *exec.Cmd
	stdin io.WriteCloser
	lines chan string
}

// startHelper runs this test binary in ns as role, with env added.
func startHelper(tb testing.TB, ns *netns.NS, role string, env ...string) *helper {
	tb.Helper()
	name := map[string]string{"edge": "TestNetnsHelperEdge", "client": "TestNetnsHelperClient", "state": "TestNetnsHelperState", "auto": "TestNetnsHelperAuto", "connector": "TestNetnsHelperConnector"}[role]
	cmd := ns.Command(context.Background(), os.Args[0], "-test.run=^"+name+"$", "-test.timeout=10m")
	cmd.Env = append(append(os.Environ(), helperRole+"="+role), env...)
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		tb.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		tb.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		tb.Fatal(err)
	}
	h := &helper{cmd: cmd, stdin: stdin, lines: make(chan string, 1024)}
	go func() {
		sc := bufio.NewScanner(stdout)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		for sc.Scan() {
			h.lines <- sc.Text()
		}
		close(h.lines)
	}()
	tb.Cleanup(func() {
		stdin.Close()
		cmd.Process.Kill()
		cmd.Wait()
	})
	return h
}

// await returns the first line that starts with prefix, failing tb if the
// helper ends or the test's time runs out first. Lines before it are
// dropped.
func (h *helper) await(tb testing.TB, ctx context.Context, prefix string) string {
	tb.Helper()
	return h.awaitAny(tb, ctx, prefix)
}

// awaitAny returns the first line that starts with one of prefixes.
func (h *helper) awaitAny(tb testing.TB, ctx context.Context, prefixes ...string) string {
	tb.Helper()
	for {
		select {
		case l, ok := <-h.lines:
			if !ok {
				tb.Fatalf("the helper ended before printing one of %q", prefixes)
			}
			for _, p := range prefixes {
				if strings.HasPrefix(l, p) {
					return l
				}
			}
			if strings.HasPrefix(l, "new failed") || strings.HasPrefix(l, "open failed") || strings.HasPrefix(l, "--- FAIL") {
				tb.Fatalf("helper: %s", l)
			}
		case <-ctx.Done():
			tb.Fatalf("none of %q from the helper: %v", prefixes, context.Cause(ctx))
		}
	}
}

// awaitEchoed waits until the client helper has echoed at least n bytes.
func (h *helper) awaitEchoed(tb testing.TB, ctx context.Context, n int64) {
	tb.Helper()
	for {
		l := h.await(tb, ctx, "echoed ")
		if got, _ := strconv.ParseInt(strings.TrimPrefix(l, "echoed "), 10, 64); got >= n {
			return
		}
	}
}

func (h *helper) send(tb testing.TB, line string) {
	tb.Helper()
	if _, err := io.WriteString(h.stdin, line+"\n"); err != nil {
		tb.Fatal(err)
	}
}

// helperLogger writes a helper's logs to its stderr, which the test shows.
func helperLogger() *slog.Logger {
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
}

// TestNetnsHelperState is the client part that watches link state as the
// daemon does (edgeclient.Client, whose State feeds airlock status): it
// prints "state up" or "state down: ERROR" at every change, and on the
// line "open" from stdin opens a stream and prints "open ok DURATION" or
// "open failed ERROR".
func TestNetnsHelperState(t *testing.T) {
	if os.Getenv(helperRole) != "state" {
		t.Skip("a helper of the netns tests")
	}
	var ed netnsEdge
	if err := json.Unmarshal([]byte(os.Getenv("AIRLOCK_NETNS_EDGE")), &ed); err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(ed.CAPEM)
	ctx := testenv.Context(t)
	c := edgeclient.NewClient(edgeclient.Config{Addr: ed.Addr, ServerName: ed.ServerName, RootCAs: pool,
		Hello: wire.Hello{Software: "netns-test"}, Logger: helperLogger()})
	defer c.Close()
	if err := c.Connect(ctx); err != nil {
		t.Fatal(err)
	}
	var out helperOut
	go out.answerOpens(ctx, func(ctx context.Context) (string, error) {
		s, err := c.Open(ctx, &wire.Open{App: ed.App, Token: ed.Token, Target: "echo:1"})
		if err != nil {
			return "", err
		}
		s.Close()
		return "", nil
	})
	out.reportChanges(ctx, func() string {
		if up, _, err := c.State(); !up {
			return fmt.Sprintf("state down: %v", err)
		}
		return "state up"
	})
}

// helperOut writes whole lines to the stdout that the driving test reads,
// from any goroutine.
type helperOut struct{ mu sync.Mutex }

func (o *helperOut) say(format string, args ...any) {
	o.mu.Lock()
	defer o.mu.Unlock()
	fmt.Printf(format+"\n", args...)
}

// answerOpens answers each line "open" on stdin with "open ok DURATION" and
// what open returned, or "open failed ERROR"; each open may take 20 s. It
// returns when stdin ends.
func (o *helperOut) answerOpens(ctx context.Context, open func(context.Context) (string, error)) {
	sc := bufio.NewScanner(os.Stdin)
	for sc.Scan() {
		if sc.Text() != "open" {
			continue
		}
		start := time.Now()
		octx, cancel := context.WithTimeout(ctx, 20*time.Second)
		detail, err := open(octx)
		cancel()
		if err != nil {
			o.say("open failed %v", err)
			continue
		}
		o.say("open ok %s%s", time.Since(start).Round(time.Microsecond), detail)
	}
}

// reportChanges prints now's answer every time it changes (an empty one
// is not printed), looking every 50 ms, until ctx ends.
func (o *helperOut) reportChanges(ctx context.Context, now func() string) {
	last := ""
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		if v := now(); v != "" && v != last {
			o.say("%s", v)
			last = v
		}
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}
