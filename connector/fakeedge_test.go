package connector_test

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/airlockhq/airlock/connector"
	"github.com/airlockhq/airlock/connector/internal/fakeedge"
	"github.com/airlockhq/airlock/internal/testenv"
	"github.com/airlockhq/airlock/internal/token"
	"github.com/airlockhq/airlock/internal/wire"
)

// fakeSetup is a connector on a fake edge that serves testApp from an echo
// origin.
type fakeSetup struct {
	edge   *fakeedge.Edge
	signer *token.Signer
	origin *echoServer
	run    *running
	conns  []*fakeedge.Conn
}

func newFakeSetup(t *testing.T, mod func(*connector.Config), extraRules ...string) *fakeSetup {
	t.Helper()
	s := &fakeSetup{signer: newSigner(t), origin: startEcho(t)}
	s.edge = fakeedge.Start(t, s.signer.PublicKey())
	flags := append(extraRules, testApp+"="+s.origin.url())
	s.run = startConnector(t, s.edge.Credentials(), rules(t, flags...), mod)
	s.conns = s.edge.WaitConns(2)
	s.run.waitReady(t, "two healthy connections", func(code int, st connector.Status) bool {
		return code == 200 && len(st.Connections) == 2 && st.Connections[0].Healthy && st.Connections[1].Healthy
	})
	return s
}

func (s *fakeSetup) dial(t *testing.T, d *wire.Dial) (*fakeedge.Stream, *wire.Result) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	st, res, err := s.conns[0].Dial(ctx, d)
	if err != nil {
		t.Fatalf("dial through the connector: %v", err)
	}
	return st, res
}

func (s *fakeSetup) goodDial() *wire.Dial {
	return &wire.Dial{App: testApp, Email: testEmail, Subject: testEmail, StreamID: "st-1"}
}

// signed gives d an assertion of the fake edge's signer for its tunnel.
func (s *fakeSetup) signed(t *testing.T, d *wire.Dial) *wire.Dial {
	t.Helper()
	return signDial(t, s.signer, s.edge.TunnelID, d)
}

func TestHAConnectionsHello(t *testing.T) {
	s := newFakeSetup(t, nil)
	ids := map[string]bool{}
	idx := map[uint64]bool{}
	for _, c := range s.conns {
		h := c.Hello
		if h.Role != wire.RoleConnector || h.TunnelID != s.edge.TunnelID || h.Secret != s.edge.Secret {
			t.Errorf("hello %+v does not carry the tunnel's credentials", h)
		}
		if !strings.HasPrefix(h.Software, "airlock-connector ") {
			t.Errorf("software %q", h.Software)
		}
		ids[h.ConnectorID] = true
		idx[h.ConnIndex] = true
	}
	if len(ids) != 1 || ids[""] {
		t.Errorf("connector ids %v: want one, the same on every connection", ids)
	}
	if len(idx) != 2 || !idx[0] || !idx[1] {
		t.Errorf("connection indexes %v: want 0 and 1", idx)
	}
	st := s.run.waitReady(t, "two healthy connections", func(code int, st connector.Status) bool {
		return code == 200 && len(st.Connections) == 2 && st.Connections[0].Healthy && st.Connections[1].Healthy
	})
	for i, c := range st.Connections {
		if c.Edge != s.edge.Addr() || c.Index != i || c.State != connector.StateConnected || c.EdgeID != "fake-edge" || c.Since.IsZero() {
			t.Errorf("connection %d: %+v", i, c)
		}
	}
	if st.ConnectorID != s.run.c.ID() || st.TunnelID != s.edge.TunnelID || st.Draining {
		t.Errorf("status %+v", st)
	}
}

