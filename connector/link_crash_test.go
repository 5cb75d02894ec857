package connector_test

import (
	"testing"
	"time"
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
	s.expectBackAfterRestart(t, 3*time.Second)
}
