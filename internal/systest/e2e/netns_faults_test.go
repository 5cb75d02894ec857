package e2e

import (
	"encoding/json"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/airlockhq/airlock/internal/systest/netns"
	"github.com/airlockhq/airlock/internal/testenv"
)

// netnsPair is an edge helper running in its namespace (twoLinks) and the
// client namespace beside it.
type netnsPair struct {
	edgeNS, clientNS *netns.NS
	edge             netnsEdge
	desc             string // the edge's JSON, for the client helpers
}

func startNetnsEdge(t *testing.T) *netnsPair {
	t.Helper()
	p := &netnsPair{}
	p.edgeNS, p.clientNS = twoLinks(t)
	line := startHelper(t, p.edgeNS, "edge", "AIRLOCK_NETNS_LISTEN=10.213.0.1:0").await(t, testenv.Context(t), "EDGE ")
	p.desc = line[len("EDGE "):]
	if err := json.Unmarshal([]byte(p.desc), &p.edge); err != nil {
		t.Fatal(err)
	}
	return p
}

// client runs a client helper (role "client" or "state") in the client
// namespace.
func (p *netnsPair) client(t *testing.T, role string) *helper {
	t.Helper()
	return startHelper(t, p.clientNS, role, "AIRLOCK_NETNS_EDGE="+p.desc)
}

func (p *netnsPair) port(t *testing.T) string {
	t.Helper()
	_, port, err := net.SplitHostPort(p.edge.Addr)
	if err != nil {
		t.Fatal(err)
	}
	return port
}

// TestNetnsRefusedSends: the client's own firewall refuses 5 % of its UDP
// sends to the edge (nft drop in the output hook: sendmsg fails with
// EPERM, chosen by numgen random). Each refusal is a lost packet: a 64 MiB
// echo stream completes intact and new streams open.
func TestNetnsRefusedSends(t *testing.T) {
	p := startNetnsEdge(t)
	ctx := testenv.Context(t)
	client := p.client(t, "client")
	client.awaitEchoed(t, ctx, 4<<20)
	p.clientNS.Nft(t, fmt.Sprintf(`table inet refuse {
	chain out {
		type filter hook output priority 0;
		udp dport %s numgen random mod 100 < 5 drop
	}
}
`, p.port(t)))
	client.awaitEchoed(t, ctx, 64<<20)
	client.send(t, "new")
	client.await(t, ctx, "new ok")
	client.send(t, "stop")
	t.Logf("the long stream: %s", client.await(t, ctx, "done "))
	if err := client.cmd.Wait(); err != nil {
		t.Fatalf("client helper: %v", err)
	}
}

// TestNetnsOneWayDrop: UDP from the client to the edge is dropped on the
// way (nft at the edge's input: nothing tells the client). The client's
// link state turns down, never staying "connected", and once UDP passes
// again the next stream opens.
func TestNetnsOneWayDrop(t *testing.T) {
	p := startNetnsEdge(t)
	ctx := testenv.Context(t)
	client := p.client(t, "state")
	client.await(t, ctx, "state up")
	p.edgeNS.Nft(t, fmt.Sprintf(`table inet oneway {
	chain in {
		type filter hook input priority 0;
		ip saddr 10.213.1.1 udp dport %s drop
	}
}
`, p.port(t)))
	cut := time.Now()
	down := client.await(t, ctx, "state down")
	t.Logf("%s, %s after the drop began", down, time.Since(cut).Round(10*time.Millisecond))
	p.edgeNS.Nft(t, "flush ruleset\n")
	restored := time.Now()
	client.send(t, "open")
	// The helper prints "state up" when its poll sees the new connection,
	// which may come before or after "open ok": wait for both, in either
	// order.
	for seen := map[string]bool{}; !seen["open ok"] || !seen["state up"]; {
		l := client.awaitAny(t, ctx, "open ok", "state up")
		if strings.HasPrefix(l, "open ok") {
			seen["open ok"] = true
			t.Logf("%s, %s after UDP passed again", l, time.Since(restored).Round(10*time.Millisecond))
		} else {
			seen["state up"] = true
		}
	}
}
