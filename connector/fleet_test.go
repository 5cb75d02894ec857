package connector_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/airlockhq/airlock/connector"
	"github.com/airlockhq/airlock/connector/internal/fakeedge"
	"github.com/airlockhq/airlock/edge"
	"github.com/airlockhq/airlock/edge/edgetest"
	"github.com/airlockhq/airlock/internal/credentials"
	"github.com/airlockhq/airlock/internal/edgeclient"
	"github.com/airlockhq/airlock/internal/systest/fleetstore"
	"github.com/airlockhq/airlock/internal/testenv"
	"github.com/airlockhq/airlock/internal/wire"
)

// fleetEdge is one more edge of edge A's fleet: A's config (its
// certificate, keys and tunnels) with ports and an edge id of its own,
// on the same database, run in-process.
type fleetEdge struct {
	id, addr, admin string
	stop            func(tb testing.TB)
}

func startFleetEdge(tb testing.TB, a *edgetest.Edge, id string) *fleetEdge {
	tb.Helper()
	cfg, err := edge.LoadConfig(a.ConfigPath)
	if err != nil {
		tb.Fatal(err)
	}
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	cfg.EdgeID = id
	cfg.Listen = pc.LocalAddr().String()
	cfg.PublicAddrs = []string{cfg.Listen}
	cfg.AdminListen, cfg.HTTPListen, cfg.PublicURL = "127.0.0.1:0", "127.0.0.1:0", ""
	cfg.Audit.File = ""
	cfg.ShutdownGrace = edge.Duration(30 * time.Second) // open streams end on their own
	srv, err := edge.New(cfg, edge.Options{Logger: testLogger(tb).With("side", id), Audit: tbAudit{tb}, PacketConn: pc})
	if err != nil {
		pc.Close()
		tb.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Run(ctx) }()
	e := &fleetEdge{id: id, addr: cfg.Listen, admin: "http://" + srv.AdminAddr().String()}
	stopped := false
	e.stop = func(tb testing.TB) {
		if stopped {
			return
		}
		stopped = true
		cancel()
		if err := <-done; err != nil {
			tb.Errorf("edge %s: Run = %v", id, err)
		}
	}
	tb.Cleanup(func() { e.stop(tb) })
	return e
}

// tbAudit sends the audit lines to the test's log.
type tbAudit struct{ tb testing.TB }

func (w tbAudit) Write(p []byte) (int, error) {
	w.tb.Log(strings.TrimSpace(string(p)))
	return len(p), nil
}

// connectorConns is what an edge's /healthz says: the live connections
// of tunnel at that edge.
func connectorConns(tb testing.TB, admin, tunnel string) (int, error) {
	tb.Helper()
	resp, err := http.Get(admin + "/healthz")
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	var h edge.Health
	if err := json.NewDecoder(resp.Body).Decode(&h); err != nil {
		return 0, err
	}
	return h.Connectors[tunnel], nil
}

func waitConns(tb testing.TB, what, admin string, n int) {
	tb.Helper()
	testenv.Eventually(tb, what, func() error {
		got, err := connectorConns(tb, admin, "demo")
		if err != nil {
			return err
		}
		if got != n {
			return fmt.Errorf("%d connector connections, want %d", got, n)
		}
		return nil
	})
}

