package netns_test

import (
	"context"
	"strings"
	"testing"

	"github.com/airlockhq/airlock/internal/systest/netns"
)

// TestVethPair: two namespaces joined by a veth pair route to each other
// over the addresses given, and an nft ruleset loads in one of them. (The
// e2e tests send real traffic across such pairs.)
func TestVethPair(t *testing.T) {
	a, b := netns.New(t, "al-a"), netns.New(t, "al-b")
	netns.Veth(t, a, "va", b, "vb")
	a.IP(t, "addr", "add", "10.231.0.1/24", "dev", "va")
	b.IP(t, "addr", "add", "10.231.0.2/24", "dev", "vb")
	out, err := a.Command(context.Background(), "ip", "route", "get", "10.231.0.2").CombinedOutput()
	if err != nil || !strings.Contains(string(out), "dev va") {
		t.Fatalf("route to the peer: %v: %s", err, out)
	}
	b.Nft(t, `table inet t {
	chain in {
		type filter hook input priority 0;
		udp dport 9 drop
	}
}
`)
	out, err = b.Command(context.Background(), "nft", "list", "ruleset").CombinedOutput()
	if err != nil || !strings.Contains(string(out), "udp dport 9 drop") {
		t.Fatalf("nft ruleset: %v: %s", err, out)
	}
}
