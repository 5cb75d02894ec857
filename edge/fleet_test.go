package edge

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/airlockhq/airlock/internal/systest/fleetstore"
	"github.com/airlockhq/airlock/internal/testenv"
	"github.com/airlockhq/airlock/internal/wire"
)

// memberFrames dials e as a connector of tunnel "demo" (following
// members or not) and returns the control frames the edge sends after its
// Welcome.
func memberFrames(tb testing.TB, e *testEdge, follow bool) <-chan wire.Frame {
	tb.Helper()
	_, ctrl := e.dial(tb)
	w := hello(tb, ctrl, &wire.Hello{Version: wire.Version, Role: wire.RoleConnector, TunnelID: e.creds.TunnelID,
		Secret: e.creds.Secret, ConnectorID: fmt.Sprint("follow-", follow), Software: "fake", Assertions: true, Members: follow})
	if w.Code != wire.CodeOK {
		tb.Fatalf("welcome: %v", w.Err())
	}
	out := make(chan wire.Frame, 16)
	go func() {
		defer close(out)
		for {
			f, err := wire.ReadFrame(ctrl)
			if err != nil {
				return
			}
			out <- f
		}
	}()
	return out
}

// nextMembers reads frames until a Members frame whose member ids are
// want; every Members frame on the way must have a higher generation than
// the one before.
func nextMembers(tb testing.TB, frames <-chan wire.Frame, last *uint64, want ...string) *wire.Members {
	tb.Helper()
	ctx := testenv.Context(tb)
	for {
		select {
		case f, ok := <-frames:
			if !ok {
				tb.Fatalf("the control stream ended before members %v", want)
			}
			m, isMembers := f.(*wire.Members)
			if !isMembers {
				continue
			}
			if m.Generation <= *last {
				tb.Fatalf("members generation %d after %d", m.Generation, *last)
			}
			*last = m.Generation
			ids := make([]string, len(m.Members))
			for i, e := range m.Members {
				ids[i] = e.ID
			}
			if slices.Equal(ids, want) {
				return m
			}
		case <-ctx.Done():
			tb.Fatalf("no members %v: %v", want, context.Cause(ctx))
		}
	}
}

// TestFleetMembersToConnectors: two edges on one PostgreSQL database. A
// connector that follows members gets the list right after its Welcome
// and again when an edge joins and when one stops; one that does not
// follow gets none.
func TestFleetMembersToConnectors(t *testing.T) {
	ctx := testenv.Context(t)
	urlFile := fleetstore.URLFile(ctx, t)
	inFleet := func(id string) func(*Config) {
		return func(c *Config) {
			c.EdgeID, c.StoreFile, c.Store = id, "", &StoreConfig{URLFile: urlFile, MaxConns: 4}
		}
	}
	a := startEdge(t, inFleet("edge-a"))
	follower, plain := memberFrames(t, a, true), memberFrames(t, a, false)

	// The first frame after the Welcome is the list: at once, or at the
	// edge's first read of the store if the connector came before it.
	var gen uint64
	select {
	case f := <-follower:
		m, ok := f.(*wire.Members)
		if !ok || len(m.Members) != 1 || m.Members[0] != (wire.Member{ID: "edge-a", Addr: a.srv.Addr().String()}) || m.Fleet == "" {
			t.Fatalf("the frame after the welcome: %#v", f)
		}
		gen = m.Generation
	case <-ctx.Done():
		t.Fatal("no members after the welcome")
	}

	b := startEdge(t, inFleet("edge-b"))
	m := nextMembers(t, follower, &gen, "edge-a", "edge-b")
	if m.Members[1].Addr != b.srv.Addr().String() {
		t.Fatalf("edge-b advertised %s, listens on %s", m.Members[1].Addr, b.srv.Addr())
	}
	if h := healthOf(t, a); h.Fleet == nil || h.Fleet.Generation != gen || len(h.Fleet.Members) != 2 ||
		h.Fleet.Members["edge-b"] != b.srv.Addr().String() || h.Fleet.Name != m.Fleet {
		t.Fatalf("/healthz fleet %+v, want generation %d with edge-a and edge-b", h.Fleet, gen)
	}
	b.stop(t)
	nextMembers(t, follower, &gen, "edge-a")

	select {
	case f := <-plain:
		t.Fatalf("a connector that does not follow members got %s", f.FrameType())
	default:
	}
}