func TestStreamReachesRuleOrigin(t *testing.T) {
	s := newFakeSetup(t, nil)
	d := s.goodDial()
	s.signed(t, d)
	st, res := s.dial(t, d)
	if res.Code != wire.CodeOK || st == nil {
		t.Fatalf("result %+v", res)
	}
	echoRoundTrip(t, st, st.CloseWrite, strings.Repeat("hello through the tunnel ", 1000))
	st.Close()
	if n := s.origin.accepted.Load(); n != 1 {
		t.Fatalf("origin accepted %d connections, want 1", n)
	}
	s.run.waitMetric(t, `airlock_connector_bytes_total{direction="to_origin"}`, "25000")
	s.run.waitMetric(t, `airlock_connector_bytes_total{direction="from_origin"}`, "25000")
	s.run.waitMetric(t, `airlock_connector_active_streams`, "0")
	m := s.run.metrics(t)
	if v := metricValue(t, m, `airlock_connector_streams_total{outcome="ok"}`); v != "1" {
		t.Errorf("ok streams = %s", v)
	}
	if v := metricValue(t, m, `airlock_connector_connections{state="connected"}`); v != "2" {
		t.Errorf("connected = %s", v)
	}
	if v := metricValue(t, m, `airlock_connector_origin_dial_seconds_count{result="ok"}`); v != "1" {
		t.Errorf("origin dials = %s", v)
	}
}

func TestOtherTargetStillReachesOnlyRuleOrigin(t *testing.T) {
	s := newFakeSetup(t, nil)
	other := startEcho(t)
	d := s.goodDial()
	s.signed(t, d)
	d.Target = other.addr()
	st, res := s.dial(t, d)
	if res.Code != wire.CodeOK {
		t.Fatalf("result %+v", res)
	}
	echoRoundTrip(t, st, st.CloseWrite, "ping")
	st.Close()
	if n := other.accepted.Load(); n != 0 {
		t.Fatalf("the target the client asked for got %d connections", n)
	}
	if n := s.origin.accepted.Load(); n != 1 {
		t.Fatalf("the rule's origin got %d connections, want 1", n)
	}
}

