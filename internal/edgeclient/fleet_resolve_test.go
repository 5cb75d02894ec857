package edgeclient_test

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"testing"

	"github.com/airlockhq/airlock/internal/edgeclient"
)

// TestFleetResolve: what a Fleet makes of its names' addresses, without
// dialling: IPv4 first, duplicates and IPv4-mapped forms folded, at most
// MaxAddrsPerName per name, a literal as it is, a failed lookup keeping
// the name's last addresses, and a bounded set of addresses kept however
// many a name rotates through.
func TestFleetResolve(t *testing.T) {
	ip := netip.MustParseAddr
	ctx := context.Background()
	t.Run("order and bounds", func(t *testing.T) {
		many := []netip.Addr{ip("127.0.1.1")} // a duplicate takes no place
		for i := range 12 {
			many = append(many, ip(fmt.Sprintf("127.0.1.%d", i+1)))
		}
		answers := map[string][]netip.Addr{
			"a.test": {ip("::1"), ip("127.0.0.1"), ip("127.0.0.2"), ip("::ffff:127.0.0.1"), ip("::1")},
			"b.test": many,
		}
		f := edgeclient.NewFleet(edgeclient.FleetConfig{
			Addrs:   []string{"a.test:7844", "192.0.2.1:7844", "b.test:7845"},
			Resolve: func(_ context.Context, host string) ([]netip.Addr, error) { return answers[host], nil },
		})
		defer f.Close()
		got, err := f.Candidates(ctx, "app")
		if err != nil {
			t.Fatal(err)
		}
		want := []string{"127.0.0.1:7844", "127.0.0.2:7844", "[::1]:7844", "192.0.2.1:7844"}
		for i := range edgeclient.MaxAddrsPerName {
			want = append(want, fmt.Sprintf("127.0.1.%d:7845", i+1))
		}
		if !slices.Equal(got, want) {
			t.Fatalf("candidates\n%q\nwant\n%q", got, want)
		}
	})
	t.Run("a failed lookup keeps the last addresses", func(t *testing.T) {
		fail := false
		f := edgeclient.NewFleet(edgeclient.FleetConfig{
			Addrs: []string{"a.test:7844", "b.test:7844"},
			Resolve: func(_ context.Context, host string) ([]netip.Addr, error) {
				if fail && host == "a.test" {
					return nil, errors.New("no answer")
				}
				if host == "a.test" {
					return []netip.Addr{ip("127.0.0.1")}, nil
				}
				return []netip.Addr{ip("127.0.0.2")}, nil
			},
		})
		defer f.Close()
		if _, err := f.Candidates(ctx, "app"); err != nil {
			t.Fatal(err)
		}
		fail = true
		got, err := f.Candidates(ctx, "app")
		var de *edgeclient.DialError
		if !errors.As(err, &de) || de.Addr != "a.test:7844" {
			t.Fatalf("err = %v, want a DialError naming a.test:7844", err)
		}
		if !slices.Equal(got, []string{"127.0.0.1:7844", "127.0.0.2:7844"}) {
			t.Fatalf("candidates %q", got)
		}
	})
	t.Run("nothing resolves", func(t *testing.T) {
		f := edgeclient.NewFleet(edgeclient.FleetConfig{
			Addrs:   []string{"a.test:7844"},
			Resolve: func(context.Context, string) ([]netip.Addr, error) { return nil, nil },
		})
		defer f.Close()
		got, err := f.Candidates(ctx, "app")
		var de *edgeclient.DialError
		if len(got) != 0 || !errors.As(err, &de) {
			t.Fatalf("candidates %q, err %v; want none and a DialError", got, err)
		}
	})
	t.Run("rotating names keep a bounded set", func(t *testing.T) {
		round := 0
		f := edgeclient.NewFleet(edgeclient.FleetConfig{
			Addrs: []string{"a.test:7844"},
			Resolve: func(context.Context, string) ([]netip.Addr, error) {
				round++
				var out []netip.Addr
				for i := range edgeclient.MaxAddrsPerName {
					out = append(out, ip(fmt.Sprintf("127.%d.0.%d", round, i+1)))
				}
				return out, nil
			},
		})
		defer f.Close()
		for range 20 {
			got, err := f.Candidates(ctx, "app")
			if err != nil || len(got) != edgeclient.MaxAddrsPerName || got[0] != fmt.Sprintf("127.%d.0.1:7844", round) {
				t.Fatalf("round %d: %q, %v", round, got, err)
			}
		}
		if n := f.Members(); n > 64 {
			t.Fatalf("%d addresses kept after 20 rotations of 8, want at most 64", n)
		}
	})
}
