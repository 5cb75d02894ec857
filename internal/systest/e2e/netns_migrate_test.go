package e2e

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/airlockhq/airlock/internal/systest/netns"
	"github.com/airlockhq/airlock/internal/testenv"
)

// twoLinks makes an edge namespace and a client namespace joined by two
// veth pairs: a (10.213.1.0/24) and b (10.213.2.0/24). The edge listens on
// 10.213.0.1, on its loopback, reachable over either; the client starts
// with an address on a only and a route to the edge through it.
func twoLinks(t *testing.T) (edgeNS, clientNS *netns.NS) {
	t.Helper()
	if testing.Short() {
		t.Skip("network namespace test: not in -short mode")
	}
	edgeNS, clientNS = netns.New(t, "al-edge"), netns.New(t, "al-cli")
	netns.Veth(t, clientNS, "ca", edgeNS, "ea")
	netns.Veth(t, clientNS, "cb", edgeNS, "eb")
	edgeNS.IP(t, "addr", "add", "10.213.0.1/32", "dev", "lo")
	edgeNS.IP(t, "addr", "add", "10.213.1.2/24", "dev", "ea")
	edgeNS.IP(t, "addr", "add", "10.213.2.2/24", "dev", "eb")
	clientNS.IP(t, "addr", "add", "10.213.1.1/24", "dev", "ca")
	clientNS.IP(t, "route", "add", "10.213.0.1/32", "via", "10.213.1.2")
	return edgeNS, clientNS
}

// TestNetnsAddressChange: the client's first address is removed and a
// second, on another link, added while a long stream echoes through the
// edge. The connection migrates to the new address (QUIC connection
// migration), the stream carries on with every byte intact past 200 MiB,
// and a new stream opens on the moved connection.
func TestNetnsAddressChange(t *testing.T) {
	edgeNS, clientNS := twoLinks(t)
	ctx := testenv.Context(t)
	edge := startHelper(t, edgeNS, "edge", "AIRLOCK_NETNS_LISTEN=10.213.0.1:0")
	desc := edge.await(t, ctx, "EDGE ")
	var ed netnsEdge
	if err := json.Unmarshal([]byte(desc[len("EDGE "):]), &ed); err != nil {
		t.Fatal(err)
	}
	client := startHelper(t, clientNS, "client", "AIRLOCK_NETNS_EDGE="+desc[len("EDGE "):])
	client.awaitEchoed(t, ctx, 16<<20)

	changed := time.Now()
	clientNS.IP(t, "addr", "del", "10.213.1.1/24", "dev", "ca")
	clientNS.IP(t, "addr", "add", "10.213.2.1/24", "dev", "cb")
	clientNS.IP(t, "route", "add", "10.213.0.1/32", "via", "10.213.2.2")
	up := time.Now()
	l := client.await(t, ctx, "migrations 1")
	t.Logf("%s, %s after the new route was up (%s after the old address went)",
		l, time.Since(up).Round(time.Millisecond), time.Since(changed).Round(time.Millisecond))

	client.send(t, "new")
	t.Logf("a new stream after the change: %s", client.await(t, ctx, "new ok"))

	client.awaitEchoed(t, ctx, 200<<20)
	client.send(t, "stop")
	t.Logf("the long stream: %s", client.await(t, ctx, "done "))
	if err := client.cmd.Wait(); err != nil {
		t.Fatalf("client helper: %v", err)
	}
}
