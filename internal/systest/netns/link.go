package netns

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// Conditions are what a Link does to every packet crossing it, in each
// direction alike: Delay is added one way (a round trip pays it twice), and
// Loss is the chance, 0 to 1, that a packet is dropped.
type Conditions struct {
	Delay time.Duration
	Loss  float64
}

func (c Conditions) String() string {
	return fmt.Sprintf("%v each way, %.3g%% loss each way", c.Delay, c.Loss*100)
}

// Counts are the packets that crossed a Link one way.
type Counts struct {
	Passed   uint64 // handed on after the delay
	Lost     uint64 // dropped by Conditions.Loss
	Overflow uint64 // dropped because the delay queue was full
}

// Link is a path between two namespaces, Client and Server, through a
// third, Router, that hands every packet between them to this process
// through a TUN device to be delayed and dropped: what sch_netem does, on
// kernels without it (and it applies to TCP and UDP alike, so a TCP tool
// and a QUIC one see the same link). Client has ClientIP on its link to
// Router and routes everything to Server's 10.214.0.0/16 through it; Server
// has ServerIP and routes back. The conditions may change while traffic
// flows (Set).
type Link struct {
	Client, Router, Server *NS
	ClientIP, ServerIP     string

	tun   *os.File
	cond  atomic.Pointer[Conditions]
	toSrv dirCounts
	toCli dirCounts
}

type dirCounts struct{ passed, lost, overflow atomic.Uint64 }

func (d *dirCounts) load() Counts {
	return Counts{Passed: d.passed.Load(), Lost: d.lost.Load(), Overflow: d.overflow.Load()}
}

// queueLen bounds each direction's delay queue, in packets: 16,384 MTU
// packets are 24 MiB, more than 100 MB/s for 100 ms.
const queueLen = 16384

// NewLink makes the three namespaces (prefix-c, -r, -s plus random
// suffixes), the veth pairs and routes between them and the TUN device in
// Router, and starts relaying with c; everything stops and is removed at
// cleanup. seed makes the drops repeatable.
func NewLink(tb testing.TB, prefix string, c Conditions, seed uint64) *Link {
	tb.Helper()
	l := &Link{
		Client: New(tb, prefix+"-c"), Router: New(tb, prefix+"-r"), Server: New(tb, prefix+"-s"),
		ClientIP: "10.214.1.1", ServerIP: "10.214.2.1",
	}
	l.cond.Store(&c)
	Veth(tb, l.Client, "c0", l.Router, "r0")
	Veth(tb, l.Router, "r1", l.Server, "s0")
	l.Client.IP(tb, "addr", "add", l.ClientIP+"/24", "dev", "c0")
	l.Client.IP(tb, "route", "add", "10.214.0.0/16", "via", "10.214.1.2")
	l.Server.IP(tb, "addr", "add", l.ServerIP+"/24", "dev", "s0")
	l.Server.IP(tb, "route", "add", "10.214.0.0/16", "via", "10.214.2.2")
	l.Router.IP(tb, "addr", "add", "10.214.1.2/24", "dev", "r0")
	l.Router.IP(tb, "addr", "add", "10.214.2.2/24", "dev", "r1")

	if err := l.Router.Do(func() (err error) { l.tun, err = openTUN("imp0"); return err }); err != nil {
		tb.Fatalf("netns: a TUN device in %s: %v", l.Router.Name, err)
	}
	l.Router.IP(tb, "link", "set", "imp0", "up")
	// What arrives from either veth goes to the TUN device (table 100);
	// what this process writes back arrives from the TUN device and is
	// routed on by the main table. rp_filter would drop the latter: its
	// source is not behind imp0.
	l.Router.IP(tb, "route", "add", "default", "dev", "imp0", "table", "100")
	l.Router.IP(tb, "rule", "add", "iif", "r0", "lookup", "100", "pref", "100")
	l.Router.IP(tb, "rule", "add", "iif", "r1", "lookup", "100", "pref", "101")
	sysctl(tb, l.Router, "net.ipv4.ip_forward=1", "net.ipv4.conf.all.rp_filter=0",
		"net.ipv4.conf.default.rp_filter=0", "net.ipv4.conf.imp0.rp_filter=0",
		"net.ipv4.conf.r0.rp_filter=0", "net.ipv4.conf.r1.rp_filter=0",
		"net.ipv4.conf.all.send_redirects=0", "net.ipv6.conf.imp0.disable_ipv6=1")

	var wg sync.WaitGroup
	done := make(chan struct{})
	toSrv, toCli := make(chan packet, queueLen), make(chan packet, queueLen)
	wg.Go(func() { l.read(seed, toSrv, toCli) })
	wg.Go(func() { l.write(done, toSrv, &l.toSrv) })
	wg.Go(func() { l.write(done, toCli, &l.toCli) })
	tb.Cleanup(func() {
		close(done)
		l.tun.Close()
		wg.Wait()
	})
	return l
}

