package edge

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/quic-go/quic-go"

	"github.com/airlockhq/airlock/internal/relay"
	"github.com/airlockhq/airlock/internal/testenv"
	"github.com/airlockhq/airlock/internal/wire"
)

// withLimits sets the edge's limits; the fields left zero keep their
// defaults.
func withLimits(l Limits) func(*Config) {
	return func(c *Config) {
		l.setDefaults()
		c.Limits = l
	}
}

// dialFrom opens a QUIC connection to the edge from a socket bound to ip, a
// source address of its own in 127.0.0.0/8.
func (e *testEdge) dialFrom(tb testing.TB, ip string) (*quic.Conn, error) {
	tb.Helper()
	udp, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.ParseIP(ip)})
	if err != nil {
		tb.Fatal(err)
	}
	tr := &quic.Transport{Conn: udp}
	tb.Cleanup(func() {
		tr.Close()
		udp.Close()
	})
	ctx, cancel := context.WithTimeout(testenv.Context(tb), 5*time.Second)
	defer cancel()
	conn, err := tr.Dial(ctx, e.srv.Addr(), &tls.Config{
		RootCAs: e.pool, ServerName: "localhost", NextProtos: []string{wire.ALPN},
	}, &quic.Config{KeepAlivePeriod: time.Second})
	if err == nil {
		tb.Cleanup(func() { conn.CloseWithError(0, "") })
	}
	return conn, err
}

// clientFrom connects as a daemon from ip and returns the connection and
// its control stream.
func (e *testEdge) clientFrom(tb testing.TB, ip string) (*quic.Conn, *quic.Stream) {
	tb.Helper()
	conn, err := e.dialFrom(tb, ip)
	if err != nil {
		tb.Fatalf("dial from %s: %v", ip, err)
	}
	ctrl, err := conn.OpenStreamSync(testenv.Context(tb))
	if err != nil {
		tb.Fatal(err)
	}
	if w := hello(tb, ctrl, &wire.Hello{Version: wire.Version, Role: wire.RoleClient}); w.Code != wire.CodeOK {
		tb.Fatalf("client welcome: %v", w.Err())
	}
	return conn, ctrl
}

// stall opens a stream that sends the first byte of an Open frame and no
// more, as the flood does.
func stall(tb testing.TB, conn *quic.Conn) *quic.Stream {
	tb.Helper()
	str, err := conn.OpenStream()
	if err != nil {
		tb.Fatalf("open a stalled stream: %v", err)
	}
	if _, err := str.Write([]byte{byte(wire.FrameOpen)}); err != nil {
		tb.Fatal(err)
	}
	return str
}

// resetCode reads str until the edge resets it and returns the code.
func resetCode(tb testing.TB, str *quic.Stream) wire.Code {
	tb.Helper()
	str.SetReadDeadline(time.Now().Add(10 * time.Second))
	_, err := io.ReadAll(str)
	code, ok := streamErrCode(err)
	if !ok {
		tb.Fatalf("read %v, want a reset", err)
	}
	return code
}

// gauge returns a metric without labels (0 when absent).
func gauge(tb testing.TB, s *Server, name string) float64 {
	tb.Helper()
	fams, err := s.Registry().Gather()
	if err != nil {
		tb.Fatal(err)
	}
	for _, f := range fams {
		if f.GetName() == name && len(f.GetMetric()) == 1 {
			m := f.GetMetric()[0]
			return m.GetGauge().GetValue() + m.GetCounter().GetValue()
		}
	}
	return 0
}

// waitGauge waits until the metric reads want.
func waitGauge(tb testing.TB, s *Server, name string, want float64) {
	tb.Helper()
	testenv.Eventually(tb, fmt.Sprintf("%s = %v", name, want), func() error {
		if got := gauge(tb, s, name); got != want {
			return fmt.Errorf("%s = %v", name, got)
		}
		return nil
	})
}

