package connector_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/airlockhq/airlock/connector"
	"github.com/airlockhq/airlock/edge"
	"github.com/airlockhq/airlock/edge/edgetest"
	"github.com/airlockhq/airlock/internal/credentials"
	"github.com/airlockhq/airlock/internal/edgeclient"
	"github.com/airlockhq/airlock/internal/testenv"
	"github.com/airlockhq/airlock/internal/wire"
)

// realSetup is a connector joined to a real in-process edge, serving
// testApp from an echo origin, and a client connection to the same edge.
type realSetup struct {
	edge   *edgetest.Edge
	tun    *edgetest.Tunnel
	origin *echoServer
	run    *running
	client *edgeclient.Client
}

func newRealSetup(t *testing.T, mod func(*connector.Config), flags ...string) *realSetup {
	t.Helper()
	s := &realSetup{origin: startEcho(t)}
	s.edge = edgetest.Start(t, edgetest.Options{Logger: testLogger(t).With("side", "edge")})
	s.tun = s.edge.CreateTunnel(t, "demo", testApp, "other.example.com")
	creds, err := credentials.ReadCredentials(s.tun.CredentialsFile)
	if err != nil {
		t.Fatal(err)
	}
	if len(flags) == 0 {
		flags = []string{testApp + "=" + s.origin.url()}
	}
	s.run = startConnector(t, creds, rules(t, flags...), mod)
	s.run.waitReady(t, "two healthy connections", func(code int, st connector.Status) bool {
		return code == 200 && len(st.Connections) == 2 && st.Connections[0].Healthy && st.Connections[1].Healthy
	})
	s.client = edgeclient.NewClient(edgeclient.Config{Addr: s.edge.Addr, ServerName: s.edge.ServerName, RootCAs: s.edge.RootCAs})
	t.Cleanup(func() { s.client.Close() })
	return s
}

func (s *realSetup) open(t *testing.T, app, target string) (*edgeclient.StreamConn, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	return s.client.Open(ctx, &wire.Open{App: app, Token: s.edge.MintToken(t, app, testEmail, time.Hour), Target: target})
}

func TestEdgeStreamsFlow(t *testing.T) {
	s := newRealSetup(t, nil)
	const n = 20
	for i := range n {
		sc, err := s.open(t, testApp, "")
		if err != nil {
			t.Fatalf("stream %d: %v", i, err)
		}
		echoRoundTrip(t, sc, sc.CloseWrite, strings.Repeat("x", 1000*(i+1)))
		sc.Close()
	}
	if got := s.origin.accepted.Load(); got != n {
		t.Fatalf("origin accepted %d connections, want %d", got, n)
	}
	rec := s.edge.WaitAudit(t, func(r edge.AuditRecord) bool { return r.Outcome == "ok" })
	if rec.User != testEmail || rec.App != testApp {
		t.Errorf("audit %+v", rec)
	}
	s.run.waitMetric(t, `airlock_connector_streams_total{outcome="ok"}`, "20")
}

func TestEdgeOtherTargetReachesOnlyRuleOrigin(t *testing.T) {
	s := newRealSetup(t, nil)
	other := startEcho(t)
	sc, err := s.open(t, testApp, other.addr())
	if err != nil {
		t.Fatal(err)
	}
	echoRoundTrip(t, sc, sc.CloseWrite, "where do I go")
	sc.Close()
	if got := other.accepted.Load(); got != 0 {
		t.Fatalf("the client's target got %d connections", got)
	}
	if got := s.origin.accepted.Load(); got != 1 {
		t.Fatalf("the rule's origin got %d connections, want 1", got)
	}
}

