package e2e

import (
	"bufio"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/airlockhq/airlock/daemon/signin/signintest"
	"github.com/airlockhq/airlock/edge"
	"github.com/airlockhq/airlock/internal/systest/e2e/internal/benchnet"
	"github.com/airlockhq/airlock/internal/systest/pgtest"
	"github.com/airlockhq/airlock/internal/systest/stack"
	"github.com/airlockhq/airlock/internal/testenv"
)

// TestFleet is issue 12's fleet with real processes: three airlock-edge
// processes on one real PostgreSQL, two connectors given edge A's address
// only, the daemon with addresses [A, B, C], kubectl and a real
// kube-apiserver. In order: the daemon signs in at A (the built-in login
// page, filled in as a browser does); A is killed (SIGKILL) during a
// `kubectl get -w` and a running transfer, and new kubectl commands
// succeed through B or C; a fourth edge D joins and both connectors reach
// it without a restart, and reach A again once it is restarted;
// PostgreSQL restarts under a running transfer, which keeps flowing, and
// a sign-in at C and a refresh at B recover; last, `airlock-edge user
// revoke` at C refuses the daemon's next stream at the edge carrying it
// (B, since A's kill) and the refresh token B issued. The revocation
// comes last: after it every stream of the daemon is refused until the
// person signs in again. Every delay is measured and logged, never
// bounded.
func TestFleet(t *testing.T) {
	kubectlBin := testenv.File(t, "/usr/bin/kubectl", "apt-get install kubectl")
	ctx := testenv.Context(t)
	pg := pgtest.Start(ctx, t)
	dsn := pg.NewDatabase(ctx, t)
	dir := t.TempDir()
	urlFile := filepath.Join(dir, "store-url")
	if err := os.WriteFile(urlFile, []byte(dsn+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	urls := filepath.Join(dir, "browser-urls")
	browser := filepath.Join(dir, "browser")
	if err := os.WriteFile(browser, []byte("#!/bin/sh\nprintf '%s\\n' \"$1\" >> '"+urls+"'\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	const email, password = "demo@airlock.test", "demo-password-1"
	f := startFleet(t, stack.Options{
		Dir: filepath.Join(dir, "stack"),
		SignIn: &stack.SignIn{
			Users:   []stack.User{{Email: email, Password: password}},
			Browser: browser,
			// A refused connection is not held long for a sign-in that
			// cannot come (after the revocation, A is dead).
			Wait: 3 * time.Second,
		},
	}, stack.FleetOptions{StoreURLFile: urlFile, Edges: 3})
	a, b, c := f.Edges[0], f.Edges[1], f.Edges[2]
	second, secondAdmin, err := f.StartConnectorInstance(ctx)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := second.Stop(15 * time.Second); err != nil {
			t.Errorf("second connector: %v", err)
		}
	})
	t.Logf("edges: A %s, B %s, C %s; connectors given A only (admin %s and %s)", a.Addr, b.Addr, c.Addr, f.ConnAdmin, secondAdmin)
	for _, e := range f.Edges {
		waitConnectors(t, e, 2)
	}
	t.Cleanup(func() {
		if t.Failed() {
			for _, e := range f.Edges {
				t.Logf("edge %s output tail:\n%s", e.ID, tailOf(e.Process.Output()))
			}
			t.Logf("daemon output tail:\n%s", tailOf(f.Daemon.Output()))
		}
	})

	// 1. Sign in at edge A: a connection while signed out opens "the
	// browser"; the test fills in A's login page.
	signInStarted := time.Now()
	var signInURL string
	testenv.Eventually(t, "the daemon to open the browser", func() error {
		if data, _ := os.ReadFile(urls); len(data) > 0 {
			signInURL = strings.TrimSpace(strings.SplitN(string(data), "\n", 2)[0])
			return nil
		}
		cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		_ = connectVia(cctx, f.SOCKSAddr, f.User, f.Pass) // refused until signed in
		return errors.New("the daemon opened no browser")
	})
	hc, err := f.SignInClient()
	if err != nil {
		t.Fatal(err)
	}
	if page, err := signintest.SignIn(ctx, hc, f.BrowserURL(signintest.Followed(t, signInURL)), email, password); err != nil || !strings.Contains(page, "Signed in") {
		t.Fatalf("sign in at A: %v: %s", err, page)
	}
	out := kubectl(t, f.Stack, kubectlBin, "get", "--raw", "/version")
	if !strings.Contains(out, "gitVersion") {
		t.Fatalf("kubectl after the sign-in: %s", out)
	}
	t.Logf("1. signed in at A; kubectl answered %s after the first connection", time.Since(signInStarted).Round(time.Millisecond))
	if via := edgeCarrying(t, ctx, f); via != a.Addr {
		t.Fatalf("the cluster is carried by %s, want A %s", via, a.Addr)
	}

	// 2. kill -9 edge A during a watch and a transfer.
	watchCtx, stopWatch := context.WithCancel(ctx)
	defer stopWatch()
	watch := exec.CommandContext(watchCtx, kubectlBin, "--kubeconfig", f.Kubeconfig, "get", "namespaces", "--watch", "-o", "name")
	watch.Env = append(os.Environ(), "HOME="+f.Dir)
	var watchErr testenv.Buffer
	watch.Stderr = &watchErr
	watchOut, err := watch.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := watch.Start(); err != nil {
		t.Fatal(err)
	}
	watchLines := make(chan string, 64)
	watchDone := make(chan error, 1)
	go func() {
		sc := bufio.NewScanner(watchOut)
		for sc.Scan() {
			select {
			case watchLines <- sc.Text():
			default: // nobody reads any more: the test looks at the end only
			}
		}
		close(watchLines)
		watchDone <- watch.Wait()
	}()
	testenv.Eventually(t, "the watch to list namespace default", func() error {
		for {
			select {
			case l, ok := <-watchLines:
				if !ok {
					return testenv.Stop(fmt.Errorf("the watch ended: %s", watchErr.String()))
				}
				if l == "namespace/default" {
					return nil
				}
			default:
				return errors.New("not listed yet")
			}
		}
	})
	tr := startTransfer(t, ctx, f)
	tr.waitMore(t, 3)
	a.Process.Kill()
	killed := time.Now()
	var attempts int
	testenv.Eventually(t, "a new kubectl command through B or C", func() error {
		attempts++
		_, err := runKubectl(f.Stack, kubectlBin, "get", "namespaces", "-o", "name")
		return err
	})
	t.Logf("2. A killed: a new kubectl get succeeded %s after the kill (%d attempt(s))", time.Since(killed).Round(time.Millisecond), attempts)
	via := edgeCarrying(t, ctx, f)
	if via != b.Addr && via != c.Addr {
		t.Fatalf("after A's kill the cluster is carried by %q, want B or C", via)
	}
	t.Logf("   the cluster is now carried by %s", nameOf(f, via))
	var watchEnd error
	testenv.Eventually(t, "the watch through A to end", func() bool {
		select {
		case watchEnd = <-watchDone:
			return true
		default:
			return false
		}
	})
	t.Logf("   the watch through A ended %s after the kill: %v: %s", time.Since(killed).Round(time.Millisecond), watchEnd, strings.TrimSpace(watchErr.String()))
	// kubectl ends a watch whose connection was reset with status 0 and no
	// message (client-go takes a reset for the end of the watch): what
	// matters is that it ends, and the transfer below shows the cut.
	trErr := tr.wait(t)
	t.Logf("   the transfer through A (%d requests) ended %s after the kill: %v", tr.n.Load(), time.Since(killed).Round(time.Millisecond), trErr)
	if trErr == nil {
		t.Errorf("the transfer through A ended without an error")
	}

	// 4. A fourth edge joins; the connectors, not restarted, reach it.
	pids := []int{f.Connector.PID(), second.PID()}
	d, err := f.AddEdge(ctx)
	if err != nil {
		t.Fatal(err)
	}
	joined := time.Now()
	waitConnectors(t, d, 2)
	t.Logf("4. D %s joined: both connectors held connections at D %s after it answered /healthz", d.Addr, time.Since(joined).Round(time.Millisecond))
	if f.Connector.Exited() || second.Exited() || f.Connector.PID() != pids[0] || second.PID() != pids[1] {
		t.Fatalf("a connector restarted or exited")
	}

	// A comes back (the operator restarts it on its state folder): the
	// connectors, given A's address only and still holding B, C and D,
	// connect to it again.
	if err := a.Start(ctx, f.Stack); err != nil {
		t.Fatal(err)
	}
	back := time.Now()
	waitConnectors(t, a, 2)
	t.Logf("   A restarted: both connectors held connections at A again %s after it answered /healthz", time.Since(back).Round(time.Millisecond))

	// 5. PostgreSQL restarts under a running transfer.
	tr2 := startTransfer(t, ctx, f)
	tr2.waitMore(t, 3)
	restartStart := time.Now()
	if err := pg.Restart(ctx); err != nil {
		t.Fatal(err)
	}
	restarted := time.Now()
	t.Logf("5. PostgreSQL restarted in %s", restarted.Sub(restartStart).Round(time.Millisecond))
	before := tr2.n.Load()
	tr2.waitMore(t, before+3)
	if out := kubectl(t, f.Stack, kubectlBin, "get", "--raw", "/version"); !strings.Contains(out, "gitVersion") {
		t.Fatalf("kubectl after the database restart: %s", out)
	}
	t.Logf("   the transfer kept flowing (%d requests, %d across the restart); a new kubectl command succeeded", tr2.n.Load(), tr2.n.Load()-before)
	// A sign-in (device flow at C) and a refresh (at B) recover.
	chc, err := c.SignInClient()
	if err != nil {
		t.Fatal(err)
	}
	var dc map[string]any
	var refusals []string
	testenv.Eventually(t, "C's sign-in server to take a device code again", func() error {
		var st int
		st, dc = postForm(t, ctx, chc, c.AuthURL, "/oauth/device/code", url.Values{"audience": {f.App}})
		if st != http.StatusOK {
			refusals = append(refusals, fmt.Sprintf("%d %v", st, dc["error"]))
			return fmt.Errorf("device code: %d %v", st, dc)
		}
		return nil
	})
	t.Logf("   C took a device code %s after the restart (answers before: %d, the first %v)", time.Since(restarted).Round(time.Millisecond), len(refusals), firstOr(refusals, "none"))
	verify, _ := dc["verification_uri"].(string)
	userCode, _ := dc["user_code"].(string)
	if _, err := signintest.ApproveDevice(ctx, chc, strings.Replace(verify, c.PublicURL, c.AuthURL, 1), userCode, email, password); err != nil {
		t.Fatalf("approve the device code at C: %v", err)
	}
	st, tok := postForm(t, ctx, chc, c.AuthURL, "/oauth/token", url.Values{"grant_type": {"urn:ietf:params:oauth:grant-type:device_code"}, "device_code": {dc["device_code"].(string)}})
	if st != http.StatusOK {
		t.Fatalf("device token at C: %d %v", st, tok)
	}
	bhc, err := b.SignInClient()
	if err != nil {
		t.Fatal(err)
	}
	st, ref := postForm(t, ctx, bhc, b.AuthURL, "/oauth/token", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {tok["refresh_token"].(string)}})
	if st != http.StatusOK || ref["access_token"] == nil || ref["refresh_token"] == nil {
		t.Fatalf("refresh at B of C's sign-in: %d %v", st, ref["error"])
	}
	t.Logf("   signed in at C (device flow) and refreshed at B after the restart")

	// 3. Revoke at C: the daemon's next stream is refused at the edge
	// carrying it, and the refresh token B just gave is refused at B.
	via = edgeCarrying(t, ctx, f)
	var carrier *stack.FleetEdge
	for _, e := range f.Edges {
		if e.Addr == via {
			carrier = e
		}
	}
	if carrier == nil {
		t.Fatalf("the cluster is carried by %q, no edge of the fleet", via)
	}
	mark := len(carrier.Process.Output())
	if out, err := c.CLI(ctx, "user", "revoke", email); err != nil {
		t.Fatal(err)
	} else if !strings.Contains(out, "revoked") {
		t.Fatalf("user revoke: %s", out)
	}
	revoked := time.Now()
	var streams int
	var refusedAt time.Time
	testenv.Eventually(t, "a stream refused at "+strings.ToUpper(carrier.ID)+" after the revocation at C", func() error {
		streams++
		cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		err := connectVia(cctx, f.SOCKSAddr, f.User, f.Pass)
		if at, ok := firstAudit(carrier.Process.Output()[mark:], email, "unauthenticated"); ok {
			if err == nil {
				return testenv.Stop(errors.New("the edge audited a refusal but the stream was accepted"))
			}
			refusedAt = at
			return nil
		}
		return fmt.Errorf("no refusal audited at %s yet (last stream: %v)", carrier.ID, err)
	})
	// The stream's refusal is timed by the edge's audit line: the SOCKS
	// answer comes later, after the daemon's attempt to renew the token
	// and its sign-in wait.
	t.Logf("3. revoked at C: a stream was refused at %s %s after the revoke command returned (by %s's audit line; %d stream(s) tried)",
		strings.ToUpper(carrier.ID), refusedAt.Sub(revoked).Round(time.Millisecond), strings.ToUpper(carrier.ID), streams)
	st, ref2 := postForm(t, ctx, bhc, b.AuthURL, "/oauth/token", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {ref["refresh_token"].(string)}})
	if st == http.StatusOK {
		t.Fatalf("refresh at B after the revocation at C was accepted")
	}
	t.Logf("   the refresh token of the sign-in at C is refused at B: %d %v", st, ref2["error"])
	tr2.stop()
	if out := f.Daemon.Output(); strings.Contains(out, "alr_") || strings.Contains(out, "eyJ") || strings.Contains(out, password) {
		t.Errorf("a token or password appears in the daemon's log")
	}
}

