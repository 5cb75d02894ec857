package connector_test

import (
	"testing"
	"time"

	"github.com/airlockhq/airlock/connector"
)

// TestEdgeCrashReconnects: when the edge is killed (nothing said on the
// wire) and comes back on its state, the connector's pings draw a
// stateless reset and it reconnects within a ping interval or so, not after
// the 30 s idle timeout.
func TestEdgeCrashReconnects(t *testing.T) {
	s := newRealSetup(t, nil)
	sc, err := s.open(t, testApp, "")
	if err != nil {
		t.Fatal(err)
	}
	echoRoundTrip(t, sc, sc.CloseWrite, "before")
	sc.Close()

	s.edge.Kill(t)
	s.edge.Restart(t)
	start := time.Now()
	deadline := start.Add(10 * time.Second)
	for {
		sc, err := s.open(t, testApp, "")
		if err == nil {
			echoRoundTrip(t, sc, sc.CloseWrite, "after")
			sc.Close()
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no stream through the restarted edge: %v", err)
		}
		time.Sleep(20 * time.Millisecond) // waiting for the connector to notice
	}
	took := time.Since(start)
	t.Logf("first stream through the restarted edge after %v", took)
	if took > 3*time.Second {
		t.Errorf("reconnecting took %v, want under 3s", took)
	}
	s.run.waitReady(t, "both connections back", func(code int, st connector.Status) bool {
		return code == 200 && st.Connections[0].Healthy && st.Connections[1].Healthy
	})
}
