package edge

import (
	"context"
	"errors"
	"io"
	"testing"
	"time"

	"github.com/airlockhq/airlock/internal/credentials"
	"github.com/airlockhq/airlock/internal/edgeclient"
	"github.com/airlockhq/airlock/internal/relay"
	"github.com/airlockhq/airlock/internal/testenv"
	"github.com/airlockhq/airlock/internal/transport"
	"github.com/airlockhq/airlock/internal/wire"
)

// dialTCP connects to the edge over TLS on TCP as role with hello's
// fields.
func (e *testEdge) dialTCP(tb testing.TB, hello wire.Hello) (*edgeclient.Conn, error) {
	tb.Helper()
	return e.dialOver(tb, edgeclient.TransportTCP, hello)
}

// dialOver connects to the edge over the named transport (edgeclient's
// TransportQUIC or TransportTCP).
func (e *testEdge) dialOver(tb testing.TB, tr string, hello wire.Hello) (*edgeclient.Conn, error) {
	tb.Helper()
	addr := e.srv.Addr().String()
	if tr == edgeclient.TransportTCP {
		addr = e.srv.TCPAddr().String()
	}
	return edgeclient.Dial(testenv.Context(tb), edgeclient.Config{
		Addr: addr, ServerName: "localhost", RootCAs: e.pool,
		Transport: tr, Hello: hello, PingInterval: -1,
	})
}

// tcpConnector connects a connector of c's tunnel over TCP that answers
// every Dial with OK and echoes the bytes prefixed by name.
func (e *testEdge) tcpConnector(tb testing.TB, name string, c *credentials.Credentials) *edgeclient.Conn {
	tb.Helper()
	return e.echoConnector(tb, edgeclient.TransportTCP, name, c)
}

// echoConnector is tcpConnector over the named transport.
func (e *testEdge) echoConnector(tb testing.TB, tr, name string, c *credentials.Credentials) *edgeclient.Conn {
	tb.Helper()
	conn, err := e.dialOver(tb, tr, wire.Hello{Role: wire.RoleConnector, TunnelID: c.TunnelID, Secret: c.Secret,
		ConnectorID: name, Software: "fake", Assertions: true})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { conn.Close(wire.CodeOK, "") })
	go func() {
		for {
			s, err := conn.AcceptStream(context.Background())
			if err != nil {
				return
			}
			go func() {
				if _, err := wire.ReadFrameOf[*wire.Dial](s); err != nil {
					s.Abort(wire.CodeBadRequest)
					return
				}
				wire.WriteFrame(s, &wire.Result{})
				io.WriteString(s, name+":")
				io.Copy(s, s)
				s.CloseWrite()
			}()
		}
	}()
	return conn
}

// TestTCPTransport: the same protocol over TLS on TCP goes through the
// same checks as over QUIC: relayed with a valid token, refused with the
// same codes and audit lines otherwise, a connector reachable over TCP.
func TestTCPTransport(t *testing.T) {
	e := startEdge(t)
	e.tcpConnector(t, "tcp-connector", e.creds)
	client, err := e.dialTCP(t, wire.Hello{Role: wire.RoleClient})
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close(wire.CodeOK, "")
	if client.Transport() != transport.NameTCP {
		t.Fatalf("transport %q", client.Transport())
	}
	for _, tc := range []struct {
		name  string
		open  *wire.Open
		want  wire.Code
		reply string
	}{
		{"relayed", &wire.Open{App: testApp, Token: e.mint(t, testApp, "alice@example.com", time.Minute), Target: "kube:443"}, wire.CodeOK, "tcp-connector:hello"},
		{"forbidden", &wire.Open{App: testApp, Token: e.mint(t, testApp, "mallory@example.com", time.Minute), Target: "kube:443"}, wire.CodeForbidden, ""},
		{"unknown app", &wire.Open{App: "nope.test", Token: e.mint(t, "nope.test", "alice@example.com", time.Minute), Target: "kube:443"}, wire.CodeUnknownApp, ""},
		{"bad token", &wire.Open{App: testApp, Token: "not-a-token", Target: "kube:443"}, wire.CodeUnauthenticated, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, err := client.OpenStream(testenv.Context(t), tc.open)
			if got := relay.CodeOf(err); got != tc.want {
				t.Fatalf("code %v (%v), want %v", got, err, tc.want)
			}
			if err != nil {
				rec := e.auditFor(t, func(r AuditRecord) bool { return r.Code == tc.want && r.App != "" })
				if rec.ClientAddr == "" {
					t.Errorf("audit line without the client's address: %+v", rec)
				}
				return
			}
			io.WriteString(s, "hello")
			s.CloseWrite()
			b, err := io.ReadAll(s)
			if err != nil || string(b) != tc.reply {
				t.Fatalf("relayed %q, %v; want %q", b, err, tc.reply)
			}
			s.Close()
		})
	}
}

