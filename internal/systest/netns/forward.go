package netns

import (
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"runtime"
	"sync"
	"testing"

	"golang.org/x/sys/unix"
)

// Do runs f on an OS thread that is in the namespace, so the sockets f
// makes (net.Listen, net.ListenPacket, net.Dial) belong to it and keep
// belonging to it after f returns. f must not start goroutines that make
// sockets: they run on other threads.
func (n *NS) Do(f func() error) error {
	errc := make(chan error, 1)
	go func() { // a goroutine of its own: a thread left in the namespace ends with it
		runtime.LockOSThread()
		orig, err := os.Open("/proc/thread-self/ns/net")
		if err != nil {
			errc <- fmt.Errorf("netns: this thread's namespace: %w", err)
			return
		}
		defer orig.Close()
		target, err := os.Open("/run/netns/" + n.Name)
		if err != nil {
			errc <- fmt.Errorf("netns: %w", err)
			return
		}
		defer target.Close()
		if err := unix.Setns(int(target.Fd()), unix.CLONE_NEWNET); err != nil {
			errc <- fmt.Errorf("netns: enter %s: %w", n.Name, err)
			return
		}
		ferr := f()
		if err := unix.Setns(int(orig.Fd()), unix.CLONE_NEWNET); err != nil {
			errc <- errors.Join(ferr, fmt.Errorf("netns: leave %s: %w", n.Name, err)) // the thread stays locked and ends with this goroutine
			return
		}
		runtime.UnlockOSThread()
		errc <- ferr
	}()
	return <-errc
}

// Forward relays UDP and TCP sent to listen (host:port, an address inside
// the namespace) to the same protocol at to, an address of the test's own
// namespace: a way for a program in the namespace to reach one on the
// test machine's loopback without an address outside the namespaces. UDP
// gets one upstream socket per client address. It all stops at cleanup.
func (n *NS) Forward(tb testing.TB, listen, to string) {
	tb.Helper()
	var (
		pc  net.PacketConn
		lis net.Listener
	)
	if err := n.Do(func() (err error) {
		if pc, err = net.ListenPacket("udp", listen); err != nil {
			return err
		}
		if err = roomyBuffers(pc.(*net.UDPConn)); err != nil {
			pc.Close()
			return err
		}
		lis, err = net.Listen("tcp", listen)
		return err
	}); err != nil {
		if pc != nil {
			pc.Close()
		}
		tb.Fatal(err)
	}
	udpTo, err := net.ResolveUDPAddr("udp", to)
	if err != nil {
		tb.Fatal(err)
	}
	var (
		wg    sync.WaitGroup
		mu    sync.Mutex
		socks = map[string]io.Closer{}
	)
	track := func(k string, c io.Closer) {
		mu.Lock()
		defer mu.Unlock()
		socks[k] = c
	}
	tb.Cleanup(func() {
		pc.Close()
		lis.Close()
		mu.Lock()
		for _, c := range socks {
			c.Close()
		}
		mu.Unlock()
		wg.Wait()
	})
	wg.Go(func() { forwardUDP(tb, pc, udpTo, &wg, &mu, socks) })
	wg.Go(func() {
		for i := 0; ; i++ {
			c, err := lis.Accept()
			if err != nil {
				return
			}
			up, err := net.Dial("tcp", to)
			if err != nil {
				c.Close()
				continue
			}
			track(fmt.Sprint("tcp-in-", i), c)
			track(fmt.Sprint("tcp-up-", i), up)
			for _, dir := range [][2]net.Conn{{up, c}, {c, up}} {
				wg.Go(func() {
					io.Copy(dir[0], dir[1])
					if cw, ok := dir[0].(interface{ CloseWrite() error }); ok {
						cw.CloseWrite()
					}
				})
			}
		}
	})
}

// forwardBuffer is each UDP socket's receive and send buffer in Forward:
// with the kernel's default (208 KiB) the relay dropped about a quarter of
// a QUIC download's packets at 30 MB/s (RcvbufErrors in /proc/net/snmp),
// a loss the TCP relay beside it, copying a byte stream, never has; a
// link's conditions must be the only loss a test sees.
const forwardBuffer = 8 << 20

// roomyBuffers gives c forwardBuffer each way, past net.core.rmem_max and
// wmem_max (SO_RCVBUFFORCE needs CAP_NET_ADMIN, which namespaces need too).
func roomyBuffers(c *net.UDPConn) error {
	raw, err := c.SyscallConn()
	if err != nil {
		return err
	}
	var serr error
	if err := raw.Control(func(fd uintptr) {
		serr = errors.Join(
			unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_RCVBUFFORCE, forwardBuffer),
			unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_SNDBUFFORCE, forwardBuffer))
	}); err != nil {
		return err
	}
	if serr != nil {
		return fmt.Errorf("netns: UDP relay buffers of %d bytes: %w", forwardBuffer, serr)
	}
	return nil
}

// forwardUDP relays datagrams from pc's clients to to and back, one
// upstream socket per client address (in socks, under mu). A client whose
// upstream socket cannot be made fails tb (once), since the relay then
// drops all its datagrams: a QUIC test would pass over TCP.
func forwardUDP(tb testing.TB, pc net.PacketConn, to *net.UDPAddr, wg *sync.WaitGroup, mu *sync.Mutex, socks map[string]io.Closer) {
	buf := make([]byte, 64<<10)
	up := map[string]*net.UDPConn{}
	failed := map[string]bool{}
	fail := func(from net.Addr, err error) {
		if !failed[from.String()] {
			failed[from.String()] = true
			tb.Errorf("netns: UDP relay: an upstream socket for %v: %v", from, err)
		}
	}
	for {
		n, from, err := pc.ReadFrom(buf)
		if err != nil {
			return
		}
		u := up[from.String()]
		if u == nil {
			if u, err = net.DialUDP("udp", nil, to); err != nil {
				fail(from, err)
				continue
			}
			if err := roomyBuffers(u); err != nil {
				u.Close()
				fail(from, err)
				continue
			}
			up[from.String()] = u
			mu.Lock()
			socks["udp-"+from.String()] = u
			mu.Unlock()
			wg.Go(func() {
				b := make([]byte, 64<<10)
				for {
					n, err := u.Read(b)
					if err != nil {
						return
					}
					pc.WriteTo(b[:n], from)
				}
			})
		}
		u.Write(buf[:n])
	}
}
