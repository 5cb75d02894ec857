package connector_test

import (
	"testing"
	"time"

	"github.com/airlockhq/airlock/connector"
	"github.com/airlockhq/airlock/internal/backoff"
)

// TestRestartedEdgeRejoinedDespiteLongBackoff: the edge restarted (drained
// on its way down, then silent, then answering again on the same address)
// is rejoined although the connector's backoff is an hour: only the rules
// that redial at once (a drained connection is replaced at once, a silent
// edge is dialled again every silentRetry) can bring it back, so the
// connector never sits out a backoff while its edge answers.
func TestRestartedEdgeRejoinedDespiteLongBackoff(t *testing.T) {
	s := newRealSetup(t, func(c *connector.Config) {
		c.Backoff = backoff.Config{Base: time.Hour, Max: time.Hour, StableAfter: time.Hour}
	})
	for range 2 {
		s.edge.Restart(t)
		s.expectBackAfterRestart(t)
	}
}
