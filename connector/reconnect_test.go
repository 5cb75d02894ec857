package connector_test

import (
	"testing"
	"time"

	"github.com/airlockhq/airlock/connector"
	"github.com/airlockhq/airlock/connector/internal/fakeedge"
	"github.com/airlockhq/airlock/internal/backoff"
	"github.com/airlockhq/airlock/internal/edgeclient"
	"github.com/airlockhq/airlock/internal/testenv"
	"github.com/airlockhq/airlock/internal/wire"
)

// TestSilentEdgeIsRedialledAtOnce: an edge that answers nothing (paused,
// or cut off) is dialled again as soon as a dial's handshake times out,
// not after a backoff that grows while it is away, so that the connector
// rejoins it as soon as it answers. The backoff here is an hour: only the
// silent-edge rule can make the second and third dials.
func TestSilentEdgeIsRedialledAtOnce(t *testing.T) {
	silent := testenv.NewSilentUDP(t)
	sg := newSigner(t)
	creds := fakeedge.Start(t, sg.PublicKey()).Credentials()
	q := edgeclient.DefaultQUICConfig()
	q.HandshakeIdleTimeout = 100 * time.Millisecond
	startConnector(t, creds, rules(t, testApp+"=tcp://127.0.0.1:1"), func(c *connector.Config) {
		c.Edges = []string{silent.Addr}
		c.QUIC = q
		c.Backoff = backoff.Config{Base: time.Hour, Max: time.Hour, StableAfter: time.Hour}
	})
	testenv.Eventually(t, "three dials of the silent edge", func() bool {
		return len(silent.Sources()) >= 3 // each dial binds a socket of its own
	})
}

// TestGoingAwayEdgeIsRedialledAtOnce: an edge that refuses with "going
// away" (shutting down, between its drain and its exit) is dialled again at
// the silent pace, not after a backoff, so the connector joins its restart
// as soon as that answers. The backoff is an hour: only that rule can make
// the second and third dials, and the connection once the edge accepts.
func TestGoingAwayEdgeIsRedialledAtOnce(t *testing.T) {
	sg := newSigner(t)
	e := fakeedge.Start(t, sg.PublicKey())
	e.Refuse(&wire.Error{Code: wire.CodeGoingAway, Message: "edge shutting down"})
	startConnector(t, e.Credentials(), rules(t, testApp+"=tcp://127.0.0.1:1"), func(c *connector.Config) {
		c.HAConnections = 1
		c.Backoff = backoff.Config{Base: time.Hour, Max: time.Hour, StableAfter: time.Hour}
	})
	testenv.Eventually(t, "three dials refused as going away", func() bool { return e.Refused() >= 3 })
	e.Refuse(nil)
	e.WaitConns(1)
}