// authenticate opens one stream with a valid token on conn and relays a
// message through the connector.
func (e *testEdge) authenticate(tb testing.TB, conn *quic.Conn) {
	tb.Helper()
	str, res := open(tb, conn, &wire.Open{App: testApp, Token: e.mint(tb, testApp, "alice@example.com", time.Hour)})
	if res.Code != wire.CodeOK {
		tb.Fatal(res.Err())
	}
	if got := roundTrip(tb, str, "hi"); got != "a:hi" {
		tb.Fatalf("relayed %q", got)
	}
}

func connClosedWith(tb testing.TB, conn *quic.Conn) wire.Code {
	tb.Helper()
	select {
	case <-conn.Context().Done():
	case <-testenv.Context(tb).Done():
		tb.Fatal("the edge did not close the connection")
	}
	return relay.CodeOf(context.Cause(conn.Context()))
}

// TestStalledStreams: streams that never send their Open frame are bounded
// per connection and in all, reset with overloaded beyond the cap and with
// bad_request after the first-frame deadline; a connection from an untrusted
// source gets only the unauthenticated stream limit.
func TestStalledStreams(t *testing.T) {
	t.Run("per connection", func(t *testing.T) {
		e := startEdge(t, withLimits(Limits{PendingStreamsPerConn: 3, FirstFrameTimeout: Duration(time.Hour)}))
		c, _ := e.clientFrom(t, "127.0.0.2")
		for range 3 {
			stall(t, c)
		}
		waitGauge(t, e.srv, "airlock_edge_pending_streams", 3)
		if code := resetCode(t, stall(t, c)); code != wire.CodeOverloaded {
			t.Fatalf("the stream over the cap was reset with %v, want overloaded", code)
		}
		// Another connection has its own share.
		c2, _ := e.clientFrom(t, "127.0.0.3")
		stall(t, c2)
		waitGauge(t, e.srv, "airlock_edge_pending_streams", 4)
		if n := metricValue(t, e.srv, "airlock_edge_refused_total", "bound", boundPendingPerConn); n != 1 {
			t.Errorf("refused{pending_streams_per_conn} = %v, want 1", n)
		}
	})
	t.Run("in all, for trusted sources", func(t *testing.T) {
		e := startEdge(t, withLimits(Limits{PendingStreams: 4, FirstFrameTimeout: Duration(time.Hour)}))
		e.connector(t, "a", e.creds)
		waitGauge(t, e.srv, "airlock_edge_trusted_sources", 1) // 127.0.0.1, by the connector's secret
		c1, _ := e.clientFrom(t, "127.0.0.1")
		c2, _ := e.clientFrom(t, "127.0.0.1")
		for range 2 {
			stall(t, c1)
			stall(t, c2)
		}
		waitGauge(t, e.srv, "airlock_edge_pending_streams", 4)
		if code := resetCode(t, stall(t, c2)); code != wire.CodeOverloaded {
			t.Fatalf("the stream over the cap was reset with %v, want overloaded", code)
		}
		if n := metricValue(t, e.srv, "airlock_edge_refused_total", "bound", boundPendingStreams); n != 1 {
			t.Errorf("refused{pending_streams} = %v, want 1", n)
		}
		// An untrusted source's stalled streams are bounded by its low
		// stream limit, not by this cap.
		u, _ := e.clientFrom(t, "127.0.0.2")
		stall(t, u)
		waitGauge(t, e.srv, "airlock_edge_pending_streams", 5)
	})
	t.Run("first frame deadline", func(t *testing.T) {
		e := startEdge(t, withLimits(Limits{FirstFrameTimeout: Duration(20 * time.Millisecond)}))
		c, _ := e.clientFrom(t, "127.0.0.2")
		if code := resetCode(t, stall(t, c)); code != wire.CodeBadRequest {
			t.Fatalf("a stalled stream was reset with %v, want bad_request", code)
		}
		waitGauge(t, e.srv, "airlock_edge_pending_streams", 0)
		if n := metricValue(t, e.srv, "airlock_edge_refused_total", "bound", boundFirstFrame); n != 1 {
			t.Errorf("refused{first_frame_timeout} = %v, want 1", n)
		}
	})
	t.Run("unauthenticated stream limit", func(t *testing.T) {
		e := startEdge(t, withLimits(Limits{UnauthenticatedStreams: 3, FirstFrameTimeout: Duration(time.Hour)}))
		c, _ := e.clientFrom(t, "127.0.0.2")
		for range 3 {
			stall(t, c)
		}
		// The peer's QUIC stack knows the limit: a fourth stream cannot
		// even be opened, and costs the edge nothing.
		var limit *quic.StreamLimitReachedError
		if _, err := c.OpenStream(); !errors.As(err, &limit) {
			t.Fatalf("a stream beyond the unauthenticated limit: %v, want %T", err, limit)
		}
	})
}