// TestFleetConnectorHoldsEveryEdge: a connector configured with edge A
// only learns the fleet's members from A and holds its HA connections at
// A and B; an edge C that starts later gets them without the connector
// restarting; B stopping drains and removes the connector's connections
// there, while A's (configured) and C's stay.
func TestFleetConnectorHoldsEveryEdge(t *testing.T) {
	ctx := testenv.Context(t)
	urlFile := fleetstore.URLFile(ctx, t)

	origin := startEcho(t)
	a := edgetest.Start(t, edgetest.Options{Logger: testLogger(t).With("side", "edge-a")})
	tun := a.CreateTunnel(t, "demo", testApp)
	a.UpdateConfig(t, func(c *edge.Config) error {
		c.EdgeID, c.StoreFile, c.Store = "edge-a", "", &edge.StoreConfig{URLFile: urlFile, MaxConns: 4}
		return nil
	})
	a.Restart(t) // the store is opened at start
	b := startFleetEdge(t, a, "edge-b")

	creds, err := credentials.ReadCredentials(tun.CredentialsFile)
	if err != nil {
		t.Fatal(err)
	}
	if len(creds.Edges) != 1 || creds.Edges[0] != a.Addr {
		t.Fatalf("the credentials name %v, want edge A alone (%s)", creds.Edges, a.Addr)
	}
	logs := newMsgCounter(t)
	run := startConnector(t, creds, rules(t, testApp+"="+origin.url()), func(c *connector.Config) { c.Logger = slog.New(logs) })

	waitConns(t, "two connections at A, the configured edge", a.AdminURL, 2)
	waitConns(t, "two connections at B, learned from A", b.admin, 2)
	st := run.waitReady(t, "four healthy connections", func(code int, st connector.Status) bool {
		return code == 200 && healthy(st, a.Addr, false) == 2 && healthy(st, b.addr, true) == 2
	})
	t.Logf("connections: %+v", st.Connections)

	// A stream through B reaches the origin over the connections the
	// connector opened there.
	echoVia(t, a, b.addr, "through b")

	c := startFleetEdge(t, a, "edge-c")
	waitConns(t, "two connections at C, which started after the connector", c.admin, 2)
	echoVia(t, a, c.addr, "through c")

	// A stream open through B when B stops finishes: B drains, the
	// connector learns from A and C that B left and drains its
	// connections there, and the stream's bytes still flow both ways.
	open := openVia(t, a, b.addr)
	if _, err := io.WriteString(open, "open "); err != nil {
		t.Fatal(err)
	}
	if got, err := io.ReadAll(io.LimitReader(open, 5)); err != nil || string(got) != "open " {
		t.Fatalf("echo before the stop: %q, %v", got, err)
	}
	stopped := make(chan struct{})
	go func() { defer close(stopped); b.stop(t) }()
	testenv.Eventually(t, "the connector to drain B", func() bool { return logs.count(msgLeft) == 1 })
	echoRoundTrip(t, open, open.CloseWrite, "and finished")
	open.Close()
	<-stopped
	run.waitReady(t, "B's connections drained and gone; A's and C's kept", func(code int, st connector.Status) bool {
		return code == 200 && count(st, b.addr) == 0 && healthy(st, a.Addr, false) == 2 && healthy(st, c.addr, true) == 2
	})
	waitConns(t, "A keeps its two", a.AdminURL, 2)
	waitConns(t, "C keeps its two", c.admin, 2)
}

// healthy counts the healthy connections to addr, of a fleet member or
// a configured edge.
func healthy(st connector.Status, addr string, member bool) int {
	n := 0
	for _, c := range st.Connections {
		if c.Edge == addr && c.Healthy && c.FleetMember == member {
			n++
		}
	}
	return n
}

func count(st connector.Status, addr string) int {
	n := 0
	for _, c := range st.Connections {
		if c.Edge == addr {
			n++
		}
	}
	return n
}

// openVia opens a stream at the edge at addr (of a's fleet: a's CA and
// tokens), through the connector to the echo origin.
func openVia(tb testing.TB, a *edgetest.Edge, addr string) *edgeclient.StreamConn {
	tb.Helper()
	cl := edgeclient.NewClient(edgeclient.Config{Addr: addr, ServerName: a.ServerName, RootCAs: a.RootCAs})
	tb.Cleanup(func() { cl.Close() })
	octx, cancel := context.WithTimeout(testenv.Context(tb), 10*time.Second)
	defer cancel()
	sc, err := cl.Open(octx, &wire.Open{App: testApp, Token: a.MintToken(tb, testApp, testEmail, time.Hour)})
	if err != nil {
		tb.Fatalf("open at %s: %v", addr, err)
	}
	return sc
}

