package edgeclient_test

import (
	"bufio"
	"context"
	"encoding/hex"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/airlockhq/airlock/edge/edgetest"
	"github.com/airlockhq/airlock/internal/edgeclient"
	"github.com/airlockhq/airlock/internal/testenv"
	"github.com/airlockhq/airlock/internal/wire"
)

// udpSockets returns the local address of every UDP socket this process
// holds, from /proc (Linux only): each open socket's inode matched against
// /proc/net/udp and udp6.
func udpSockets(tb testing.TB) []netip.AddrPort {
	tb.Helper()
	inodes := map[string]bool{}
	fds, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		tb.Fatal(err)
	}
	for _, fd := range fds {
		l, err := os.Readlink(filepath.Join("/proc/self/fd", fd.Name()))
		if err == nil && strings.HasPrefix(l, "socket:[") {
			inodes[strings.TrimSuffix(strings.TrimPrefix(l, "socket:["), "]")] = true
		}
	}
	var out []netip.AddrPort
	for _, table := range []string{"/proc/self/net/udp", "/proc/self/net/udp6"} {
		f, err := os.Open(table)
		if err != nil {
			continue // no IPv6
		}
		sc := bufio.NewScanner(f)
		sc.Scan() // header
		for sc.Scan() {
			fields := strings.Fields(sc.Text())
			if len(fields) < 10 || !inodes[fields[9]] {
				continue
			}
			ap, err := parseProcAddr(fields[1])
			if err != nil {
				tb.Fatalf("%s: %q: %v", table, fields[1], err)
			}
			out = append(out, ap)
		}
		f.Close()
	}
	return out
}

// parseProcAddr parses /proc/net/udp's "0100007F:1F90": the address as
// 32-bit words in host (little-endian) order, the port in hex.
func parseProcAddr(s string) (netip.AddrPort, error) {
	ipHex, portHex, _ := strings.Cut(s, ":")
	raw, err := hex.DecodeString(ipHex)
	if err != nil {
		return netip.AddrPort{}, err
	}
	for i := 0; i+4 <= len(raw); i += 4 {
		raw[i], raw[i+1], raw[i+2], raw[i+3] = raw[i+3], raw[i+2], raw[i+1], raw[i]
	}
	ip, _ := netip.AddrFromSlice(raw)
	port, err := strconv.ParseUint(portHex, 16, 16)
	if err != nil {
		return netip.AddrPort{}, err
	}
	return netip.AddrPortFrom(ip.Unmap(), uint16(port)), nil
}

func hasSocket(tb testing.TB, ap netip.AddrPort) bool {
	tb.Helper()
	for _, s := range udpSockets(tb) {
		if s == ap {
			return true
		}
	}
	return false
}

func addrPort(tb testing.TB, a net.Addr) netip.AddrPort {
	tb.Helper()
	ua, ok := a.(*net.UDPAddr)
	if !ok {
		tb.Fatalf("local address %v is a %T, not a *net.UDPAddr", a, a)
	}
	ap := ua.AddrPort()
	return netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port())
}

// TestSocketOnLoopback: with the edge on loopback, the connection's socket
// is bound to a loopback address (not 0.0.0.0), and no UDP socket of this
// process (the in-process edge's included) is off loopback.
func TestSocketOnLoopback(t *testing.T) {
	for _, tc := range []struct{ name, listen string }{
		{"127.0.0.1", "127.0.0.1:0"},
		{"other loopback address", "127.0.0.42:0"},
		{"localhost by name", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := edgetest.Start(t, edgetest.Options{Listen: tc.listen})
			addr := e.Addr
			if tc.listen == "" {
				_, port, _ := net.SplitHostPort(e.Addr)
				addr = net.JoinHostPort("localhost", port)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			c, err := edgeclient.Dial(ctx, edgeclient.Config{Addr: addr, ServerName: e.ServerName, RootCAs: e.RootCAs,
				Hello: wire.Hello{Role: wire.RoleClient}})
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close(wire.CodeOK, "")
			local := addrPort(t, c.LocalAddr())
			if !local.Addr().IsLoopback() || local.Port() == 0 {
				t.Fatalf("socket bound to %v, want a loopback address and a port", local)
			}
			if runtime.GOOS != "linux" {
				return
			}
			socks := udpSockets(t)
			found := false
			for _, s := range socks {
				if !s.Addr().IsLoopback() {
					t.Errorf("UDP socket on %v: off loopback", s)
				}
				found = found || s == local
			}
			if !found {
				t.Errorf("the connection's socket %v is not among this process's UDP sockets %v", local, socks)
			}
		})
	}
}

// TestSocketClosedWithConnection: the socket goes with its connection,
// whether we close it or the edge does.
func TestSocketClosedWithConnection(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("reads /proc")
	}
	e := edgetest.Start(t, edgetest.Options{})
	for _, tc := range []struct {
		name  string
		close func(c *edgeclient.Conn)
	}{
		{"closed here", func(c *edgeclient.Conn) { c.Close(wire.CodeOK, "bye") }},
		{"closed by the edge", func(*edgeclient.Conn) { e.Restart(t) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := e.DialClient(t)
			local := addrPort(t, c.LocalAddr())
			if !hasSocket(t, local) {
				t.Fatalf("no socket %v while connected", local)
			}
			tc.close(c)
			testenv.Eventually(t, "the socket to close", func() bool { return !hasSocket(t, local) })
		})
	}
}

// TestFailedDialLeavesNoSocket: a dial that fails releases its socket.
func TestFailedDialLeavesNoSocket(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("reads /proc")
	}
	before := len(udpSockets(t))
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	if _, err := edgeclient.Dial(ctx, edgeclient.Config{Addr: "127.0.0.1:9", ServerName: "localhost"}); err == nil {
		t.Fatal("dial to nothing succeeded")
	}
	testenv.Eventually(t, "the failed dial's socket to close", func() bool { return len(udpSockets(t)) <= before })
}