// TestTCPLimits: the bounds of the QUIC accept path hold on TCP, counted by
// the same guard: refused streams before a valid token close the
// connection, and the per-source cap on unauthenticated connections
// refuses one more at once.
func TestTCPLimits(t *testing.T) {
	t.Run("refused streams", func(t *testing.T) {
		e := startEdge(t, withLimits(Limits{UnauthenticatedRefusals: 3}))
		c, err := e.dialTCP(t, wire.Hello{Role: wire.RoleClient})
		if err != nil {
			t.Fatal(err)
		}
		for range 3 {
			if _, err := c.OpenStream(testenv.Context(t), &wire.Open{App: testApp, Token: "not-a-token"}); relay.CodeOf(err) != wire.CodeUnauthenticated {
				var ce *edgeclient.ConnError
				if !errors.As(err, &ce) {
					t.Fatalf("open: %v", err)
				}
			}
		}
		<-c.Context().Done()
		if code := relay.CodeOf(context.Cause(c.Context())); code != wire.CodeUnauthenticated {
			t.Fatalf("closed with %v (%v), want unauthenticated", code, context.Cause(c.Context()))
		}
		if n := metricValue(t, e.srv, "airlock_edge_refused_total", "bound", boundUnauthRefusals); n != 1 {
			t.Errorf("refused{%s} = %v, want 1", boundUnauthRefusals, n)
		}
	})
	t.Run("unauthenticated connections per source", func(t *testing.T) {
		e := startEdge(t, withLimits(Limits{UnauthenticatedConnsPerSource: 1}))
		if _, err := e.dialTCP(t, wire.Hello{Role: wire.RoleClient}); err != nil {
			t.Fatal(err)
		}
		c, err := e.dialTCP(t, wire.Hello{Role: wire.RoleClient})
		if err == nil {
			c.Close(wire.CodeOK, "")
			t.Fatal("a second unauthenticated connection from the source was let in")
		}
		if code := relay.CodeOf(err); code != wire.CodeOverloaded {
			t.Fatalf("refused with %v (%v), want overloaded, as QUIC's refusal reads", code, err)
		}
		// With every refusal slot taken, a refusal costs nothing: a reset.
		for range cap(e.srv.tcpRefusals) {
			e.srv.tcpRefusals <- struct{}{}
		}
		if _, err := e.dialTCP(t, wire.Hello{Role: wire.RoleClient}); err == nil || relay.CodeOf(err) == wire.CodeOverloaded {
			t.Fatalf("refused beyond the refusal budget: %v, want a reset before TLS", err)
		}
		for range cap(e.srv.tcpRefusals) {
			<-e.srv.tcpRefusals
		}
		if n := metricValue(t, e.srv, "airlock_edge_refused_total", "bound", boundUnauthConnsPerSource); n < 1 {
			t.Errorf("refused{%s} = %v, want at least 1", boundUnauthConnsPerSource, n)
		}
	})
}

// TestCutAcrossTransports: a stream the connector cuts mid-transfer (a
// reset after some bytes) reaches the daemon as a reset, never a clean
// end, whichever transport each hop uses.
func TestCutAcrossTransports(t *testing.T) {
	for _, tc := range []struct{ client, connector string }{
		{edgeclient.TransportTCP, edgeclient.TransportQUIC},
		{edgeclient.TransportQUIC, edgeclient.TransportTCP},
		{edgeclient.TransportTCP, edgeclient.TransportTCP},
	} {
		t.Run("client "+tc.client+", connector "+tc.connector, func(t *testing.T) {
			e := startEdge(t)
			conn, err := e.dialOver(t, tc.connector, wire.Hello{Role: wire.RoleConnector, TunnelID: e.creds.TunnelID, Secret: e.creds.Secret,
				ConnectorID: "cutter", Software: "fake", Assertions: true})
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close(wire.CodeOK, "")
			go func() {
				for {
					s, err := conn.AcceptStream(context.Background())
					if err != nil {
						return
					}
					go func() {
						if _, err := wire.ReadFrameOf[*wire.Dial](s); err != nil {
							s.Abort(wire.CodeBadRequest)
							return
						}
						wire.WriteFrame(s, &wire.Result{})
						io.WriteString(s, "partial body")
						io.ReadFull(s, make([]byte, 1))     // the client has it
						s.Abort(wire.CodeOriginUnreachable) // the origin went away mid-download
					}()
				}
			}()
			client, err := e.dialOver(t, tc.client, wire.Hello{Role: wire.RoleClient})
			if err != nil {
				t.Fatal(err)
			}
			defer client.Close(wire.CodeOK, "")
			s, err := client.OpenStream(testenv.Context(t), &wire.Open{App: testApp, Token: e.mint(t, testApp, "alice@example.com", time.Minute), Target: "kube:443"})
			if err != nil {
				t.Fatal(err)
			}
			got := make([]byte, len("partial body"))
			if _, err := io.ReadFull(s, got); err != nil {
				t.Fatalf("the first bytes: %v", err)
			}
			s.Write([]byte{1})
			b, err := io.ReadAll(s)
			if err == nil {
				t.Fatalf("a cut stream read as a clean end after %q", b)
			}
			if relay.CodeOf(err) == wire.CodeOK {
				t.Fatalf("read error %v carries no code", err)
			}
		})
	}
}