// echoVia echoes msg on a stream through the edge at addr.
func echoVia(tb testing.TB, a *edgetest.Edge, addr, msg string) {
	tb.Helper()
	sc := openVia(tb, a, addr)
	defer sc.Close()
	echoRoundTrip(tb, sc, sc.CloseWrite, msg)
}

// msgCounter counts the log records by message, and keeps each one's
// "err" attribute with its "conn_index" (from the record or the logger's
// With), passing them on.
type msgCounter struct {
	slog.Handler
	mu    *sync.Mutex
	n     map[string]int
	errs  map[string][]loggedErr
	attrs []slog.Attr // this handler's WithAttrs
}

// loggedErr is one record's "err", and the connection it names ("" when
// it names none).
type loggedErr struct{ conn, err string }

func newMsgCounter(tb testing.TB) *msgCounter {
	return &msgCounter{Handler: testLogger(tb).Handler(), mu: &sync.Mutex{}, n: map[string]int{}, errs: map[string][]loggedErr{}}
}

func (h *msgCounter) Handle(ctx context.Context, r slog.Record) error {
	var e loggedErr
	hasErr := false
	see := func(a slog.Attr) bool {
		switch a.Key {
		case "err":
			e.err, hasErr = a.Value.String(), true
		case "conn_index":
			e.conn = a.Value.String()
		}
		return true
	}
	for _, a := range h.attrs {
		see(a)
	}
	r.Attrs(see)
	h.mu.Lock()
	h.n[r.Message]++
	if hasErr {
		h.errs[r.Message] = append(h.errs[r.Message], e)
	}
	h.mu.Unlock()
	return h.Handler.Handle(ctx, r)
}

func (h *msgCounter) WithAttrs(as []slog.Attr) slog.Handler {
	return &msgCounter{Handler: h.Handler.WithAttrs(as), mu: h.mu, n: h.n, errs: h.errs, attrs: slices.Concat(h.attrs, as)}
}

func (h *msgCounter) WithGroup(g string) slog.Handler {
	return &msgCounter{Handler: h.Handler.WithGroup(g), mu: h.mu, n: h.n, errs: h.errs, attrs: h.attrs}
}

// errors returns the "err" attributes of the records logged as msg.
func (h *msgCounter) errors(msg string) []loggedErr {
	h.mu.Lock()
	defer h.mu.Unlock()
	return slices.Clone(h.errs[msg])
}

func (h *msgCounter) count(msg string) int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.n[msg]
}

const (
	msgDown   = "edge connection down; retrying"
	msgFollow = "following a fleet member: connecting to it"
	msgLeft   = "a fleet member left: draining its connections"
	msgCut    = "the fleet has more edges than a connector follows; not connecting to the rest"
)

// memberSlots counts the connections to fleet members by address.
func memberSlots(st connector.Status) map[string]int {
	out := map[string]int{}
	for _, c := range st.Connections {
		if c.FleetMember {
			out[c.Edge]++
		}
	}
	return out
}

