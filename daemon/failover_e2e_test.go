package daemon_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/airlockhq/airlock/daemon/apitype"
	"github.com/airlockhq/airlock/daemon/cli"
	"github.com/airlockhq/airlock/daemon/config"
	"github.com/airlockhq/airlock/daemon/daemontest"
	"github.com/airlockhq/airlock/daemon/socks"
	"github.com/airlockhq/airlock/daemon/socks/sockstest"
	"github.com/airlockhq/airlock/edge/edgetest"
	"github.com/airlockhq/airlock/internal/systest/connectortest"
	"github.com/airlockhq/airlock/internal/testenv"
)

// TestFleetFailover runs three real edges of one fleet (they accept one
// issuer's tokens) and the daemon with the three addresses in one edge
// entry: C has the app's tunnel but no connector, A and B a real connector
// each. The first stream is refused by C with "no connector" and served
// by A; a forbidden stream is refused at A and tried nowhere else; once A
// is killed, the next stream goes through B, and status says so.
func TestFleetFailover(t *testing.T) {
	const app = "k8s.fleet.test"
	origin := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/hold" { // a long answer: kubectl get -w
			fmt.Fprintln(w, "held")
			w.(http.Flusher).Flush()
			<-r.Context().Done()
			return
		}
		fmt.Fprintf(w, "origin saw host %s", r.Host)
	}))
	defer origin.Close()
	defer origin.CloseClientConnections()
	a := edgetest.Start(t, edgetest.Options{})
	b := edgetest.Start(t, edgetest.Options{})
	c := edgetest.Start(t, edgetest.Options{})
	b.ShareTokens(t, a)
	c.ShareTokens(t, a)
	for _, e := range []*edgetest.Edge{a, b} {
		connectortest.Start(t, e, e.CreateTunnel(t, "fleet", app), app+"=tcp://"+origin.Listener.Addr().String())
	}
	c.CreateTunnel(t, "fleet", app) // no connector runs for it at C
	cfg := &config.Config{
		Edges: []config.Edge{{Name: "fleet", Addresses: []string{c.Addr, a.Addr, b.Addr},
			CA: string(bytes.Join([][]byte{a.CAPEM, b.CAPEM, c.CAPEM}, nil)), ServerName: a.ServerName}},
		Clusters: []config.Cluster{
			{Name: "prod", App: app, Token: a.MintToken(t, app, "alice@example.com", time.Hour)},
			{Name: "outsider", App: app, Token: a.MintToken(t, app, "mallory@elsewhere.test", time.Hour)},
		},
	}
	d := daemontest.Start(t, cfg)
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("the daemon's log:\n%s", d.Logs())
		}
	})
	get := func(cluster string) (string, error) {
		addr, user, pass := proxyParts(t, d.ProxyURL(t, cluster))
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		conn, err := sockstest.Dial(ctx, addr, user, pass, "kube.does-not-exist.invalid:80")
		if err != nil {
			return "", err
		}
		defer conn.Close()
		fmt.Fprintf(conn, "GET / HTTP/1.0\r\nHost: kube.does-not-exist.invalid\r\n\r\n")
		body, err := io.ReadAll(conn)
		return string(body), err
	}
	carrier := func(want string) {
		t.Helper()
		st, err := d.Client.Status(ctxT(t))
		if err != nil {
			t.Fatal(err)
		}
		var prod apitype.Cluster
		for _, cl := range st.Clusters {
			if cl.Name == "prod" {
				prod = cl
			}
		}
		e := st.Edges[0]
		if prod.EdgeAddress != want || e.Current != want || !e.Connected || len(e.Addresses) != 3 {
			t.Fatalf("prod via %q, edge %+v; want both at %s", prod.EdgeAddress, e, want)
		}
		var text bytes.Buffer
		cli.PrintStatus(&text, st)
		if !strings.Contains(text.String(), "  prod: via edge fleet at "+want+"\n") || !strings.Contains(text.String(), "fleet  "+want+"  connected since") {
			t.Fatalf("airlock status does not name %s:\n%s", want, text.String())
		}
		js, _ := json.Marshal(st)
		if !strings.Contains(string(js), `"edge_address":"`+want+`"`) || !strings.Contains(string(js), `"current":"`+want+`"`) {
			t.Fatalf("airlock status --json does not name %s: %s", want, js)
		}
	}

	// The connectors join A and B in their own time: until then the
	// stream is refused with "no connector" by every edge it tries.
	testenv.Eventually(t, "a request through the fleet", func() error {
		body, err := get("prod")
		if err == nil && !strings.Contains(body, "origin saw host kube.does-not-exist.invalid") {
			t.Fatalf("through the fleet: %q", body)
		}
		return err
	})
	if n := a.WaitStreams(t, app, "ok", 1); n != 1 || c.Streams(t, app, "no_connector") < 1 {
		t.Fatalf("%d streams served at A, %d refused at C; want 1 and at least 1", n, c.Streams(t, app, "no_connector"))
	}
	carrier(a.Addr)

	t.Run("forbidden is not retried", func(t *testing.T) {
		_, err := get("outsider")
		if got := sockstest.Reply(err); got != socks.ReplyNotAllowed {
			t.Fatalf("reply %#02x (%v), want not allowed", got, err)
		}
		// The app's carrier, A, refused it; no other edge saw it.
		if a.WaitStreams(t, app, "forbidden", 1) != 1 || b.Streams(t, app, "forbidden") != 0 || c.Streams(t, app, "forbidden") != 0 {
			t.Fatalf("forbidden at A %d, B %d, C %d; want 1, 0, 0", a.Streams(t, app, "forbidden"), b.Streams(t, app, "forbidden"), c.Streams(t, app, "forbidden"))
		}
	})

	t.Run("edge killed during use", func(t *testing.T) {
		// A stream held open through A when it dies is cut, not moved:
		// its bytes went through A.
		addr, user, pass := proxyParts(t, d.ProxyURL(t, "prod"))
		held, err := sockstest.Dial(ctxT(t), addr, user, pass, "kube.does-not-exist.invalid:80")
		if err != nil {
			t.Fatal(err)
		}
		defer held.Close()
		fmt.Fprintf(held, "GET /hold HTTP/1.0\r\nHost: kube.does-not-exist.invalid\r\n\r\n")
		r := bufio.NewReader(held)
		for {
			line, err := r.ReadString('\n')
			if err != nil {
				t.Fatalf("the held answer: %v", err)
			}
			if line == "held\n" {
				break
			}
		}
		a.Kill(t)
		body, err := get("prod")
		if err != nil || !strings.Contains(body, "origin saw host") {
			t.Fatalf("the stream after A was killed: %q, %v", body, err)
		}
		if rest, err := io.ReadAll(r); err == nil {
			t.Fatalf("the stream held through A ended cleanly (%q): a cut stream must not look finished", rest)
		}
		if n := b.WaitStreams(t, app, "ok", 1); n != 1 {
			t.Fatalf("%d streams at B, want 1", n)
		}
		carrier(b.Addr)
		if _, err := get("prod"); err != nil {
			t.Fatal(err)
		}
		if n := b.WaitStreams(t, app, "ok", 2); n != 2 {
			t.Fatalf("%d streams at B, want 2", n)
		}
	})
}
