// Package netns makes the network namespaces a test runs its parts in:
// namespaces, veth pairs between them, addresses, routes and nft rules,
// all inside namespaces the test made and all removed in tb.Cleanup. It
// drives iproute2 (ip) and nftables (nft) and needs root; without them a
// test fails under CI=true and skips otherwise (testenv).
package netns

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/airlockhq/airlock/internal/testenv"
)

// NS is one network namespace made for a test.
type NS struct {
	Name string
	ip   string
}

// Require reports the tools and privileges the package needs as missing
// (a failure under CI=true, a skip otherwise).
func Require(tb testing.TB) {
	tb.Helper()
	testenv.LookPath(tb, "ip", "apt-get install iproute2")
	testenv.LookPath(tb, "nft", "apt-get install nftables")
	if os.Geteuid() != 0 {
		testenv.Missing(tb, "root, to make network namespaces")
	}
}

// New makes a namespace named prefix plus a random suffix, with its
// loopback up, and removes it (and the veth ends in it) at cleanup.
func New(tb testing.TB, prefix string) *NS {
	tb.Helper()
	Require(tb)
	b := make([]byte, 4)
	rand.Read(b)
	n := &NS{Name: prefix + "-" + hex.EncodeToString(b), ip: testenv.LookPath(tb, "ip", "apt-get install iproute2")}
	run(tb, n.ip, "netns", "add", n.Name)
	tb.Cleanup(func() {
		if out, err := exec.Command(n.ip, "netns", "del", n.Name).CombinedOutput(); err != nil {
			tb.Errorf("netns: remove %s: %v: %s", n.Name, err, out)
		}
	})
	n.IP(tb, "link", "set", "lo", "up")
	return n
}

// IP runs "ip ARGS..." in the namespace and fails tb if it fails.
func (n *NS) IP(tb testing.TB, args ...string) {
	tb.Helper()
	run(tb, n.ip, append([]string{"-n", n.Name}, args...)...)
}

// Nft loads an nft ruleset (nft -f) in the namespace.
func (n *NS) Nft(tb testing.TB, ruleset string) {
	tb.Helper()
	cmd := exec.Command(n.ip, "netns", "exec", n.Name, "nft", "-f", "-")
	cmd.Stdin = strings.NewReader(ruleset)
	if out, err := cmd.CombinedOutput(); err != nil {
		tb.Fatalf("netns %s: nft: %v: %s\n%s", n.Name, err, out, ruleset)
	}
}

// Command returns a command that runs name with args inside the namespace.
func (n *NS) Command(ctx context.Context, name string, args ...string) *exec.Cmd {
	return exec.CommandContext(ctx, n.ip, append([]string{"netns", "exec", n.Name, name}, args...)...)
}

// Veth links namespace a (interface aIf) with b (bIf) and sets both ends
// up. The pair goes with the namespaces.
func Veth(tb testing.TB, a *NS, aIf string, b *NS, bIf string) {
	tb.Helper()
	run(tb, a.ip, "link", "add", aIf, "netns", a.Name, "type", "veth", "peer", "name", bIf, "netns", b.Name)
	a.IP(tb, "link", "set", aIf, "up")
	b.IP(tb, "link", "set", bIf, "up")
}

func run(tb testing.TB, name string, args ...string) {
	tb.Helper()
	if out, err := exec.Command(name, args...).CombinedOutput(); err != nil {
		tb.Fatalf("netns: %s %s: %v: %s", name, strings.Join(args, " "), err, out)
	}
}
