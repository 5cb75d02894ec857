package connector_test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/airlockhq/airlock/connector"
	"github.com/airlockhq/airlock/connector/internal/fakeedge"
	"github.com/airlockhq/airlock/internal/wire"
)

func TestDrainOnCancelFinishesOpenStream(t *testing.T) {
	s := newFakeSetup(t, func(c *connector.Config) { c.Grace = 30 * time.Second })
	s.edge.KeepDrained.Store(true)
	d := s.goodDial()
	s.signed(t, d)
	st, res := s.dial(t, d)
	if res.Code != wire.CodeOK {
		t.Fatalf("result %+v", res)
	}
	if _, err := io.WriteString(st, "before"); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 6)
	if _, err := io.ReadFull(st, buf); err != nil {
		t.Fatal(err)
	}

	s.run.stop()
	// Every connection gets a Drain so that the edge routes elsewhere; an
	// idle one may be closed at once instead.
	s.edge.WaitFor("a drain or a close on every connection", func([]*fakeedge.Conn) bool {
		for _, c := range s.conns {
			select {
			case <-c.Closed():
			default:
				if len(c.Drains()) == 0 {
					return false
				}
			}
		}
		return true
	})
	code, st2 := s.run.ready(t)
	if code != http.StatusServiceUnavailable || !st2.Draining || st2.ActiveStreams != 1 {
		t.Fatalf("/ready while draining = %d %+v", code, st2)
	}
	// New streams are refused while the open one goes on.
	if _, res := s.dial(t, d); res.Code != wire.CodeGoingAway {
		t.Fatalf("a new stream while draining: %+v", res)
	}
	select {
	case err := <-s.run.done:
		t.Fatalf("Run returned %v with a stream open", err)
	default:
	}
	echoRoundTrip(t, st, st.CloseWrite, "after the drain began")
	st.Close()
	start := time.Now()
	if err := s.run.wait(t, 10*time.Second); err != nil {
		t.Fatalf("Run = %v", err)
	}
	if time.Since(start) > 5*time.Second {
		t.Fatal("Run waited for the grace period although no stream was open")
	}
	for _, c := range s.conns {
		select {
		case <-c.Closed():
		case <-time.After(5 * time.Second):
			t.Fatal("a connection outlived Run")
		}
	}
}

func TestGracePeriodEnds(t *testing.T) {
	const grace = 300 * time.Millisecond
	s := newFakeSetup(t, func(c *connector.Config) { c.Grace = grace })
	s.edge.KeepDrained.Store(true)
	d := s.goodDial()
	s.signed(t, d)
	st, res := s.dial(t, d)
	if res.Code != wire.CodeOK {
		t.Fatalf("result %+v", res)
	}
	start := time.Now()
	s.run.stop()
	if err := s.run.wait(t, 10*time.Second); err != nil {
		t.Fatalf("Run = %v", err)
	}
	if took := time.Since(start); took < grace {
		t.Fatalf("Run returned after %v, before the grace period with a stream open", took)
	}
	// The stream that outlived the grace period was cut.
	st.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.ReadAll(st); err == nil {
		t.Fatal("the stream is still open after Run returned")
	} else if errors.Is(err, context.DeadlineExceeded) || strings.Contains(err.Error(), "deadline") {
		t.Fatalf("the stream was not closed: %v", err)
	}
}

func TestStopWithNoStreamsIsQuick(t *testing.T) {
	s := newFakeSetup(t, func(c *connector.Config) { c.Grace = time.Minute })
	s.run.stop()
	if err := s.run.wait(t, 5*time.Second); err != nil {
		t.Fatalf("Run = %v", err)
	}
}

func TestReconnectAfterEdgeRestart(t *testing.T) {
	s := newFakeSetup(t, nil)
	s.edge.Stop()
	s.run.waitReady(t, "not ready while the edge is down", func(code int, st connector.Status) bool {
		return code == http.StatusServiceUnavailable && len(st.Connections) == 2 &&
			st.Connections[0].State != connector.StateConnected && st.Connections[1].State != connector.StateConnected
	})
	s.edge.Restart()
	conns := s.edge.WaitConns(2)
	idx := map[uint64]bool{conns[0].Hello.ConnIndex: true, conns[1].Hello.ConnIndex: true}
	if !idx[0] || !idx[1] {
		t.Fatalf("reconnected indexes %v", idx)
	}
	st := s.run.waitReady(t, "ready again", func(code int, st connector.Status) bool {
		return code == 200 && st.Connections[0].Healthy && st.Connections[1].Healthy
	})
	if st.Connections[0].LastError == "" {
		t.Errorf("the lost connection's error is not reported: %+v", st.Connections[0])
	}
	if v := metricValue(t, s.run.metrics(t), "airlock_connector_reconnects_total"); v == "0" {
		t.Error("reconnects were not counted")
	}
	s.conns = conns
	d := s.goodDial()
	s.signed(t, d)
	st2, res := s.dial(t, d)
	if res.Code != wire.CodeOK {
		t.Fatalf("after the restart: %+v", res)
	}
	echoRoundTrip(t, st2, st2.CloseWrite, "back")
}