// Set changes the conditions for the packets that arrive from now on.
func (l *Link) Set(c Conditions) { l.cond.Store(&c) }

// Stats returns the packets so far toward Server and toward Client.
func (l *Link) Stats() (toServer, toClient Counts) { return l.toSrv.load(), l.toCli.load() }

type packet struct {
	due time.Time
	b   []byte
}

// read takes each packet off the TUN device, drops it with the loss
// chance or queues it for its direction. It ends when the device closes,
// and closes both queues.
func (l *Link) read(seed uint64, toSrv, toCli chan<- packet) {
	defer close(toSrv)
	defer close(toCli)
	rng := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	buf := make([]byte, 64<<10)
	for {
		n, err := l.tun.Read(buf)
		if err != nil {
			return
		}
		// Only IPv4 between the two ends is relayed: what else comes out
		// of the TUN device is the kernel's own (IPv6 on the device).
		if n < 20 || buf[0]>>4 != 4 || buf[16] != 10 || buf[17] != 214 {
			continue
		}
		q, counts := toSrv, &l.toSrv
		if buf[18] == 1 { // Client's /24
			q, counts = toCli, &l.toCli
		}
		c := l.cond.Load()
		if c.Loss > 0 && rng.Float64() < c.Loss {
			counts.lost.Add(1)
			continue
		}
		p := packet{due: time.Now().Add(c.Delay), b: append([]byte(nil), buf[:n]...)}
		select {
		case q <- p:
		default:
			counts.overflow.Add(1)
		}
	}
}

// write hands each queued packet back to the kernel once it is due, in
// the order they came.
func (l *Link) write(done <-chan struct{}, q <-chan packet, counts *dirCounts) {
	t := time.NewTimer(time.Hour)
	defer t.Stop()
	for p := range q {
		if d := time.Until(p.due); d > 0 {
			t.Reset(d)
			select {
			case <-t.C:
			case <-done:
				return
			}
		}
		if _, err := l.tun.Write(p.b); err != nil {
			if errors.Is(err, os.ErrClosed) {
				return
			}
			continue // a packet the kernel refuses (no route yet) is lost, as on a wire
		}
		counts.passed.Add(1)
	}
}

// openTUN makes a TUN device (IP packets, no extra header) in the calling
// thread's namespace and returns it as a pollable file, so that Close ends
// a blocked Read.
func openTUN(name string) (*os.File, error) {
	fd, err := unix.Open("/dev/net/tun", unix.O_RDWR|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("open /dev/net/tun: %w", err)
	}
	ifr, err := unix.NewIfreq(name)
	if err != nil {
		unix.Close(fd)
		return nil, err
	}
	ifr.SetUint16(unix.IFF_TUN | unix.IFF_NO_PI)
	if err := unix.IoctlIfreq(fd, unix.TUNSETIFF, ifr); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("TUNSETIFF %s: %w", name, err)
	}
	if err := unix.SetNonblock(fd, true); err != nil {
		unix.Close(fd)
		return nil, err
	}
	return os.NewFile(uintptr(fd), "/dev/net/tun:"+name), nil
}

// sysctl sets kernel settings in the namespace.
func sysctl(tb testing.TB, n *NS, settings ...string) {
	tb.Helper()
	args := append([]string{"netns", "exec", n.Name, "sysctl", "-q", "-w"}, settings...)
	run(tb, n.ip, args...)
}
