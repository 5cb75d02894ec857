package edgeclient_test

import (
	"errors"
	"net"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/airlockhq/airlock/edge/edgetest"
	"github.com/airlockhq/airlock/internal/edgeclient"
	"github.com/airlockhq/airlock/internal/testenv"
)

// udpCut forwards UDP between one client and an edge on loopback, and drops
// either direction on demand: a link that fails without a word.
type udpCut struct {
	front    *net.UDPConn // the client sends here
	back     *net.UDPConn // towards the edge
	edge     *net.UDPAddr
	dropUp   atomic.Bool // client → edge
	dropDown atomic.Bool // edge → client

	mu     sync.Mutex
	client *net.UDPAddr // the latest source: a migrated path replaces it
}

func startUDPCut(tb testing.TB, edge *net.UDPAddr) *udpCut {
	tb.Helper()
	front, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		tb.Fatal(err)
	}
	back, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		tb.Fatal(err)
	}
	u := &udpCut{front: front, back: back, edge: edge}
	var wg sync.WaitGroup
	wg.Go(func() {
		buf := make([]byte, 65536)
		for {
			n, from, err := front.ReadFromUDP(buf)
			if err != nil {
				return
			}
			u.mu.Lock()
			u.client = from
			u.mu.Unlock()
			if !u.dropUp.Load() {
				back.WriteToUDP(buf[:n], edge)
			}
		}
	})
	wg.Go(func() {
		buf := make([]byte, 65536)
		for {
			n, _, err := back.ReadFromUDP(buf)
			if err != nil {
				return
			}
			u.mu.Lock()
			to := u.client
			u.mu.Unlock()
			if to != nil && !u.dropDown.Load() {
				front.WriteToUDP(buf[:n], to)
			}
		}
	})
	tb.Cleanup(func() {
		front.Close()
		back.Close()
		wg.Wait()
	})
	return u
}

func (u *udpCut) addr() string { return u.front.LocalAddr().String() }

// TestDeadLinkDetected: a link that stops carrying packets, in both
// directions or in one only, is reported down by State (never "connected")
// and the connection ends by itself, without a stream having to fail; once
// the link works again the next Connect dials a working connection.
func TestDeadLinkDetected(t *testing.T) {
	e := edgetest.Start(t, edgetest.Options{})
	for _, tc := range []struct {
		name     string
		up, down bool
	}{
		{"both directions", true, true},
		{"client to edge only", true, false},
		{"edge to client only", false, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := testenv.Context(t)
			cut := startUDPCut(t, e.UDPAddr())
			cfg := clientConfig(e)
			cfg.Addr = cut.addr()
			c := edgeclient.NewClient(cfg)
			t.Cleanup(func() { c.Close() })
			if err := c.Connect(ctx); err != nil {
				t.Fatal(err)
			}
			if up, _, err := c.State(); !up {
				t.Fatalf("State after Connect = down, %v", err)
			}
			cut.dropUp.Store(tc.up)
			cut.dropDown.Store(tc.down)
			start := time.Now()
			testenv.Eventually(t, "State to report the link down", func() bool {
				up, _, _ := c.State()
				return !up
			})
			_, _, why := c.State()
			var ce *edgeclient.ConnError
			if !errors.As(why, &ce) {
				t.Errorf("State's error = %v, want a *ConnError", why)
			}
			t.Logf("reported down after %s: %v", time.Since(start).Round(10*time.Millisecond), why)
			cut.dropUp.Store(false)
			cut.dropDown.Store(false)
			if err := c.Connect(ctx); err != nil {
				t.Fatalf("Connect once the link works again: %v", err)
			}
			testenv.Eventually(t, "State to report the link up again", func() error {
				if up, _, err := c.State(); !up {
					return err
				}
				return nil
			})
		})
	}
}

// TestRefusedSendIsALostPacket: send errors that concern one packet are
// losses for QUIC to recover, not the end of the connection; others are
// not swallowed.
func TestRefusedSendIsALostPacket(t *testing.T) {
	for _, tc := range []struct {
		err  error
		lost bool
	}{
		{&net.OpError{Op: "write", Err: &osSyscallError{syscall.EPERM}}, true},
		{&net.OpError{Op: "write", Err: &osSyscallError{syscall.ENOBUFS}}, true},
		{&net.OpError{Op: "write", Err: &osSyscallError{syscall.EADDRNOTAVAIL}}, true},
		{&net.OpError{Op: "write", Err: &osSyscallError{syscall.ENETUNREACH}}, true},
		{&net.OpError{Op: "write", Err: &osSyscallError{syscall.EMSGSIZE}}, false}, // path MTU discovery
		{&net.OpError{Op: "write", Err: &osSyscallError{syscall.EIO}}, false},      // quic-go's GSO fallback
		{net.ErrClosed, false},
	} {
		t.Run(tc.err.Error(), func(t *testing.T) {
			if got := edgeclient.PacketLost(tc.err); got != tc.lost {
				t.Fatalf("PacketLost(%v) = %v, want %v", tc.err, got, tc.lost)
			}
		})
	}
}

type osSyscallError struct{ errno syscall.Errno }

func (e *osSyscallError) Error() string { return "sendmsg: " + e.errno.Error() }
func (e *osSyscallError) Unwrap() error { return e.errno }