func TestEdgeRefusals(t *testing.T) {
	down := testenv.RefusedAddr(t)
	s := newRealSetup(t, nil, testApp+"=tcp://"+down)
	tests := []struct {
		name     string
		app      string
		wantCode wire.Code
		wantMsg  string
	}{
		{"origin down", testApp, wire.CodeOriginUnreachable, "tcp://" + down},
		{"no ingress rule", "other.example.com", wire.CodeForbidden, "no ingress rule for app other.example.com"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := s.open(t, tt.app, "")
			if !isCode(err, tt.wantCode) || !strings.Contains(err.Error(), tt.wantMsg) {
				t.Fatalf("open = %v, want %v naming %q", err, tt.wantCode, tt.wantMsg)
			}
		})
	}
}

// TestLoneConnectorServesWhileLeaving: the tunnel's only connector,
// shutting down, keeps taking new streams (the edge has nowhere else to
// route them) until a successor connects; then the edge hands over, new
// streams go to the successor, and the old connector stops as soon as
// its last stream ends, long before its 30 s grace period.
func TestLoneConnectorServesWhileLeaving(t *testing.T) {
	s := newRealSetup(t, func(c *connector.Config) { c.Grace = 30 * time.Second })
	sc, err := s.open(t, testApp, "")
	if err != nil {
		t.Fatal(err)
	}
	echo := func(sc *edgeclient.StreamConn, msg string) {
		t.Helper()
		if _, err := io.WriteString(sc, msg); err != nil {
			t.Fatal(err)
		}
		sc.CloseWrite()
		sc.SetReadDeadline(time.Now().Add(5 * time.Second))
		if got, err := io.ReadAll(sc); err != nil || string(got) != msg {
			t.Fatalf("echoed %q, %v", got, err)
		}
		sc.Close()
	}
	s.run.stop()
	s.run.waitReady(t, "draining", func(code int, st connector.Status) bool {
		return code == http.StatusServiceUnavailable && st.Draining
	})
	// Leaving, alone: new streams still reach it.
	for i := range 5 {
		nc, err := s.open(t, testApp, "")
		if err != nil {
			t.Fatalf("new stream %d to the leaving lone connector: %v", i, err)
		}
		echo(nc, fmt.Sprintf("while leaving %d", i))
	}
	// A successor connects: the edge hands over to it.
	creds, err := credentials.ReadCredentials(s.tun.CredentialsFile)
	if err != nil {
		t.Fatal(err)
	}
	next := startConnector(t, creds, rules(t, testApp+"="+s.origin.url()), nil)
	next.waitReady(t, "two healthy connections", func(code int, st connector.Status) bool {
		return code == 200 && len(st.Connections) == 2 && st.Connections[0].Healthy && st.Connections[1].Healthy
	})
	for i := range 5 {
		nc, err := s.open(t, testApp, "")
		if err != nil {
			t.Fatalf("new stream %d after the successor connected: %v", i, err)
		}
		echo(nc, fmt.Sprintf("after handover %d", i))
	}
	echo(sc, "open and finished") // the stream open before the SIGTERM finishes too
	if err := s.run.wait(t, 10*time.Second); err != nil {
		t.Fatalf("Run = %v", err)
	}
}

// expectBackAfterRestart polls until a stream through the just-restarted
// edge echoes, and waits until both connections report healthy again. It
// sets no time limit of its own. A test that claims the connector does not
// sit out some wait shows it another way: it makes that wait longer than
// the test can run (a backoff of an hour), or it checks what ended each
// connection.
func (s *realSetup) expectBackAfterRestart(t *testing.T) {
	t.Helper()
	start := time.Now()
	testenv.Eventually(t, "a stream through the restarted edge", func() error {
		sc, err := s.open(t, testApp, "")
		if err != nil {
			return err
		}
		echoRoundTrip(t, sc, sc.CloseWrite, "after")
		sc.Close()
		return nil
	})
	t.Logf("first stream through the restarted edge after %v", time.Since(start))
	s.run.waitReady(t, "both connections back", func(code int, st connector.Status) bool {
		return code == 200 && st.Connections[0].Healthy && st.Connections[1].Healthy
	})
}