// TestStreamAssertionChecked: the connector dials nothing unless the
// Dial carries an assertion the edge signed with a key it announced, for
// this connector's tunnel and the Dial's app and stream, within its
// lifetime, never used before, vouching for the forwarded identity.
func TestStreamAssertionChecked(t *testing.T) {
	clk := newClock()
	s := newFakeSetup(t, func(c *connector.Config) { c.Now = clk.Now })
	forger := newSigner(t) // a key the edge never announced
	// An assertion whose kid names the edge's key but is signed by another key.
	impostor, err := token.NewSigner(s.signer.PublicKey().ID, mustKey(t), "test-edge")
	if err != nil {
		t.Fatal(err)
	}
	userToken, err := s.signer.Mint(token.KindService, testApp, testEmail, nil, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		dial    func(d *wire.Dial)
		wantMsg string
	}{
		{"no assertion", func(d *wire.Dial) {}, "no stream assertion"},
		{"forged signature", func(d *wire.Dial) { signDial(t, impostor, s.edge.TunnelID, d) }, "signature"},
		{"unknown key", func(d *wire.Dial) { signDial(t, forger, s.edge.TunnelID, d) }, "unknown key"},
		{"alg none", func(d *wire.Dial) { d.Assertion = algNone(s.edge.TunnelID, d) }, "algorithm"},
		{"another tunnel", func(d *wire.Dial) { signDial(t, s.signer, "other-tunnel", d) }, `for tunnel "other-tunnel"`},
		{"another app", func(d *wire.Dial) {
			s.signed(t, d)
			d.App = "other.example.com"
		}, `for app "k8s.example.com"`},
		{"another stream", func(d *wire.Dial) {
			s.signed(t, d)
			d.StreamID = "st-other"
		}, `for stream "st-1"`},
		{"the user's token instead", func(d *wire.Dial) { d.Assertion = userToken }, "not for this use"},
		{"garbage", func(d *wire.Dial) { d.Assertion = "not-a-jwt" }, "malformed"},
		{"email differs from the assertion", func(d *wire.Dial) {
			s.signed(t, d)
			d.Email = "mallory@example.com"
		}, `forwarded email "mallory@example.com"`},
		{"subject differs from the assertion", func(d *wire.Dial) {
			s.signed(t, d)
			d.Subject = "mallory"
		}, "forwarded subject"},
		{"expired", func(d *wire.Dial) {
			s.signed(t, d)
			clk.Add(token.DefaultAssertionTTL + token.DefaultLeeway) // lifetime and leeway
		}, "expired"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			defer clk.Reset()
			d := s.goodDial()
			tt.dial(d)
			_, res := s.dial(t, d)
			if res.Code != wire.CodeUnauthenticated || !strings.Contains(res.Message, tt.wantMsg) {
				t.Fatalf("result %v %q, want unauthenticated naming %q", res.Code, res.Message, tt.wantMsg)
			}
			if d.Assertion != "" && strings.Contains(res.Message, d.Assertion) {
				t.Fatal("the refusal repeats the assertion")
			}
		})
	}
	if n := s.origin.accepted.Load(); n != 0 {
		t.Fatalf("origin got %d connections from refused streams", n)
	}
	if v := metricValue(t, s.run.metrics(t), `airlock_connector_streams_total{outcome="unauthenticated"}`); v != fmt.Sprint(len(tests)) {
		t.Errorf("unauthenticated streams = %s, want %d", v, len(tests))
	}

	t.Run("replayed", func(t *testing.T) {
		d := s.signed(t, s.goodDial())
		st, res := s.dial(t, d)
		if res.Code != wire.CodeOK {
			t.Fatalf("first use: %+v", res)
		}
		echoRoundTrip(t, st, st.CloseWrite, "once")
		st.Close()
		// Again on the same connection, and on the connector's other one.
		for i, c := range s.conns {
			_, res, err := c.Dial(testenv.Context(t), d)
			if err != nil {
				t.Fatal(err)
			}
			if res.Code != wire.CodeUnauthenticated || !strings.Contains(res.Message, "already used") {
				t.Fatalf("replay on connection %d: %v %q, want unauthenticated, already used", i, res.Code, res.Message)
			}
		}
		if n := s.origin.accepted.Load(); n != 1 {
			t.Fatalf("origin got %d connections, want the first use's only", n)
		}
	})
}

func mustKey(t *testing.T) ed25519.PrivateKey {
	_, k, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// algNone returns an unsigned assertion ("alg": "none") of d for tunnelID.
func algNone(tunnelID string, d *wire.Dial) string {
	enc := base64.RawURLEncoding.EncodeToString
	h := enc([]byte(`{"alg":"none","typ":"` + token.AssertionType + `"}`))
	now := time.Now().Unix()
	p := enc(fmt.Appendf(nil, `{"sub":%q,"email":%q,"aud":"tunnel:%s","app":%q,"sid":%q,"jti":"n1","token_use":"stream","token_kind":"service","iat":%d,"exp":%d}`,
		d.Subject, d.Email, tunnelID, d.App, d.StreamID, now, now+30))
	return h + "." + p + "."
}

// clock is a time source a test moves; the connector checks assertions
// against it.
type clock struct {
	mu  sync.Mutex
	off time.Duration
}

func newClock() *clock { return &clock{} }

// Now is the real time moved by what Add added since the last Reset.
func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return time.Now().Add(c.off)
}

func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	c.off += d
	c.mu.Unlock()
}

func (c *clock) Reset() {
	c.mu.Lock()
	c.off = 0
	c.mu.Unlock()
}

func TestNoRuleAndDenyRule(t *testing.T) {
	s := newFakeSetup(t, nil, "secret.example.com=deny")
	tests := []struct {
		app     string
		wantMsg string
	}{
		{"unknown.example.com", "no ingress rule for app unknown.example.com"},
		{"secret.example.com", "denies app secret.example.com"},
	}
	for _, tt := range tests {
		t.Run(tt.app, func(t *testing.T) {
			d := s.goodDial()
			d.App = tt.app
			s.signed(t, d)
			_, res := s.dial(t, d)
			if res.Code != wire.CodeForbidden || !strings.Contains(res.Message, tt.wantMsg) {
				t.Fatalf("result %v %q, want forbidden %q", res.Code, res.Message, tt.wantMsg)
			}
		})
	}
	if n := s.origin.accepted.Load(); n != 0 {
		t.Fatalf("origin got %d connections", n)
	}
}

