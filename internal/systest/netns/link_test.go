package netns_test

import (
	"fmt"
	"net"
	"sync/atomic"
	"testing"
	"time"

	"github.com/airlockhq/airlock/internal/systest/netns"
	"github.com/airlockhq/airlock/internal/testenv"
)

// TestLinkDelaysAndDrops: UDP datagrams echoed across a Link with 10 ms
// each way and 20 % loss each way, in batches small enough for the
// sockets' buffers. Every datagram is accounted for at the router
// (passed, lost or overflowed), every one it passed arrives, about a fifth
// are lost each way, and every echo took at least the two delays.
func TestLinkDelaysAndDrops(t *testing.T) {
	const (
		batches, batch = 10, 100
		delay          = 10 * time.Millisecond
		loss           = 0.2
	)
	l := netns.NewLink(t, "al-lk", netns.Conditions{Delay: delay, Loss: loss}, 1)
	ctx := testenv.Context(t)
	var srv, cli *net.UDPConn
	if err := l.Server.Do(func() (err error) {
		srv, err = net.ListenUDP("udp", &net.UDPAddr{IP: net.ParseIP(l.ServerIP)})
		return err
	}); err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	if err := l.Client.Do(func() (err error) {
		cli, err = net.DialUDP("udp", nil, srv.LocalAddr().(*net.UDPAddr))
		return err
	}); err != nil {
		t.Fatal(err)
	}
	defer cli.Close()
	var served atomic.Uint64
	go func() {
		buf := make([]byte, 64)
		for {
			k, from, err := srv.ReadFromUDP(buf)
			if err != nil {
				return
			}
			served.Add(1)
			srv.WriteToUDP(buf[:k], from)
		}
	}()

	// settled waits until the router has dealt with want packets one way.
	settled := func(what string, dir func() netns.Counts, want func() uint64) netns.Counts {
		t.Helper()
		var c netns.Counts
		if err := testenv.Poll(ctx, 2*time.Millisecond, func() error {
			c = dir()
			got, w := c.Passed+c.Lost+c.Overflow, want()
			if got > w {
				return testenv.Stop(fmt.Errorf("router saw %d %s, want %d", got, what, w))
			}
			if got < w {
				return fmt.Errorf("router saw %d of %d %s", got, w, what)
			}
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		return c
	}
	toServer := func() netns.Counts { c, _ := l.Stats(); return c }
	toClient := func() netns.Counts { _, c := l.Stats(); return c }

	sentAt := make([]time.Time, batches*batch)
	var toSrv, toCli netns.Counts
	echoes := uint64(0)
	buf := make([]byte, 64)
	for b := range batches {
		for i := b * batch; i < (b+1)*batch; i++ {
			sentAt[i] = time.Now()
			if _, err := cli.Write(fmt.Appendf(nil, "%d", i)); err != nil {
				t.Fatal(err)
			}
		}
		sent := uint64((b + 1) * batch)
		toSrv = settled("datagrams toward the server", toServer, func() uint64 { return sent })
		testenv.Eventually(t, "the server has every datagram the router passed", func() bool { return served.Load() == toSrv.Passed })
		toCli = settled("echoes toward the client", toClient, func() uint64 { return toSrv.Passed })
		for echoes < toCli.Passed {
			cli.SetReadDeadline(time.Now().Add(time.Minute)) // a bound on a lost echo, not a timing claim
			n, err := cli.Read(buf)
			if err != nil {
				t.Fatalf("echo %d of %d: %v", echoes+1, toCli.Passed, err)
			}
			var i int
			if _, err := fmt.Sscanf(string(buf[:n]), "%d", &i); err != nil || i < 0 || i >= len(sentAt) {
				t.Fatalf("echo %q", buf[:n])
			}
			if rtt := time.Since(sentAt[i]); rtt < 2*delay {
				t.Fatalf("datagram %d echoed after %v, less than the link's two delays (%v)", i, rtt, 2*delay)
			}
			echoes++
		}
	}
	for _, d := range []struct {
		name string
		c    netns.Counts
		of   uint64
	}{{"toward the server", toSrv, batches * batch}, {"toward the client", toCli, toSrv.Passed}} {
		if d.c.Overflow != 0 {
			t.Errorf("%s: %d overflowed", d.name, d.c.Overflow)
		}
		if frac := float64(d.c.Lost) / float64(d.of); frac < loss/2 || frac > loss*1.5 {
			t.Errorf("%s: %d of %d lost (%.2f), want about %.2f", d.name, d.c.Lost, d.of, frac, loss)
		}
	}
	t.Logf("toward the server %+v, toward the client %+v, echoes %d", toSrv, toCli, echoes)
}