// healthOf is e's /healthz.
func healthOf(tb testing.TB, e *testEdge) Health {
	tb.Helper()
	res, err := http.Get("http://" + e.srv.AdminAddr().String() + "/healthz")
	if err != nil {
		tb.Fatal(err)
	}
	defer res.Body.Close()
	var h Health
	if err := json.NewDecoder(res.Body).Decode(&h); err != nil {
		tb.Fatal(err)
	}
	return h
}

// TestFleetAloneInHealth: an edge without store: shows no fleet.
func TestFleetAloneInHealth(t *testing.T) {
	if h := healthOf(t, startEdge(t)); h.Fleet != nil || h.EdgeID == "" {
		t.Fatalf("/healthz of an edge on its own: %+v", h)
	}
}

// TestFleetAdvertise: the address told to connectors is advertise:, else
// the first public address, else (port 0) the bound one; with store: an
// address connectors cannot dial is refused.
func TestFleetAdvertise(t *testing.T) {
	cases := []struct {
		name, advertise string
		public          []string
		store           bool
		want, wantErr   string
	}{
		{"advertise", "edge-1.example.com:7844", []string{"10.0.0.1:7844"}, true, "edge-1.example.com:7844", ""},
		{"first public address", "", []string{"10.0.0.1:7844", "10.0.0.2:7844"}, true, "10.0.0.1:7844", ""},
		{"port 0: the bound address", "", []string{"127.0.0.1:0"}, true, "127.0.0.1:40000", ""},
		{"bad advertise with a store", "edge-1.example.com:0", nil, true, "", "advertise: the address connectors"},
		{"bad advertise alone", "edge-1.example.com:0", nil, false, "edge-1.example.com:0", ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cfg := &Config{Advertise: tc.advertise, PublicAddrs: tc.public}
			if len(cfg.PublicAddrs) == 0 {
				cfg.PublicAddrs = []string{"127.0.0.1:0"}
			}
			if tc.store {
				cfg.Store = &StoreConfig{URLFile: "x"}
			}
			f, err := newFleet(cfg, "edge-1", nil, "127.0.0.1:40000", testLogger(t), nil)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err %v, want one naming %q", err, tc.wantErr)
				}
				return
			}
			if err != nil || f.self.Addr != tc.want {
				t.Fatalf("advertised %q (%v), want %q", f.self.Addr, err, tc.want)
			}
		})
	}
}

func TestFleetChange(t *testing.T) {
	base := &Config{EdgeID: "e1", Advertise: "a:1", PublicAddrs: []string{"p:1"}}
	for _, tc := range []struct {
		name string
		next Config
		want bool
	}{
		{"same", Config{EdgeID: "e1", Advertise: "a:1", PublicAddrs: []string{"p:1"}}, false},
		{"another public address after the first", Config{EdgeID: "e1", Advertise: "a:1", PublicAddrs: []string{"p:1", "q:1"}}, false},
		{"edge id", Config{EdgeID: "e2", Advertise: "a:1", PublicAddrs: []string{"p:1"}}, true},
		{"advertise", Config{EdgeID: "e1", Advertise: "b:1", PublicAddrs: []string{"p:1"}}, true},
		{"first public address", Config{EdgeID: "e1", Advertise: "a:1", PublicAddrs: []string{"q:1"}}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := fleetChange(base, &tc.next); (got != "") != tc.want || tc.want && !strings.Contains(got, "until it restarts") {
				t.Fatalf("fleetChange = %q, want a note: %v", got, tc.want)
			}
		})
	}
}

func TestFleetConfig(t *testing.T) {
	cases := []struct {
		name, extra, want string // want "": valid
	}{
		{"advertise", "advertise: edge-1.example.com:7844\n", ""},
		{"advertise without a port", "advertise: edge-1.example.com\n", `advertise: "edge-1.example.com" is not host:port`},
		{"edge id too long", "edge_id: " + strings.Repeat("e", wire.MaxEdgeIDLen+1) + "\n", "edge_id: is 129 bytes, limit 128"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParseConfig([]byte(validConfig+tc.extra), "/state")
			if tc.want == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, want an error naming %q", err, tc.want)
			}
		})
	}
}