func TestOriginDown(t *testing.T) {
	sg := newSigner(t)
	fe := fakeedge.Start(t, sg.PublicKey())
	down := testenv.RefusedAddr(t)
	r := startConnector(t, fe.Credentials(), rules(t, testApp+"=tcp://"+down), nil)
	conns := fe.WaitConns(2)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, res, err := conns[1].Dial(ctx, signDial(t, sg, fe.TunnelID, &wire.Dial{App: testApp, Email: testEmail}))
	if err != nil {
		t.Fatal(err)
	}
	if res.Code != wire.CodeOriginUnreachable || !strings.Contains(res.Message, "tcp://"+down) || !strings.Contains(res.Message, "refused") {
		t.Fatalf("result %v %q: want origin unreachable naming the origin and the cause", res.Code, res.Message)
	}
	// The stream is counted when it ends, after its Result reached us.
	testenv.Eventually(t, "the origin-unreachable stream to be counted", func() error {
		if v := metricValue(t, r.metrics(t), `airlock_connector_streams_total{outcome="origin_unreachable"}`); v != "1" {
			return fmt.Errorf("origin unreachable streams = %s", v)
		}
		return nil
	})
	m := r.metrics(t)
	if v := metricValue(t, m, `airlock_connector_origin_dial_seconds_count{result="error"}`); v != "1" {
		t.Errorf("failed origin dials = %s", v)
	}
}

func TestMalformedDialKeepsServing(t *testing.T) {
	s := newFakeSetup(t, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	tests := []struct {
		name   string
		header []byte
	}{
		{"unknown frame type", []byte{99, 0, 0}},
		{"wrong frame", mustFrame(t, &wire.Result{})},
		{"bad app", []byte{byte(wire.FrameDial), 0, 5, 1, 3, '.', '.', '.'}},
		{"length past end", []byte{byte(wire.FrameDial), 0, 3, 1, 9, 'a'}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res, err := s.conns[0].DialRaw(ctx, tt.header)
			if err != nil {
				t.Fatalf("no result: %v", err)
			}
			if res.Code != wire.CodeBadRequest {
				t.Fatalf("result %v %q, want bad request", res.Code, res.Message)
			}
		})
	}
	d := s.goodDial()
	s.signed(t, d)
	st, res := s.dial(t, d)
	if res.Code != wire.CodeOK {
		t.Fatalf("after bad frames: %+v", res)
	}
	echoRoundTrip(t, st, st.CloseWrite, "still serving")
}

func mustFrame(t *testing.T, f wire.Frame) []byte {
	b, err := wire.AppendFrame(nil, f)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestKeyRotation(t *testing.T) {
	s := newFakeSetup(t, nil)
	next := newSigner(t)
	d := s.goodDial()
	signDial(t, next, s.edge.TunnelID, d)
	if _, res := s.dial(t, d); res.Code != wire.CodeUnauthenticated {
		t.Fatalf("an assertion by a key not yet announced: %+v", res)
	}
	if err := s.conns[0].Send(&wire.Keys{Keys: []wire.PublicKey{next.PublicKey()}}); err != nil {
		t.Fatal(err)
	}
	// The Keys frame races the next stream.
	testenv.Eventually(t, "an assertion by the announced key to be accepted", func() error {
		st, res := s.dial(t, d)
		if res.Code != wire.CodeOK {
			return fmt.Errorf("refused: %+v", res)
		}
		st.Close()
		return nil
	})
	s.signed(t, d)
	if _, res := s.dial(t, d); res.Code != wire.CodeUnauthenticated {
		t.Fatalf("an assertion by the retired key: %+v", res)
	}
}
