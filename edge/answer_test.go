package edge

import (
	"net"
	"sync"
	"testing"
	"time"

	"github.com/airlockhq/airlock/internal/testenv"
	"github.com/airlockhq/airlock/internal/wire"
	dto "github.com/prometheus/client_model/go"
)

// TestQuietWhileAnswering: a connector connection that goes quiet while the
// edge waits for its answer to a Dial (it pinged, took the Dial, then
// nothing: SIGSTOPped, or a stale Ping an edge read after its own pause)
// loses the stream to a connection of the tunnel that was heard, and the
// client gets its answer from there; a lone quiet connector keeps it and
// its late answer still serves.
func TestQuietWhileAnswering(t *testing.T) {
	for _, tc := range []struct {
		name     string
		other    bool   // a second, pinging connector joins while the Dial waits
		wantFrom string // whose answer the client gets
	}{
		{"another connection heard takes the stream", true, "b"},
		{"a lone quiet connector keeps it", false, "a"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := startEdge(t)
			ctx := testenv.Context(t)
			pc, err := net.ListenPacket("udp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			mute := &mutePacketConn{PacketConn: pc}
			a := e.connectorVia(t, "a", e.creds, mute)
			release := make(chan struct{})
			a.hold.Store(&release)
			t.Cleanup(func() {
				select {
				case <-release:
				default:
					close(release)
				}
			})
			a.ping(t)
			testenv.Eventually(t, "the edge to hear a's Ping", func() bool {
				p := e.srv.registry.pick(e.creds.TunnelID, nil, time.Now())
				_, pinged := p.heard.last()
				return pinged
			})
			c := e.client(t)
			tok := e.mint(t, testApp, "alice@example.com", time.Hour)
			type opened struct {
				res  *wire.Result
				echo string
				err  error
			}
			got := make(chan opened, 1)
			go func() { // not the test's goroutine: it reports, the test fails
				str, res, err := tryOpen(c, &wire.Open{App: testApp, Token: tok, Target: "x:1"})
				o := opened{res: res, err: err}
				if err == nil && res.Code == wire.CodeOK {
					o.echo, o.err = tryRoundTrip(str, "hi")
				}
				got <- o
			}()
			select {
			case <-a.dials:
			case <-ctx.Done():
				t.Fatal("connector a got no Dial")
			}
			mute.muted.Store(true) // a falls silent holding the Dial
			var b *fakeConnector
			if tc.other {
				b = e.connector(t, "b", e.creds)
				stop := make(chan struct{})
				var wg sync.WaitGroup
				defer wg.Wait()
				defer close(stop)
				wg.Go(func() { // b pings as a live connector does, until the subtest ends
					tick := time.NewTicker(100 * time.Millisecond)
					defer tick.Stop()
					for {
						if err := wire.WriteFrame(b.ctrl, &wire.Ping{Padding: wire.PingPadding}); err != nil {
							return // the connection closed
						}
						select {
						case <-stop:
							return
						case <-tick.C:
						}
					}
				})
			} else {
				testenv.Eventually(t, "a's connection to be quiet at the edge", func() bool {
					p := e.srv.registry.pick(e.creds.TunnelID, nil, time.Now())
					return p.heard.quietAt(time.Now())
				})
				mute.muted.Store(false)
				close(release) // a answers late: its answer serves
			}
			var o opened
			select {
			case o = <-got:
			case <-ctx.Done():
				t.Fatal("no answer for the client")
			}
			if o.err != nil {
				t.Fatalf("the client: %v", o.err)
			}
			if o.res.Code != wire.CodeOK || o.echo != tc.wantFrom+":hi" {
				t.Fatalf("the client got %v, %q; want OK and %q", o.res.Err(), o.echo, tc.wantFrom+":hi")
			}
			if n := len(a.dials); n != 0 {
				t.Errorf("connector a saw %d more Dials, want none", n)
			}
			// Moved because a went quiet, not because its connection
			// closed for idleness (5 s) or the wait timed out.
			var moved dto.Metric
			if err := e.srv.m.quietMoved.Write(&moved); err != nil {
				t.Fatal(err)
			}
			if got, want := moved.GetCounter().GetValue(), map[bool]float64{true: 1}[tc.other]; got != want {
				t.Errorf("streams moved from a quiet connection: %v, want %v", got, want)
			}
			if tc.other && len(b.dials) != 1 {
				t.Errorf("connector b saw %d Dials, want 1", len(b.dials))
			}
		})
	}
}
