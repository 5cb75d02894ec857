package connector_test

import (
	"testing"
	"time"

	"github.com/airlockhq/airlock/connector"
)

// TestDrainedConnectionClosedByEdge: on shutdown, once its last stream has
// ended, a connector tells the edge it has read everything (FIN on the
// control stream) and the edge closes the connection at once, so Run
// returns without the fallback linger (a full second).
func TestDrainedConnectionClosedByEdge(t *testing.T) {
	s := newRealSetup(t, func(c *connector.Config) { c.Grace = 30 * time.Second })
	sc, err := s.open(t, testApp, "")
	if err != nil {
		t.Fatal(err)
	}
	s.run.stop()
	s.run.waitReady(t, "draining", func(_ int, st connector.Status) bool { return st.Draining })
	echoRoundTrip(t, sc, sc.CloseWrite, "last words")
	sc.Close()
	start := time.Now()
	if err := s.run.wait(t, 10*time.Second); err != nil {
		t.Fatalf("Run = %v", err)
	}
	if took := time.Since(start); took > 800*time.Millisecond {
		t.Fatalf("Run returned %v after the last stream ended; the edge should close the drained connections at once", took)
	}
}
