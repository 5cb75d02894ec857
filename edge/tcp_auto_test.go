package edge

import (
	"io"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/airlockhq/airlock/internal/edgeclient"
	"github.com/airlockhq/airlock/internal/testenv"
	"github.com/airlockhq/airlock/internal/transport"
	"github.com/airlockhq/airlock/internal/wire"
)

// udpGate relays UDP to an edge, one upstream socket per client address,
// and drops every packet both ways while closed: a path that drops UDP.
type udpGate struct {
	pc   net.PacketConn
	to   *net.UDPAddr
	open atomic.Bool

	mu sync.Mutex
	up map[string]*net.UDPConn
}

func startUDPGate(tb testing.TB, to net.Addr) *udpGate {
	tb.Helper()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	g := &udpGate{pc: pc, to: to.(*net.UDPAddr), up: map[string]*net.UDPConn{}}
	var wg sync.WaitGroup
	tb.Cleanup(func() {
		pc.Close()
		g.mu.Lock()
		for _, u := range g.up {
			u.Close()
		}
		g.mu.Unlock()
		wg.Wait()
	})
	wg.Go(func() {
		buf := make([]byte, 64<<10)
		for {
			n, from, err := pc.ReadFrom(buf)
			if err != nil {
				return
			}
			if !g.open.Load() {
				continue
			}
			g.mu.Lock()
			u := g.up[from.String()]
			if u == nil {
				if u, err = net.DialUDP("udp", nil, g.to); err != nil {
					g.mu.Unlock()
					continue
				}
				g.up[from.String()] = u
				wg.Go(func() {
					b := make([]byte, 64<<10)
					for {
						n, err := u.Read(b)
						if err != nil {
							return
						}
						if g.open.Load() {
							pc.WriteTo(b[:n], from)
						}
					}
				})
			}
			g.mu.Unlock()
			u.Write(buf[:n])
		}
	})
	return g
}

// TestAutoTransport: a daemon's client whose path drops UDP to the edge
// falls back to TLS on TCP after FallbackAfter and says why; once UDP
// passes again, the retry (after a shortened RetryQUICAfter) moves it back
// to QUIC, and the TCP connection is closed once its streams ended.
func TestAutoTransport(t *testing.T) {
	e := startEdge(t)
	e.connector(t, "a", e.creds)
	gate := startUDPGate(t, e.srv.Addr())
	c := edgeclient.NewClient(edgeclient.Config{
		Addr: gate.pc.LocalAddr().String(), TCPAddr: e.srv.TCPAddr().String(),
		ServerName: "localhost", RootCAs: e.pool,
		FallbackAfter: 300 * time.Millisecond, RetryQUICAfter: 500 * time.Millisecond,
	})
	t.Cleanup(func() { c.Close() })
	tok := e.mint(t, testApp, "alice@example.com", time.Minute)
	stream := func(t *testing.T) {
		t.Helper()
		s, err := c.Open(testenv.Context(t), &wire.Open{App: testApp, Token: tok, Target: "kube:443"})
		if err != nil {
			t.Fatal(err)
		}
		io.WriteString(s, "x")
		s.CloseWrite()
		if b, err := io.ReadAll(s); err != nil || string(b) != "a:x" {
			t.Fatalf("relayed %q, %v", b, err)
		}
		s.Close()
	}

	t.Run("UDP dropped: TCP", func(t *testing.T) {
		stream(t)
		name, why := c.Transport()
		if name != transport.NameTCP || !strings.Contains(why, "UDP to the edge got no answer within 0.3 s") {
			t.Fatalf("transport %q (%q), want TCP because UDP got no answer", name, why)
		}
	})
	t.Run("UDP passes again: back on QUIC", func(t *testing.T) {
		gate.open.Store(true)
		testenv.Eventually(t, "the client back on QUIC", func() bool {
			name, _ := c.Transport() // also starts the retry when it is due
			return name == transport.NameQUIC
		})
		stream(t)
		if name, _ := c.Transport(); name != transport.NameQUIC {
			t.Fatalf("transport %q after the move", name)
		}
	})
}