// startFleet starts a fleet stack for one test and stops it when the test
// ends, failing the test unless every program it did not kill exits 0 on
// SIGTERM.
func startFleet(tb testing.TB, opts stack.Options, fo stack.FleetOptions) *stack.Fleet {
	tb.Helper()
	if testing.Short() {
		tb.Skip("end-to-end test: not in -short mode")
	}
	opts.Bin = stack.Programs(tb)
	if os.Getenv("AIRLOCK_E2E_VERBOSE") != "" {
		opts.Log = os.Stderr
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	f, err := stack.StartFleet(ctx, opts, fo)
	if err != nil {
		tb.Fatalf("start the fleet: %v", err)
	}
	tb.Cleanup(func() {
		if err := f.Close(); err != nil {
			tb.Errorf("stop the fleet: %v", err)
		}
	})
	return f
}

// waitConnectors waits until n connector instances hold connections at e.
func waitConnectors(t *testing.T, e *stack.FleetEdge, n int) {
	t.Helper()
	testenv.Eventually(t, fmt.Sprintf("%d connectors at edge %s", n, e.ID), func() error {
		h, err := health(e.Admin)
		if err != nil {
			return err
		}
		tun := h.Tunnels[stack.DefaultTunnel]
		if len(tun.Connectors) != n {
			return fmt.Errorf("edge %s: %d connectors hold %d connections, want %d connectors", e.ID, len(tun.Connectors), tun.Connections, n)
		}
		return nil
	})
}

func health(admin string) (*edge.Health, error) {
	resp, err := http.Get(admin + "/healthz")
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	var h edge.Health
	if err := json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(&h); err != nil {
		return nil, fmt.Errorf("/healthz: %s: %w", resp.Status, err)
	}
	return &h, nil
}

// edgeCarrying returns the address of the edge that carries the demo
// cluster, as the daemon's status says.
func edgeCarrying(t *testing.T, ctx context.Context, f *stack.Fleet) string {
	t.Helper()
	st, err := f.Client().Status(ctx)
	if err != nil {
		t.Fatal(err)
	}
	cl := st.FindCluster(stack.DefaultCluster)
	if cl == nil {
		t.Fatalf("no cluster %s in the status", stack.DefaultCluster)
	}
	return cl.EdgeAddress
}

func nameOf(f *stack.Fleet, addr string) string {
	for _, e := range f.Edges {
		if e.Addr == addr {
			return strings.ToUpper(e.ID) + " " + addr
		}
	}
	return addr
}

// postForm posts an OAuth form (client_id airlock) to base+path and
// returns the status and the JSON answer.
func postForm(t *testing.T, ctx context.Context, hc *http.Client, base, path string, form url.Values) (int, map[string]any) {
	t.Helper()
	form.Set("client_id", "airlock")
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, base+path, strings.NewReader(form.Encode()))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err := hc.Do(req)
	if err != nil {
		return 0, map[string]any{"error": err.Error()}
	}
	defer resp.Body.Close()
	out := map[string]any{}
	if err := json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(&out); err != nil {
		out["error"] = "not JSON: " + err.Error()
	}
	return resp.StatusCode, out
}

