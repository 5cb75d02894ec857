package connector_test

import (
	"log/slog"
	"strings"
	"testing"

	"github.com/airlockhq/airlock/connector"
	"github.com/airlockhq/airlock/internal/testenv"
)

// TestEdgeCrashReconnects: when the edge is killed (nothing said on the
// wire) and comes back on its state, the connector's pings draw a
// stateless reset and it reconnects on that, not after the 30 s idle
// timeout: each of the two connections ends with the reset, none with the
// timeout.
func TestEdgeCrashReconnects(t *testing.T) {
	logs := newMsgCounter(t)
	s := newRealSetup(t, func(c *connector.Config) { c.Logger = slog.New(logs) })
	sc, err := s.open(t, testApp, "")
	if err != nil {
		t.Fatal(err)
	}
	echoRoundTrip(t, sc, sc.CloseWrite, "before")
	sc.Close()

	s.edge.Kill(t)
	s.edge.Restart(t)
	s.expectBackAfterRestart(t)
	// A connection idle since the kill learns of it at its next ping.
	reset := map[string]bool{}
	testenv.Eventually(t, "both connections to end with a stateless reset", func() bool {
		for _, e := range logs.errors(msgDown) {
			if strings.Contains(e.err, "stateless reset") {
				reset[e.conn] = true
			}
		}
		return reset["0"] && reset["1"]
	})
	for _, e := range logs.errors(msgDown) {
		if strings.Contains(e.err, "no recent network activity") {
			t.Errorf("connection %s ended on the idle timeout: %s", e.conn, e.err)
		}
	}
}