// TestUnauthenticatedConnections: a client connection that presents no
// valid token is closed with unauthenticated once it has had its share of
// refused streams, or after the unauthenticated timeout.
func TestUnauthenticatedConnections(t *testing.T) {
	for _, tc := range []struct {
		name  string
		lim   Limits
		bound string
		do    func(t *testing.T, e *testEdge, c *quic.Conn)
	}{
		{"refused streams", Limits{UnauthenticatedRefusals: 3}, boundUnauthRefusals, func(t *testing.T, e *testEdge, c *quic.Conn) {
			for range 3 {
				str, err := c.OpenStreamSync(testenv.Context(t))
				if err != nil {
					return // closed after the third
				}
				wire.WriteFrame(str, &wire.Open{App: testApp, Token: "not-a-token"})
			}
		}},
		{"timeout", Limits{UnauthenticatedTimeout: Duration(20 * time.Millisecond)}, boundUnauthTimeout, func(*testing.T, *testEdge, *quic.Conn) {}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := startEdge(t, withLimits(tc.lim))
			c, _ := e.clientFrom(t, "127.0.0.2")
			tc.do(t, e, c)
			if code := connClosedWith(t, c); code != wire.CodeUnauthenticated {
				t.Fatalf("connection closed with %v, want unauthenticated", code)
			}
			if n := metricValue(t, e.srv, "airlock_edge_refused_total", "bound", tc.bound); n != 1 {
				t.Errorf("refused{%s} = %v, want 1", tc.bound, n)
			}
		})
	}
}

// TestSourceConnectionCaps: connections that have not authenticated are
// capped per source and, for untrusted sources, in all; a refused peer is
// refused at its first packet (CONNECTION_REFUSED, read as overloaded),
// and a connection that authenticates frees its place.
func TestSourceConnectionCaps(t *testing.T) {
	refused := func(t *testing.T, e *testEdge, ip string) {
		t.Helper()
		_, err := e.dialFrom(t, ip)
		var te *quic.TransportError
		if !errors.As(err, &te) || te.ErrorCode != quic.ConnectionRefused {
			t.Fatalf("dial from %s: %v, want CONNECTION_REFUSED", ip, err)
		}
		if code := relay.CodeOf(err); code != wire.CodeOverloaded {
			t.Errorf("CodeOf(%v) = %v, want overloaded", err, code)
		}
	}
	t.Run("per source", func(t *testing.T) {
		e := startEdge(t, withLimits(Limits{UnauthenticatedConnsPerSource: 2}))
		e.connector(t, "a", e.creds)
		c1, _ := e.clientFrom(t, "127.0.0.2")
		e.clientFrom(t, "127.0.0.2")
		refused(t, e, "127.0.0.2")
		e.clientFrom(t, "127.0.0.3") // another source has its own
		e.authenticate(t, c1)
		e.clientFrom(t, "127.0.0.2") // c1's place is free again
		if n := metricValue(t, e.srv, "airlock_edge_refused_total", "bound", boundUnauthConnsPerSource); n < 1 {
			t.Errorf("refused{unauthenticated_conns_per_source} = %v, want at least 1", n)
		}
	})
	t.Run("untrusted in all", func(t *testing.T) {
		e := startEdge(t, withLimits(Limits{UnauthenticatedConns: 2}))
		e.connector(t, "a", e.creds)
		waitGauge(t, e.srv, "airlock_edge_trusted_sources", 1) // 127.0.0.1, by the connector's secret
		e.clientFrom(t, "127.0.0.2")
		e.clientFrom(t, "127.0.0.3")
		refused(t, e, "127.0.0.4")
		// A trusted source is not held up by the untrusted flood.
		c, _ := e.clientFrom(t, "127.0.0.1")
		e.authenticate(t, c)
		// Counted per packet refused: the peer may have sent its Initial twice.
		if n := metricValue(t, e.srv, "airlock_edge_refused_total", "bound", boundUnauthConns); n < 1 {
			t.Errorf("refused{unauthenticated_conns} = %v, want at least 1", n)
		}
	})
	t.Run("every connection per source", func(t *testing.T) {
		e := startEdge(t, withLimits(Limits{ConnsPerSource: 1}))
		e.clientFrom(t, "127.0.0.2")
		refused(t, e, "127.0.0.2")
	})
}

