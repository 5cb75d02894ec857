package connector_test

import (
	"strings"
	"testing"
	"time"

	"github.com/airlockhq/airlock/connector"
	"github.com/airlockhq/airlock/connector/internal/fakeedge"
	"github.com/airlockhq/airlock/edge/edgetest"
	"github.com/airlockhq/airlock/internal/testenv"
	"github.com/airlockhq/airlock/internal/token"
	"github.com/airlockhq/airlock/internal/wire"
)

// TestCapturedAssertionRefusedElsewhere plays what a rogue connector of
// tunnel A learns from a real edge (the Dial of a user's stream, and its
// assertion) against real connectors: one of tunnel B, and one of tunnel A
// itself. Each is reached through a fake edge that announces the real
// edge's keys, as an attacker who could also pose as the edge would. The
// assertion opens nothing on another tunnel or app, nothing once expired,
// and its own stream once.
func TestCapturedAssertionRefusedElsewhere(t *testing.T) {
	const otherApp = "other.example.com"
	e := edgetest.Start(t, edgetest.Options{Logger: testLogger(t).With("side", "edge")})
	tunA := e.CreateTunnel(t, "a", testApp, otherApp)
	tunB := e.CreateTunnel(t, "b", "b.example.com")
	captured := e.RogueConnector(t, tunA)

	c := e.DialClient(t)
	if _, err := edgetest.Echo(t, c, testApp, e.MintToken(t, testApp, testEmail, time.Hour), "hello"); err != nil {
		t.Fatalf("the user's stream: %v", err)
	}
	var d *wire.Dial
	select {
	case d = <-captured:
	case <-testenv.Context(t).Done():
		t.Fatal("the rogue connector got no Dial")
	}

	// Real connectors of tunnels A and B, each on a fake edge that
	// announces the real edge's keys; both serve every app to an origin.
	origin := startEcho(t)
	clk := newClock()
	connectorOf := func(tun *edgetest.Tunnel) []*fakeedge.Conn {
		fe := fakeedge.StartTunnel(t, tun.Credentials.TunnelID, tun.Credentials.Secret, e.Keys()...)
		startConnector(t, fe.Credentials(), rules(t, testApp+"="+origin.url(), otherApp+"="+origin.url(), "b.example.com="+origin.url()),
			func(c *connector.Config) { c.Now = clk.Now })
		return fe.WaitConns(2)
	}
	connA, connB := connectorOf(tunA), connectorOf(tunB)
	present := func(t *testing.T, conn *fakeedge.Conn, d *wire.Dial) *wire.Result {
		t.Helper()
		st, res, err := conn.Dial(testenv.Context(t), d)
		if err != nil {
			t.Fatal(err)
		}
		if st != nil {
			st.Close()
		}
		return res
	}
	cases := []struct {
		name    string
		conn    *fakeedge.Conn
		dial    func() *wire.Dial
		advance time.Duration // of the connector's clock
		wantMsg string
	}{
		{"tunnel B's connector", connB[0], func() *wire.Dial { return d }, 0, "assertion is for tunnel"},
		{"tunnel B's connector, for its app", connB[0], func() *wire.Dial {
			x := *d
			x.App = "b.example.com"
			return &x
		}, 0, "assertion is for tunnel"},
		{"another app of tunnel A", connA[0], func() *wire.Dial {
			x := *d
			x.App = otherApp
			return &x
		}, 0, `assertion is for app "` + testApp + `"`},
		{"another stream", connA[0], func() *wire.Dial {
			x := *d
			x.StreamID += "0"
			return &x
		}, 0, "assertion is for stream"},
		{"after expiry", connA[0], func() *wire.Dial { return d }, token.DefaultAssertionTTL + token.DefaultLeeway, "expired"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			clk.Add(tc.advance)
			defer clk.Reset()
			res := present(t, tc.conn, tc.dial())
			if res.Code != wire.CodeUnauthenticated || !strings.Contains(res.Message, tc.wantMsg) {
				t.Fatalf("result %v %q, want unauthenticated naming %q", res.Code, res.Message, tc.wantMsg)
			}
		})
	}
	if n := origin.accepted.Load(); n != 0 {
		t.Fatalf("the origin got %d connections from a captured assertion", n)
	}
	// Where it does work, its own tunnel, app and stream within seconds,
	// it works once: the connector that took it refuses it on any of its
	// connections afterwards.
	if res := present(t, connA[0], d); res.Code != wire.CodeOK {
		t.Fatalf("its own stream: %v %q", res.Code, res.Message)
	}
	for i, conn := range connA {
		if res := present(t, conn, d); res.Code != wire.CodeUnauthenticated || !strings.Contains(res.Message, "already used") {
			t.Fatalf("replayed on connection %d: %v %q, want unauthenticated, already used", i, res.Code, res.Message)
		}
	}
}
