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
// timeout: both connections end with the reset, none with the timeout.
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
	// The other connection may have been idle since the kill: its next
	// ping draws the reset.
	testenv.Eventually(t, "both connections to end", func() bool { return logs.count(msgDown) >= 2 })
	var resets int
	for _, e := range logs.errors(msgDown) {
		switch {
		case strings.Contains(e, "stateless reset"):
			resets++
		case strings.Contains(e, "no recent network activity"):
			t.Errorf("a connection ended on the idle timeout: %s", e)
		}
	}
	if resets < 2 {
		t.Errorf("%d connections ended with a stateless reset, want both; errors logged: %q", resets, logs.errors(msgDown))
	}
}
