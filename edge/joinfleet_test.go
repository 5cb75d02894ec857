package edge

import (
	"crypto/tls"
	"encoding/json"
	"net/http"
	"slices"
	"testing"

	"github.com/airlockhq/airlock/internal/joinlink"
	"github.com/airlockhq/airlock/internal/systest/fleetstore"
	"github.com/airlockhq/airlock/internal/testenv"
)

// TestJoinAddressesInFleet: two edges on one PostgreSQL database, neither
// with public_addrs: the public metadata of each names the addresses the
// fleet's edges advertise, so a daemon that joins at one knows them all.
func TestJoinAddressesInFleet(t *testing.T) {
	ctx := testenv.Context(t)
	urlFile := fleetstore.URLFile(ctx, t)
	inFleet := func(id string) func(*Config) {
		return func(c *Config) {
			c.EdgeID, c.StoreFile, c.Store = id, "", &StoreConfig{URLFile: urlFile, MaxConns: 4}
		}
	}
	a := startEdge(t, inFleet("edge-a"))
	follower := memberFrames(t, a, true)
	var gen uint64
	nextMembers(t, follower, &gen, "edge-a")
	b := startEdge(t, inFleet("edge-b"))
	nextMembers(t, follower, &gen, "edge-a", "edge-b") // a's list holds both

	client := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: a.pool, ServerName: "localhost"}}}
	res, err := client.Get("https://" + a.srv.HTTPAddr().String() + joinlink.ConfigurationPath)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var c joinlink.Configuration
	if err := json.NewDecoder(res.Body).Decode(&c); err != nil {
		t.Fatal(err)
	}
	want := []string{a.srv.Addr().String(), b.srv.Addr().String()}
	if !slices.Equal(c.Addresses, want) {
		t.Fatalf("edge-a's metadata names %v, want the fleet's %v", c.Addresses, want)
	}
}