// TestFleetMembersFollowed: what a connector does with the lists an edge
// tells it (a fake edge, so the lists are the test's): the newest list of
// a fleet wins and an older one changes nothing; the edge itself and a
// list without a fleet are not followed; at most MaxFollowedEdges members,
// the cut logged once; a member whose certificate is not the fleet's CA's
// gets no Hello (the tunnel secret is never sent there).
func TestFleetMembersFollowed(t *testing.T) {
	logs := newMsgCounter(t)
	s := newFakeSetup(t, func(c *connector.Config) { c.Logger = slog.New(logs) })
	self := wire.Member{ID: "fake-edge", Addr: s.edge.Addr()}
	member := func(i int) wire.Member {
		return wire.Member{ID: fmt.Sprintf("edge-%02d", i), Addr: testenv.RefusedAddr(t)}
	}
	ms := make([]wire.Member, 20)
	for i := range ms {
		ms[i] = member(i)
	}
	tell := func(m *wire.Members) {
		t.Helper()
		if err := s.conns[0].Send(m); err != nil {
			t.Fatal(err)
		}
	}
	waitMembers := func(what string, want ...wire.Member) {
		t.Helper()
		s.run.waitReady(t, what, func(code int, st connector.Status) bool {
			got := memberSlots(st)
			if len(got) != len(want) {
				return false
			}
			for _, m := range want {
				if got[m.Addr] != connector.DefaultHAConnections {
					return false
				}
			}
			return true
		})
	}

	t.Run("no fleet: nothing followed", func(t *testing.T) {
		tell(&wire.Members{Members: []wire.Member{self, ms[5]}})
		tell(&wire.Members{Fleet: "f", Generation: 1, Members: []wire.Member{self, ms[0]}})
		waitMembers("ms[0] only, from the list with a fleet", ms[0])
		if n := logs.count(msgFollow); n != 1 {
			t.Fatalf("%d members followed, want 1: the edge itself and the list without a fleet are not", n)
		}
	})
	t.Run("newer list replaces", func(t *testing.T) {
		tell(&wire.Members{Fleet: "f", Generation: 3, Members: []wire.Member{self, ms[1], ms[2]}})
		waitMembers("ms[1] and ms[2]", ms[1], ms[2])
		testenv.Eventually(t, "ms[0]'s connections to drain", func() bool { return logs.count(msgLeft) == 1 })
	})
	t.Run("older list ignored", func(t *testing.T) {
		tell(&wire.Members{Fleet: "f", Generation: 2, Members: []wire.Member{ms[9]}})
		tell(&wire.Members{Fleet: "f", Generation: 4, Members: []wire.Member{self, ms[1], ms[2], ms[3]}})
		waitMembers("ms[1] to ms[3]", ms[1], ms[2], ms[3])
		if f, l := logs.count(msgFollow), logs.count(msgLeft); f != 4 || l != 1 {
			t.Fatalf("%d follows and %d leaves, want 4 and 1: generation 2 was applied", f, l)
		}
	})
	t.Run("at most MaxFollowedEdges", func(t *testing.T) {
		tell(&wire.Members{Fleet: "f", Generation: 5, Members: append([]wire.Member{self}, ms...)})
		waitMembers("the first 16 by id", ms[:connector.MaxFollowedEdges]...)
		s.run.waitMetric(t, "airlock_connector_fleet_members", "16")
		tell(&wire.Members{Fleet: "f", Generation: 6, Members: append([]wire.Member{self}, ms...)})
		tell(&wire.Members{Fleet: "f", Generation: 7, Members: append([]wire.Member{self}, ms[:connector.MaxFollowedEdges]...)})
		// Lists applied: generations 1, 3, 4, 5, 6 and 7.
		testenv.Eventually(t, "generation 7 applied", func() bool { return logs.count("the edge told the fleet's members") == 6 })
		if n := logs.count(msgCut); n != 1 {
			t.Fatalf("the cut logged %d times, want once", n)
		}
	})
	t.Run("a member with another certificate gets no hello", func(t *testing.T) {
		other := fakeedge.StartTunnel(t, s.edge.TunnelID, s.edge.Secret, s.signer.PublicKey())
		rogue := wire.Member{ID: "rogue", Addr: other.Addr()}
		tell(&wire.Members{Fleet: "f", Generation: 8, Members: []wire.Member{self, rogue}})
		s.run.waitReady(t, "the rogue member refused by TLS", func(code int, st connector.Status) bool {
			n := 0
			for _, c := range st.Connections {
				if c.Edge == rogue.Addr && strings.Contains(c.LastError, "certificate") {
					n++
				}
			}
			return n == connector.DefaultHAConnections
		})
		if n := len(other.Conns()); n != 0 {
			t.Fatalf("the edge with another certificate got %d hellos", n)
		}
	})
}