// firstAudit returns the time of the edge's first audit line of a stream
// of user with outcome in logs.
func firstAudit(logs, user, outcome string) (time.Time, bool) {
	for _, line := range strings.Split(logs, "\n") {
		if !strings.Contains(line, `"msg":"stream"`) {
			continue
		}
		var rec struct {
			Time          time.Time
			User, Outcome string
		}
		if json.Unmarshal([]byte(line), &rec) == nil && rec.User == user && rec.Outcome == outcome {
			return rec.Time, true
		}
	}
	return time.Time{}, false
}

func firstOr(s []string, none string) string {
	if len(s) == 0 {
		return none
	}
	return s[0]
}

// transfer is a running transfer through the daemon: one TLS connection
// to the kube-apiserver through the SOCKS listener (one stream), on which
// GET /version requests follow each other until it fails or is stopped.
type transfer struct {
	n      atomic.Int64 // responses read
	cancel context.CancelFunc
	done   chan struct{}
	err    error // valid once done is closed
}

func startTransfer(t *testing.T, ctx context.Context, f *stack.Fleet) *transfer {
	t.Helper()
	cfg, err := f.KubeAPI.TLSConfig()
	if err != nil {
		t.Fatal(err)
	}
	host := strings.TrimPrefix(stack.KubeServer, "https://")
	cfg.ServerName = host[:strings.LastIndexByte(host, ':')]
	ctx, cancel := context.WithCancel(ctx)
	tr := &transfer{cancel: cancel, done: make(chan struct{})}
	go func() {
		defer close(tr.done)
		tr.err = tr.run(ctx, f, cfg, host)
	}()
	t.Cleanup(tr.stop)
	return tr
}