// TestAuthenticatedDuringFlood: while untrusted sources hold every
// unauthenticated connection and stalled stream the limits allow, and more
// are refused, an authenticated daemon's new streams and a new connection
// from its (trusted) source still get through.
func TestAuthenticatedDuringFlood(t *testing.T) {
	const sources, streams = 3, 4
	e := startEdge(t, withLimits(Limits{
		UnauthenticatedConns: sources, UnauthenticatedStreams: streams, FirstFrameTimeout: Duration(time.Hour),
	}))
	e.connector(t, "a", e.creds)
	user, _ := e.clientFrom(t, "127.0.0.1")
	e.authenticate(t, user)

	for i := range sources {
		c, _ := e.clientFrom(t, fmt.Sprintf("127.0.1.%d", i+1))
		for range streams {
			stall(t, c)
		}
	}
	waitGauge(t, e.srv, "airlock_edge_pending_streams", sources*streams)
	if _, err := e.dialFrom(t, "127.0.1.99"); err == nil {
		t.Fatal("a connection beyond the unauthenticated cap was accepted")
	}

	e.authenticate(t, user)
	again, _ := e.clientFrom(t, "127.0.0.1")
	e.authenticate(t, again)
	if got := gauge(t, e.srv, "airlock_edge_pending_streams"); got != sources*streams {
		t.Errorf("pending streams %v after the user's streams, want %d", got, sources*streams)
	}
}

// TestReconnectForFullLimit: a connection from an untrusted source that
// authenticates is asked to drain; its source is trusted from then on, so
// the next connection gets the full stream limit.
func TestReconnectForFullLimit(t *testing.T) {
	const low = 2
	e := startEdge(t, withLimits(Limits{UnauthenticatedStreams: low, FirstFrameTimeout: Duration(time.Hour)}))
	e.connector(t, "a", e.creds)
	c, ctrl := e.clientFrom(t, "127.0.0.2")
	e.authenticate(t, c)
	ctrl.SetReadDeadline(time.Now().Add(10 * time.Second))
	if _, err := wire.ReadFrameOf[*wire.Drain](ctrl); err != nil {
		t.Fatalf("no Drain after the first authenticated stream: %v", err)
	}
	full, _ := e.clientFrom(t, "127.0.0.2")
	for range low + 1 {
		stall(t, full) // more than the unauthenticated limit
	}
	waitGauge(t, e.srv, "airlock_edge_trusted_sources", 2) // 127.0.0.1 (the connector) and 127.0.0.2
}

