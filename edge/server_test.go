package edge

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/quic-go/quic-go"

	"github.com/airlockhq/airlock/internal/relay"
	"github.com/airlockhq/airlock/internal/testenv"
	"github.com/airlockhq/airlock/internal/token"
	"github.com/airlockhq/airlock/internal/wire"
)

func newTestSigner(t *testing.T) *token.Signer {
	t.Helper()
	kid, key, err := token.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	s, err := token.NewSigner(kid, key, "airlock-edge")
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestRelay(t *testing.T) {
	e := startEdge(t)
	e.connector(t, "conn-a", e.creds)
	c := e.client(t)
	tok := e.mint(t, testApp, "alice@example.com", time.Hour)
	str, res := open(t, c, &wire.Open{App: testApp, Token: tok, Target: "kubernetes:443"})
	if res.Code != wire.CodeOK {
		t.Fatalf("result %v", res.Err())
	}
	if got := roundTrip(t, str, "hello"); got != "conn-a:hello" {
		t.Fatalf("relayed %q", got)
	}
	r := e.auditFor(t, func(r AuditRecord) bool { return r.Outcome == "ok" })
	if r.User != "alice@example.com" || r.App != testApp || r.Tunnel != "demo" || r.BytesFromClient != 5 ||
		r.BytesToClient != int64(len("conn-a:hello")) || r.ConnectorConn == "" || r.Target != "kubernetes:443" {
		t.Fatalf("audit %+v", r)
	}
	if strings.Contains(e.audit.String(), tok) {
		t.Fatal("the audit log holds the token")
	}
}

func TestHandshakeRefusals(t *testing.T) {
	e := startEdge(t)
	cases := []struct {
		name   string
		send   func(t *testing.T, ctrl *quic.Stream)
		code   wire.Code
		msg    string
		reason string
	}{
		{"garbage", func(t *testing.T, ctrl *quic.Stream) { ctrl.Write([]byte{0xff, 0, 1, 0}) }, wire.CodeBadRequest, "unknown frame type", "bad_hello"},
		{"open instead of hello", func(t *testing.T, ctrl *quic.Stream) {
			wire.WriteFrame(ctrl, &wire.Open{App: testApp})
		}, wire.CodeBadRequest, "expected a hello frame", "bad_hello"},
		{"truncated hello", func(t *testing.T, ctrl *quic.Stream) {
			ctrl.Write([]byte{byte(wire.FrameHello), 0, 10, 1})
			ctrl.Close()
		}, wire.CodeBadRequest, "unexpected EOF", "bad_hello"},
		{"future version", func(t *testing.T, ctrl *quic.Stream) {
			wire.WriteFrame(ctrl, &wire.Hello{Version: 99, Role: wire.RoleClient})
		}, wire.CodeUnsupportedVersion, "version 99", "unsupported_version"},
		{"unknown tunnel", func(t *testing.T, ctrl *quic.Stream) {
			wire.WriteFrame(ctrl, &wire.Hello{Version: wire.Version, Role: wire.RoleConnector, TunnelID: "nope", Secret: "x"})
		}, wire.CodeUnauthenticated, `tunnel id "nope"`, "unknown_tunnel"},
		{"wrong secret", func(t *testing.T, ctrl *quic.Stream) {
			wire.WriteFrame(ctrl, &wire.Hello{Version: wire.Version, Role: wire.RoleConnector, TunnelID: e.creds.TunnelID, Secret: e.lonely.Secret})
		}, wire.CodeUnauthenticated, "wrong secret for tunnel demo", "bad_secret"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			before := metricValue(t, e.srv, "airlock_edge_handshake_failures_total", "reason", tc.reason)
			conn, ctrl := e.dial(t)
			tc.send(t, ctrl)
			ctrl.SetReadDeadline(time.Now().Add(5 * time.Second))
			w, err := wire.ReadFrameOf[*wire.Welcome](ctrl)
			if err != nil {
				t.Fatalf("no welcome: %v", err)
			}
			if w.Code != tc.code || !strings.Contains(w.Message, tc.msg) {
				t.Fatalf("welcome %v, want %v naming %q", w.Err(), tc.code, tc.msg)
			}
			select {
			case <-conn.Context().Done():
			case <-time.After(5 * time.Second):
				t.Fatal("the edge kept a refused connection open")
			}
			if got := relay.CodeOf(context.Cause(conn.Context())); got != tc.code {
				t.Fatalf("connection closed with %v, want %v", got, tc.code)
			}
			if after := metricValue(t, e.srv, "airlock_edge_handshake_failures_total", "reason", tc.reason); after != before+1 {
				t.Fatalf("handshake_failures{reason=%q} went %v → %v", tc.reason, before, after)
			}
		})
	}
	// The edge still serves.
	e.client(t)
}

