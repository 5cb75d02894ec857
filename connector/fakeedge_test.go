package connector_test

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"strings"
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
	return &wire.Dial{App: testApp, Token: "", Email: testEmail, Subject: testEmail, StreamID: "st-1"}
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
	d.Token = mint(t, s.signer, testApp, testEmail)
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
	d.Token = mint(t, s.signer, testApp, testEmail)
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

func TestForwardedIdentityChecked(t *testing.T) {
	s := newFakeSetup(t, nil)
	forger := newSigner(t) // a key the edge never announced
	expired, err := s.signer.Sign(token.Claims{Subject: testEmail, Email: testEmail, Audience: []string{testApp},
		ExpiresAt: time.Now().Add(-time.Hour), IssuedAt: time.Now().Add(-2 * time.Hour), NotBefore: time.Now().Add(-2 * time.Hour), Kind: token.KindService})
	if err != nil {
		t.Fatal(err)
	}
	// A token whose kid names the edge's key but is signed by another key.
	impostor, err := token.NewSigner(s.signer.PublicKey().ID, mustKey(t), "test-edge")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		dial    func(d *wire.Dial)
		wantMsg string
	}{
		{"forged signature", func(d *wire.Dial) { d.Token = mint(t, impostor, testApp, testEmail) }, "signature"},
		{"unknown key", func(d *wire.Dial) { d.Token = mint(t, forger, testApp, testEmail) }, "unknown key"},
		{"alg none", func(d *wire.Dial) { d.Token = algNone(testApp, testEmail) }, "algorithm"},
		{"expired", func(d *wire.Dial) { d.Token = expired }, "expired"},
		{"wrong audience", func(d *wire.Dial) { d.Token = mint(t, s.signer, "other.example.com", testEmail) }, "another audience"},
		{"garbage", func(d *wire.Dial) { d.Token = "not-a-jwt" }, "malformed"},
		{"email differs from the token", func(d *wire.Dial) {
			d.Token = mint(t, s.signer, testApp, testEmail)
			d.Email = "mallory@example.com"
		}, `forwarded email "mallory@example.com"`},
		{"subject differs from the token", func(d *wire.Dial) {
			d.Token = mint(t, s.signer, testApp, testEmail)
			d.Subject = "mallory"
		}, "forwarded subject"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := s.goodDial()
			tt.dial(d)
			_, res := s.dial(t, d)
			if res.Code != wire.CodeUnauthenticated || !strings.Contains(res.Message, tt.wantMsg) {
				t.Fatalf("result %v %q, want unauthenticated naming %q", res.Code, res.Message, tt.wantMsg)
			}
			if strings.Contains(res.Message, d.Token) {
				t.Fatal("the refusal repeats the token")
			}
		})
	}
	if n := s.origin.accepted.Load(); n != 0 {
		t.Fatalf("origin got %d connections from refused streams", n)
	}
	if v := metricValue(t, s.run.metrics(t), `airlock_connector_streams_total{outcome="unauthenticated"}`); v != "8" {
		t.Errorf("unauthenticated streams = %s", v)
	}
}

func mustKey(t *testing.T) ed25519.PrivateKey {
	_, k, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func algNone(app, email string) string {
	enc := base64.RawURLEncoding.EncodeToString
	h := enc([]byte(`{"alg":"none","typ":"JWT"}`))
	exp := time.Now().Add(time.Hour).Unix()
	p := enc([]byte(`{"sub":"` + email + `","email":"` + email + `","aud":"` + app + `","kind":"service","exp":` + itoa(exp) + `}`))
	return h + "." + p + "."
}

func itoa(n int64) string {
	var b []byte
	for n > 0 {
		b = append([]byte{byte('0' + n%10)}, b...)
		n /= 10
	}
	return string(b)
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
			d.Token = mint(t, s.signer, tt.app, testEmail)
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
	down := closedPort(t)
	r := startConnector(t, fe.Credentials(), rules(t, testApp+"=tcp://"+down), nil)
	conns := fe.WaitConns(2)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, res, err := conns[1].Dial(ctx, &wire.Dial{App: testApp, Token: mint(t, sg, testApp, testEmail), Email: testEmail})
	if err != nil {
		t.Fatal(err)
	}
	if res.Code != wire.CodeOriginUnreachable || !strings.Contains(res.Message, "tcp://"+down) || !strings.Contains(res.Message, "refused") {
		t.Fatalf("result %v %q: want origin unreachable naming the origin and the cause", res.Code, res.Message)
	}
	m := r.metrics(t)
	if v := metricValue(t, m, `airlock_connector_streams_total{outcome="origin_unreachable"}`); v != "1" {
		t.Errorf("origin unreachable streams = %s", v)
	}
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
	d.Token = mint(t, s.signer, testApp, testEmail)
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
	d.Token = mint(t, next, testApp, testEmail)
	if _, res := s.dial(t, d); res.Code != wire.CodeUnauthenticated {
		t.Fatalf("a token from a key not yet announced: %+v", res)
	}
	if err := s.conns[0].Send(&wire.Keys{Keys: []wire.PublicKey{next.PublicKey()}}); err != nil {
		t.Fatal(err)
	}
	// The Keys frame races the next stream.
	testenv.Eventually(t, "a token of the announced key to be accepted", func() error {
		st, res := s.dial(t, d)
		if res.Code != wire.CodeOK {
			return fmt.Errorf("refused: %+v", res)
		}
		st.Close()
		return nil
	})
	d.Token = mint(t, s.signer, testApp, testEmail)
	if _, res := s.dial(t, d); res.Code != wire.CodeUnauthenticated {
		t.Fatalf("a token from the retired key: %+v", res)
	}
}