// TestGuardAdmit drives the admission hooks directly: each bound refuses
// the attempt after it, and the handshakes in progress decide when a new
// connection must prove its address first.
func TestGuardAdmit(t *testing.T) {
	addr := func(ip string) *quic.ClientInfo {
		return &quic.ClientInfo{RemoteAddr: &net.UDPAddr{IP: net.ParseIP(ip), Port: 4000}}
	}
	for _, tc := range []struct {
		name   string
		lim    Limits
		admits []string // sources admitted in turn
		over   string   // the next one, refused
		bound  string
	}{
		{"handshakes", Limits{Handshakes: 2}, []string{"192.0.2.1", "192.0.2.2"}, "192.0.2.3", boundHandshakes},
		{"connections", Limits{Conns: 2}, []string{"192.0.2.1", "192.0.2.2"}, "192.0.2.3", boundConns},
		{"per source", Limits{ConnsPerSource: 2}, []string{"192.0.2.1", "192.0.2.1", "192.0.2.2"}, "192.0.2.1", boundConnsPerSource},
		{"unauthenticated per source", Limits{UnauthenticatedConnsPerSource: 1}, []string{"192.0.2.1", "192.0.2.2"}, "192.0.2.1", boundUnauthConnsPerSource},
		{"unauthenticated in all", Limits{UnauthenticatedConns: 2}, []string{"192.0.2.1", "192.0.2.2"}, "192.0.2.3", boundUnauthConns},
		{"an IPv6 /64 is one source", Limits{ConnsPerSource: 1}, []string{"2001:db8::1"}, "2001:db8::ffff", boundConnsPerSource},
	} {
		t.Run(tc.name, func(t *testing.T) {
			lim := tc.lim
			lim.setDefaults()
			g := newGuard(lim, DefaultQUICConfig(), testLogger(t), newMetrics(newPromRegistry()))
			for _, ip := range tc.admits {
				if _, err := g.admit(addr(ip)); err != nil {
					t.Fatalf("admit %s: %v", ip, err)
				}
			}
			_, err := g.admit(addr(tc.over))
			if !errors.Is(err, errRefused) || !strings.Contains(err.Error(), tc.bound) {
				t.Fatalf("admit %s: %v, want a refusal by %s", tc.over, err, tc.bound)
			}
		})
	}
	t.Run("retry under load", func(t *testing.T) {
		lim := Limits{RetryAbove: 2}
		lim.setDefaults()
		g := newGuard(lim, DefaultQUICConfig(), testLogger(t), newMetrics(newPromRegistry()))
		for i, want := range []bool{false, false, true} {
			if got := g.verifySourceAddress(addr("192.0.2.1").RemoteAddr); got != want {
				t.Fatalf("with %d handshakes in progress: retry %v, want %v", i, got, want)
			}
			if _, err := g.admit(addr(fmt.Sprintf("192.0.2.%d", i+1))); err != nil {
				t.Fatal(err)
			}
		}
	})
	t.Run("no retry for a connection refused anyway", func(t *testing.T) {
		lim := Limits{RetryAbove: 1, UnauthenticatedConns: 1}
		lim.setDefaults()
		reg := newPromRegistry()
		g := newGuard(lim, DefaultQUICConfig(), testLogger(t), newMetrics(reg))
		if _, err := g.admit(addr("192.0.2.1")); err != nil {
			t.Fatal(err)
		}
		g.trust(sourceOf(addr("192.0.2.9").RemoteAddr))
		for _, tc := range []struct {
			src   string
			retry bool
		}{
			{"192.0.2.2", false}, // untrusted, over unauthenticated_conns: refused at its first packet
			{"192.0.2.9", true},  // trusted, admitted after proving its address
		} {
			if got := g.verifySourceAddress(addr(tc.src).RemoteAddr); got != tc.retry {
				t.Errorf("%s: retry %v, want %v", tc.src, got, tc.retry)
			}
		}
		fams, err := reg.Gather()
		if err != nil {
			t.Fatal(err)
		}
		var n float64
		for _, f := range fams {
			if f.GetName() == "airlock_edge_address_validations_total" {
				n = f.GetMetric()[0].GetCounter().GetValue()
			}
		}
		if n != 1 {
			t.Errorf("%v address validations counted, want 1", n)
		}
	})
	t.Run("untrusted sources get the low limit", func(t *testing.T) {
		lim := Limits{UnauthenticatedStreams: 5}
		lim.setDefaults()
		g := newGuard(lim, DefaultQUICConfig(), testLogger(t), newMetrics(newPromRegistry()))
		c, err := g.admit(addr("192.0.2.1"))
		if err != nil {
			t.Fatal(err)
		}
		if c.MaxIncomingStreams != 6 || c.InitialConnectionReceiveWindow != DefaultUnauthenticatedWindow {
			t.Fatalf("untrusted: %d streams, window %d", c.MaxIncomingStreams, c.InitialConnectionReceiveWindow)
		}
		g.trust(sourceOf(addr("192.0.2.1").RemoteAddr))
		if c, _ = g.admit(addr("192.0.2.1")); c.MaxIncomingStreams != DefaultQUICConfig().MaxIncomingStreams {
			t.Fatalf("trusted: %d streams", c.MaxIncomingStreams)
		}
	})
}