func TestStreamRefusals(t *testing.T) {
	e := startEdge(t)
	fc := e.connector(t, "conn-a", e.creds)
	c := e.client(t)
	forger := newTestSigner(t)
	// A token that expired: signed with timestamps in the past.
	s, _ := e.cfg.Signer()
	expired, err := s.Sign(token.Claims{Subject: "alice@example.com", Email: "alice@example.com", Audience: []string{testApp},
		Kind: token.KindService, IssuedAt: time.Now().Add(-2 * time.Hour), NotBefore: time.Now().Add(-2 * time.Hour), ExpiresAt: time.Now().Add(-time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	none := jwt.NewWithClaims(jwt.SigningMethodNone, jwt.MapClaims{"aud": testApp, "email": "alice@example.com", "sub": "a", "kind": "service", "exp": time.Now().Add(time.Hour).Unix()})
	none.Header["kid"] = e.srv.Keys()[0].ID
	noneTok, err := none.SignedString(jwt.UnsafeAllowNoneSignatureType)
	if err != nil {
		t.Fatal(err)
	}
	forged, err := forger.Mint(token.KindService, testApp, "alice@example.com", nil, time.Hour)
	if err != nil {
		t.Fatal(err)
	}

	cases := []struct {
		name    string
		open    *wire.Open
		code    wire.Code
		msg     string
		outcome string
	}{
		{"unknown app", &wire.Open{App: "nope.demo.test", Token: e.mint(t, "nope.demo.test", "alice@example.com", time.Hour)}, wire.CodeUnknownApp, "no app nope.demo.test", "unknown_app"},
		{"no token", &wire.Open{App: testApp}, wire.CodeUnauthenticated, "no token", "unauthenticated"},
		{"garbage token", &wire.Open{App: testApp, Token: "abc"}, wire.CodeUnauthenticated, "malformed", "unauthenticated"},
		{"expired", &wire.Open{App: testApp, Token: expired}, wire.CodeUnauthenticated, "expired", "unauthenticated"},
		{"forged", &wire.Open{App: testApp, Token: forged}, wire.CodeUnauthenticated, "unknown key", "unauthenticated"},
		{"alg none", &wire.Open{App: testApp, Token: noneTok}, wire.CodeUnauthenticated, "algorithm", "unauthenticated"},
		{"wrong audience", &wire.Open{App: testApp, Token: e.mint(t, otherApp, "bob@other.test", time.Hour)}, wire.CodeUnauthenticated, "another audience", "unauthenticated"},
		{"outside policy", &wire.Open{App: testApp, Token: e.mint(t, testApp, "alice@evil.com", time.Hour)}, wire.CodeForbidden,
			"alice@evil.com is not allowed to reach app k8s.demo.test (policy: email domains)", "forbidden"},
		{"deny rule", &wire.Open{App: testApp, Token: e.mint(t, testApp, "mallory@example.com", time.Hour)}, wire.CodeForbidden, "deny rule (email mallory@example.com)", "forbidden"},
		{"other app's policy", &wire.Open{App: otherApp, Token: e.mint(t, otherApp, "alice@example.com", time.Hour)}, wire.CodeForbidden, "policy: emails", "forbidden"},
		{"no connector", &wire.Open{App: lonelyApp, Token: e.mint(t, lonelyApp, "alice@example.com", time.Hour)}, wire.CodeNoConnector, "no connector of tunnel lonely", "no_connector"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			str, res := open(t, c, tc.open)
			if res.Code != tc.code || !strings.Contains(res.Message, tc.msg) {
				t.Fatalf("result %v, want %v naming %q", res.Err(), tc.code, tc.msg)
			}
			str.SetReadDeadline(time.Now().Add(5 * time.Second))
			if b, err := io.ReadAll(str); len(b) != 0 || err != nil {
				t.Fatalf("after the refusal: %q, %v; want a clean EOF", b, err)
			}
			rec := e.auditFor(t, func(r AuditRecord) bool { return r.Message == res.Message })
			if rec.Outcome != tc.outcome || rec.Code != tc.code {
				t.Fatalf("audit %+v", rec)
			}
			if tc.open.Token != "" && strings.Contains(e.audit.String(), tc.open.Token) {
				t.Fatal("the audit log holds a token")
			}
		})
	}
	if len(fc.dials) != 0 {
		t.Fatalf("a refused stream reached the connector")
	}

	t.Run("connector refuses", func(t *testing.T) {
		fc.result.Store(&wire.Result{Code: wire.CodeOriginUnreachable, Message: "dial tcp 10.0.0.1:6443: connection refused"})
		_, res := open(t, c, &wire.Open{App: testApp, Token: e.mint(t, testApp, "alice@example.com", time.Hour), Target: "x:1"})
		if res.Code != wire.CodeOriginUnreachable || !strings.Contains(res.Message, "connection refused") {
			t.Fatalf("result %v", res.Err())
		}
		d := <-fc.dials
		if d.Email != "alice@example.com" || d.App != testApp || d.Assertion == "" || d.StreamID == "" || d.Target != "x:1" {
			t.Fatalf("dial %+v", d)
		}
	})
}

func TestMalformedOpen(t *testing.T) {
	e := startEdge(t)
	e.connector(t, "conn-a", e.creds)
	c := e.client(t)
	cases := map[string][]byte{
		"unknown frame type": {0xee, 0, 0},
		"hello on a stream":  mustFrame(t, &wire.Hello{Version: 1, Role: wire.RoleClient}),
		"bad hostname":       mustFrame(t, &wire.Open{App: "bad host!", Token: "x"}),
		"oversized length":   {byte(wire.FrameOpen), 0xff, 0xff},
		"truncated":          {byte(wire.FrameOpen), 0, 20, 1, 3},
	}
	for name, raw := range cases {
		t.Run(name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			str, err := c.OpenStreamSync(ctx)
			if err != nil {
				t.Fatal(err)
			}
			str.Write(raw)
			if name == "truncated" {
				str.Close()
			}
			str.SetReadDeadline(time.Now().Add(5 * time.Second))
			_, err = io.ReadAll(str)
			if code, ok := streamErrCode(err); !ok || code != wire.CodeBadRequest {
				t.Fatalf("read after a malformed open: %v, want a reset with %v", err, wire.CodeBadRequest)
			}
			// The edge keeps serving, on the same connection.
			str2, res := open(t, c, &wire.Open{App: testApp, Token: e.mint(t, testApp, "alice@example.com", time.Hour)})
			if res.Code != wire.CodeOK {
				t.Fatal(res.Err())
			}
			if got := roundTrip(t, str2, "next"); got != "conn-a:next" {
				t.Fatalf("next stream relayed %q", got)
			}
		})
	}
	if n := metricValue(t, e.srv, "airlock_edge_streams_total", "outcome", "bad_request"); n != float64(len(cases)) {
		t.Fatalf("bad_request streams = %v, want %d", n, len(cases))
	}
}

func mustFrame(t *testing.T, f wire.Frame) []byte {
	t.Helper()
	b, err := wire.AppendFrame(nil, f)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestSpreadAndDrain(t *testing.T) {
	e := startEdge(t)
	a := e.connector(t, "a", e.creds)
	e.connector(t, "b", e.creds)
	c := e.client(t)
	tok := e.mint(t, testApp, "alice@example.com", time.Hour)
	// routed is how many streams the edge counts on connector connections.
	routed := func() int64 {
		var total int64
		for _, p := range e.srv.registry.all() {
			if p.hello.Role == wire.RoleConnector {
				total += p.active.Load()
			}
		}
		return total
	}
	// count opens n streams one after the other and says where each went.
	// A stream is over at the client before the edge has released it, so
	// each waits until the edge counts only the held streams again: the
	// pick of the next one sees the load it is meant to.
	var held int64
	count := func(n int) map[string]int {
		got := map[string]int{}
		for range n {
			str, res := open(t, c, &wire.Open{App: testApp, Token: tok})
			if res.Code != wire.CodeOK {
				t.Fatal(res.Err())
			}
			got[strings.TrimSuffix(roundTrip(t, str, ""), ":")]++
			testenv.Eventually(t, "the edge to release the stream", func() error {
				if r := routed(); r != held {
					return fmt.Errorf("%d streams routed, want %d", r, held)
				}
				return nil
			})
		}
		return got
	}
	if got := count(10); got["a"] == 0 || got["b"] == 0 {
		t.Fatalf("streams were not spread: %v", got)
	}
	// Least streams first: with a long stream held on one connection, new
	// ones go to the other.
	long, res := open(t, c, &wire.Open{App: testApp, Token: tok})
	if res.Code != wire.CodeOK {
		t.Fatal(res.Err())
	}
	held = 1
	long.SetReadDeadline(time.Now().Add(5 * time.Second))
	first := make([]byte, 2)
	if _, err := io.ReadFull(long, first); err != nil {
		t.Fatal(err)
	}
	if got := count(4); got[string(first[:1])] != 0 {
		t.Fatalf("with a stream held on %s, new streams went %v", first[:1], got)
	}
	long.Close()
	held = 0

	if err := a.sendDrain(); err != nil {
		t.Fatal(err)
	}
	testenv.Eventually(t, "the edge to see the drain", func() bool {
		for _, p := range e.srv.registry.all() {
			if p.hello.ConnectorID == "a" && p.draining.Load() {
				return true
			}
		}
		return false
	})
	if got := count(6); got["a"] != 0 || got["b"] != 6 {
		t.Fatalf("after a drained: %v", got)
	}
}

func (fc *fakeConnector) sendDrain() error {
	return wire.WriteFrame(fc.ctrl, &wire.Drain{Reason: "test"})
}

func TestConnectorGone(t *testing.T) {
	e := startEdge(t)
	fc := e.connector(t, "a", e.creds)
	c := e.client(t)
	tok := e.mint(t, testApp, "alice@example.com", time.Hour)
	if _, res := open(t, c, &wire.Open{App: testApp, Token: tok}); res.Code != wire.CodeOK {
		t.Fatal(res.Err())
	}
	fc.conn.CloseWithError(0, "bye")
	testenv.Eventually(t, "the edge to drop the connector", func() bool { return len(e.srv.registry.connectors()) == 0 })
	if _, res := open(t, c, &wire.Open{App: testApp, Token: tok}); res.Code != wire.CodeNoConnector {
		t.Fatalf("with the connector gone: %v", res.Err())
	}
}

func TestShutdown(t *testing.T) {
	e := startEdge(t)
	fc := e.connector(t, "a", e.creds)
	conn, ctrl := e.dial(t)
	hello(t, ctrl, &wire.Hello{Version: wire.Version, Role: wire.RoleClient})
	str, res := open(t, conn, &wire.Open{App: testApp, Token: e.mint(t, testApp, "alice@example.com", time.Hour)})
	if res.Code != wire.CodeOK {
		t.Fatal(res.Err())
	}
	e.cancel()
	ctrl.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := wire.ReadFrameOf[*wire.Drain](ctrl); err != nil {
		t.Fatalf("the client got no drain: %v", err)
	}
	select {
	case f := <-fc.frames:
		if _, ok := f.(*wire.Drain); !ok {
			t.Fatalf("the connector got %v, want a drain", f.FrameType())
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the connector got no drain")
	}
	// The open stream still works during the grace period, and once it
	// ends the edge stops without waiting for the rest of the grace.
	start := time.Now()
	if got := roundTrip(t, str, "late"); got != "a:late" {
		t.Fatalf("relay during shutdown: %q", got)
	}
	select {
	case err := <-e.done:
		if err != nil {
			t.Fatal(err)
		}
		e.done <- nil
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not return")
	}
	if d := time.Since(start); d > 1500*time.Millisecond {
		t.Fatalf("shutdown took %v after the last stream ended", d)
	}
	select {
	case <-conn.Context().Done():
		if got := relay.CodeOf(context.Cause(conn.Context())); got != wire.CodeGoingAway {
			t.Fatalf("closed with %v, want going away", got)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the client connection was not closed")
	}
}

func TestReload(t *testing.T) {
	e := startEdge(t)
	fc := e.connector(t, "a", e.creds)
	lonely := e.connector(t, "l", e.lonely)
	if len(fc.welcome.Keys) != 1 {
		t.Fatalf("welcome keys %v", fc.welcome.Keys)
	}
	kid, key, err := token.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	pemKey, _ := token.MarshalPrivateKey(key)
	if err := os.WriteFile(filepath.Join(filepath.Dir(e.path), "new.pem"), pemKey, 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := UpdateConfig(e.path, func(c *Config) error {
		c.Tokens.SigningKeys = append([]SigningKey{{ID: kid, File: "new.pem"}}, c.Tokens.SigningKeys...)
		c.Tunnels = slices.DeleteFunc(c.Tunnels, func(t Tunnel) bool { return t.Name == "lonely" })
		c.Apps = slices.DeleteFunc(c.Apps, func(a App) bool { return a.Hostname == lonelyApp })
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := e.srv.Reload(cfg); err != nil {
		t.Fatal(err)
	}
	select {
	case f := <-fc.frames:
		k, ok := f.(*wire.Keys)
		if !ok || len(k.Keys) != 2 || k.Keys[0].ID != kid {
			t.Fatalf("after rotation the connector got %+v", f)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no keys frame after rotation")
	}
	select {
	case <-lonely.conn.Context().Done():
	case <-time.After(5 * time.Second):
		t.Fatal("the connector of a removed tunnel stayed connected")
	}
	// Tokens of the new key work, old ones too.
	e.cfg = cfg
	c := e.client(t)
	for _, email := range []string{"alice@example.com"} {
		if _, res := open(t, c, &wire.Open{App: testApp, Token: e.mint(t, testApp, email, time.Hour)}); res.Code != wire.CodeOK {
			t.Fatalf("new key: %v", res.Err())
		}
	}
	if _, res := open(t, c, &wire.Open{App: lonelyApp, Token: e.mint(t, lonelyApp, "alice@example.com", time.Hour)}); res.Code != wire.CodeUnknownApp {
		t.Fatalf("removed app: %v", res.Err())
	}
}

func TestAdmin(t *testing.T) {
	e := startEdge(t)
	e.connector(t, "a", e.creds)
	e.connector(t, "b", e.creds)
	c := e.client(t)
	if _, res := open(t, c, &wire.Open{App: testApp}); res.Code != wire.CodeUnauthenticated {
		t.Fatal(res.Err())
	}
	base := "http://" + e.srv.AdminAddr().String()
	resp, err := http.Get(base + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	var h Health
	json.NewDecoder(resp.Body).Decode(&h)
	resp.Body.Close()
	if resp.StatusCode != 200 || h.Status != "ok" || h.Connectors["demo"] != 2 {
		t.Fatalf("healthz %d %+v", resp.StatusCode, h)
	}
	e.auditFor(t, func(r AuditRecord) bool { return r.Outcome == "unauthenticated" })
	resp, err = http.Get(base + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, want := range []string{
		`airlock_edge_connector_connections{tunnel="demo"} 2`,
		`airlock_edge_client_connections 1`,
		`airlock_edge_streams_total{outcome="unauthenticated"} 1`,
		`airlock_edge_stream_check_seconds_count 1`,
		`go_goroutines`,
	} {
		if !strings.Contains(string(body), want) {
			t.Errorf("metrics lack %q", want)
		}
	}
	if !strings.HasPrefix(e.srv.AdminAddr().String(), "127.0.0.1:") {
		t.Fatalf("admin on %s", e.srv.AdminAddr())
	}
}

// metricValue returns the value of a counter or gauge with one label pair
// (0 when absent).
func metricValue(t *testing.T, s *Server, name, label, value string) float64 {
	t.Helper()
	fams, err := s.Registry().Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range fams {
		if f.GetName() != name {
			continue
		}
		for _, m := range f.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == label && l.GetValue() == value {
					return m.GetCounter().GetValue() + m.GetGauge().GetValue()
				}
			}
		}
	}
	return 0
}

// TestDrainedConnectorClosed: a connector connection that sent Drain keeps
// its open stream, gets no new one, and is closed with CodeGoingAway soon
// after that stream ends; one with no stream is closed at once.
func TestDrainedConnectorClosed(t *testing.T) {
	closedWith := func(t *testing.T, fc *fakeConnector, within time.Duration) {
		t.Helper()
		select {
		case <-fc.conn.Context().Done():
			if got := relay.CodeOf(context.Cause(fc.conn.Context())); got != wire.CodeGoingAway {
				t.Fatalf("closed with %v (%v), want going away", got, context.Cause(fc.conn.Context()))
			}
		case <-time.After(within):
			t.Fatalf("the drained connection was not closed within %s", within)
		}
	}
	t.Run("with an open stream", func(t *testing.T) {
		e := startEdge(t)
		a := e.connector(t, "a", e.creds)
		c := e.client(t)
		tok := e.mint(t, testApp, "alice@example.com", time.Hour)
		held, res := open(t, c, &wire.Open{App: testApp, Token: tok})
		if res.Code != wire.CodeOK {
			t.Fatal(res.Err())
		}
		if err := a.sendDrain(); err != nil {
			t.Fatal(err)
		}
		testenv.Eventually(t, "the edge to see the drain", func() bool {
			for _, p := range e.srv.registry.all() {
				if p.hello.ConnectorID == "a" && p.draining.Load() {
					return true
				}
			}
			return false
		})
		b := e.connector(t, "b", e.creds)
		for range 3 {
			str, res := open(t, c, &wire.Open{App: testApp, Token: tok})
			if res.Code != wire.CodeOK {
				t.Fatal(res.Err())
			}
			if got := roundTrip(t, str, "x"); got != "b:x" {
				t.Fatalf("a new stream went %q, want to b", got)
			}
		}
		if a.conn.Context().Err() != nil {
			t.Fatalf("closed with a stream open: %v", context.Cause(a.conn.Context()))
		}
		start := time.Now()
		if got := roundTrip(t, held, "last"); got != "a:last" {
			t.Fatalf("the held stream after the drain: %q", got)
		}
		closedWith(t, a, 5*time.Second)
		if d := time.Since(start); d > 1500*time.Millisecond {
			t.Errorf("closed %s after the last stream ended", d)
		}
		if b.conn.Context().Err() != nil {
			t.Errorf("the other connector's connection closed too")
		}
	})
	t.Run("idle", func(t *testing.T) {
		e := startEdge(t)
		a := e.connector(t, "a", e.creds)
		if err := a.sendDrain(); err != nil {
			t.Fatal(err)
		}
		closedWith(t, a, 5*time.Second)
	})
	t.Run("control stream closed", func(t *testing.T) {
		e := startEdge(t)
		a := e.connector(t, "a", e.creds)
		a.ctrl.Close()
		closedWith(t, a, 5*time.Second)
	})
}

// TestGoingAwayRetried: a connector that answers a stream with
// CodeGoingAway (it is draining and its Drain has not arrived yet) or
// resets it so before any bytes flowed costs the client nothing: the edge
// tries the tunnel's other connections, each at most once, and stops
// routing to the one going away.
func TestGoingAwayRetried(t *testing.T) {
	goingAway := func(fc *fakeConnector) {
		fc.result.Store(&wire.Result{Code: wire.CodeGoingAway, Message: "connector draining"})
	}
	reset := func(fc *fakeConnector) { fc.reset.Store(true) }
	for _, tc := range []struct {
		name    string
		leaving []func(*fakeConnector) // connectors that go away, and how
		stay    bool                   // whether a connector stays
		want    wire.Code
	}{
		{"answer", []func(*fakeConnector){goingAway}, true, wire.CodeOK},
		{"reset", []func(*fakeConnector){reset}, true, wire.CodeOK},
		{"two leaving", []func(*fakeConnector){goingAway, reset}, true, wire.CodeOK},
		{"all leaving", []func(*fakeConnector){goingAway, reset}, false, wire.CodeNoConnector},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := startEdge(t)
			var leaving []*fakeConnector
			for i, how := range tc.leaving {
				fc := e.connector(t, "leaving"+strconv.Itoa(i), e.creds)
				how(fc)
				leaving = append(leaving, fc)
			}
			if tc.stay {
				e.connector(t, "b", e.creds)
			}
			c := e.client(t)
			tok := e.mint(t, testApp, "alice@example.com", time.Hour)
			for i := range 2 * len(leaving) {
				str, res := open(t, c, &wire.Open{App: testApp, Token: tok})
				if res.Code != tc.want {
					t.Fatalf("stream %d: %v, want %v", i, res.Err(), tc.want)
				}
				if tc.want == wire.CodeOK {
					if got := roundTrip(t, str, "x"); got != "b:x" {
						t.Fatalf("stream %d relayed %q, want b:x", i, got)
					}
				}
			}
			for _, fc := range leaving {
				if len(fc.dials) == 0 {
					t.Errorf("%s was never tried", fc.name)
				}
				if len(fc.dials) > 1 {
					t.Errorf("%s got %d streams; after going away it should get none", fc.name, len(fc.dials))
				}
			}
		})
	}
}