func TestEdgeDrainGetsReplacement(t *testing.T) {
	s := newFakeSetup(t, nil)
	d := s.goodDial()
	s.signed(t, d)
	st, res := s.dial(t, d)
	if res.Code != wire.CodeOK {
		t.Fatalf("result %+v", res)
	}
	old := s.conns[0]
	if err := old.Send(&wire.Drain{Reason: "edge restarting"}); err != nil {
		t.Fatal(err)
	}
	// A replacement with the same index comes up while the old one finishes.
	conns := s.edge.WaitConns(3)
	if conns[2].Hello.ConnIndex != old.Hello.ConnIndex {
		t.Fatalf("replacement index %d, drained %d", conns[2].Hello.ConnIndex, old.Hello.ConnIndex)
	}
	s.run.waitReady(t, "the drained connection listed as draining", func(code int, st connector.Status) bool {
		n := 0
		for _, c := range st.Connections {
			if c.State == connector.StateDraining && c.ActiveStreams == 1 {
				n++
			}
		}
		return code == 200 && n == 1 && len(st.Connections) == 3
	})
	echoRoundTrip(t, st, st.CloseWrite, "the old stream finishes")
	st.Close()
	select {
	case <-old.Closed():
	case <-time.After(5 * time.Second):
		t.Fatal("the drained connection was not closed once idle")
	}
	s.run.waitReady(t, "two connections again", func(code int, st connector.Status) bool {
		return code == 200 && len(st.Connections) == 2 && st.Connections[0].Healthy && st.Connections[1].Healthy
	})
}

func TestBadSecretBacksOff(t *testing.T) {
	sg := newSigner(t)
	fe := fakeedge.Start(t, sg.PublicKey())
	creds := fe.Credentials()
	creds.Secret = "wrong"
	r := startConnector(t, creds, rules(t, testApp+"=tcp://127.0.0.1:1"), nil)
	st := r.waitReady(t, "the refusal reported", func(code int, st connector.Status) bool {
		return code == http.StatusServiceUnavailable && strings.Contains(st.Connections[0].LastError, "unauthenticated")
	})
	if len(fe.Conns()) != 0 {
		t.Fatal("the edge kept a connection with a bad secret")
	}
	if st.Ready {
		t.Fatal("ready with no connection")
	}
}

func TestNoKeysRefusesEverything(t *testing.T) {
	sg := newSigner(t)
	fe := fakeedge.Start(t) // announces no keys
	origin := startEcho(t)
	startConnector(t, fe.Credentials(), rules(t, testApp+"="+origin.url()), nil)
	conns := fe.WaitConns(2)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, res, err := conns[0].Dial(ctx, signDial(t, sg, fe.TunnelID, &wire.Dial{App: testApp, Email: testEmail}))
	if err != nil {
		t.Fatal(err)
	}
	if res.Code != wire.CodeUnauthenticated {
		t.Fatalf("result %+v", res)
	}
}

func TestAdminRefusesForeignHost(t *testing.T) {
	s := newFakeSetup(t, nil)
	tests := []struct {
		host string
		want int
	}{
		{"", http.StatusOK}, // the listener's own address
		{"localhost:1234", http.StatusOK},
		{"evil.example.com", http.StatusForbidden},
		{"10.0.0.1", http.StatusForbidden},
	}
	for _, tt := range tests {
		t.Run(tt.host, func(t *testing.T) {
			req, _ := http.NewRequest("GET", s.run.admin+"/healthz", nil)
			if tt.host != "" {
				req.Host = tt.host
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != tt.want {
				t.Fatalf("status %d, want %d", resp.StatusCode, tt.want)
			}
		})
	}
}