// TestRefusalLogTable floods the refusal log table from ever new sources:
// it stays within TrustedSources, and a full table is swept for sources
// whose line is due again at most once per logSweepEvery, not on every
// refusal.
func TestRefusalLogTable(t *testing.T) {
	lim := Limits{TrustedSources: 4}
	lim.setDefaults()
	g := newGuard(lim, DefaultQUICConfig(), testLogger(t), newMetrics(newPromRegistry()))
	src := func(i int) netip.Addr { return netip.AddrFrom4([4]byte{192, 0, 2, byte(i)}) }
	age := func() { // every line in the table is due again
		g.mu.Lock()
		for _, l := range g.logs {
			l.last = l.last.Add(-2 * time.Duration(lim.RefusalLogEvery))
		}
		g.mu.Unlock()
	}
	tracked := func(i int) bool {
		g.mu.Lock()
		defer g.mu.Unlock()
		return g.logs[src(i)] != nil
	}
	for i := range 4 {
		g.refused(src(i), boundUnauthConns)
	}
	g.refused(src(10), boundUnauthConns)
	if tracked(10) {
		t.Fatal("a fifth source tracked in a full table of live lines")
	}
	age()
	g.mu.Lock()
	g.logsSwept = time.Now().Add(time.Hour) // as if the last sweep were just now, however slow this test runs
	g.mu.Unlock()
	g.refused(src(11), boundUnauthConns)
	if tracked(11) {
		t.Fatal("the full table was swept again within logSweepEvery")
	}
	g.mu.Lock()
	g.logsSwept = time.Time{}
	g.mu.Unlock()
	g.refused(src(12), boundUnauthConns)
	if !tracked(12) {
		t.Fatal("a full table of lapsed lines was not swept after logSweepEvery")
	}
	g.mu.Lock()
	n := len(g.logs)
	g.mu.Unlock()
	if n != 1 {
		t.Fatalf("%d sources tracked after the sweep, want 1", n)
	}
}

// TestGuardAuthenticateWhileClosing: a connection that authenticates while
// it closes (its release running at the same moment, which deletes the
// source once its last connection ended) leaves every count at zero and
// does not touch a source already given back. It crashed the edge once (a
// nil source in authenticate), when connectors closed right after their
// Welcome.
func TestGuardAuthenticateWhileClosing(t *testing.T) {
	lim := Limits{}
	lim.setDefaults()
	g := newGuard(lim, DefaultQUICConfig(), testLogger(t), newMetrics(newPromRegistry()))
	for i := range 2000 {
		info := &quic.ClientInfo{RemoteAddr: &net.UDPAddr{IP: net.IPv4(192, 0, 2, byte(1+i%200)), Port: 4000 + i}}
		if _, err := g.admit(info); err != nil {
			t.Fatalf("admit %d: %v", i, err)
		}
		g.mu.Lock()
		st := g.admitted[info]
		delete(g.admitted, info)
		g.mu.Unlock()
		var wg sync.WaitGroup
		wg.Go(func() { st.authenticate() })
		wg.Go(st.release)
		wg.Wait()
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	if len(g.sources) != 0 || g.conns != 0 || g.unauth != 0 || g.handshakes != 0 {
		t.Fatalf("after every connection ended: %d sources, %d connections, %d unauthenticated, %d handshakes; want none",
			len(g.sources), g.conns, g.unauth, g.handshakes)
	}
}