func (tr *transfer) run(ctx context.Context, f *stack.Fleet, cfg *tls.Config, host string) error {
	raw, err := benchnet.DialSOCKS5(ctx, f.SOCKSAddr, f.User, f.Pass, host)
	if err != nil {
		return fmt.Errorf("dial: %w", err)
	}
	conn := tls.Client(raw, cfg)
	stop := context.AfterFunc(ctx, func() { conn.Close() })
	defer stop()
	defer conn.Close()
	br := bufio.NewReader(conn)
	for ctx.Err() == nil {
		if _, err := io.WriteString(conn, "GET /version HTTP/1.1\r\nHost: "+cfg.ServerName+"\r\n\r\n"); err != nil {
			return fmt.Errorf("request %d: %w", tr.n.Load()+1, err)
		}
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			return fmt.Errorf("response %d: %w", tr.n.Load()+1, err)
		}
		_, err = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if err != nil || resp.StatusCode != http.StatusOK {
			return fmt.Errorf("response %d: %s %v", tr.n.Load()+1, resp.Status, err)
		}
		tr.n.Add(1)
	}
	return nil
}

// waitMore waits until the transfer has read n responses.
func (tr *transfer) waitMore(t *testing.T, n int64) {
	t.Helper()
	testenv.Eventually(t, fmt.Sprintf("%d responses on the transfer", n), func() error {
		if got := tr.n.Load(); got < n {
			select {
			case <-tr.done:
				return testenv.Stop(fmt.Errorf("the transfer ended after %d responses: %v", got, tr.err))
			default:
			}
			return fmt.Errorf("%d responses", got)
		}
		return nil
	})
}

// wait waits until the transfer ends on its own and returns its error.
func (tr *transfer) wait(t *testing.T) error {
	t.Helper()
	testenv.Eventually(t, "the transfer to end", func() bool {
		select {
		case <-tr.done:
			return true
		default:
			return false
		}
	})
	return tr.err
}

// stop ends the transfer and waits for its goroutine.
func (tr *transfer) stop() {
	tr.cancel()
	<-tr.done
}
