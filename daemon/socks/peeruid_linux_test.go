//go:build linux

package socks

import (
	"net"
	"os"
	"testing"
)

// TestPeerUID looks up the owner of a loopback client connection, over
// IPv4 and IPv6: this process's uid.
func TestPeerUID(t *testing.T) {
	for _, tc := range []struct{ name, network, addr string }{
		{"ipv4", "tcp4", "127.0.0.1:0"},
		{"ipv6", "tcp6", "[::1]:0"},
		{"ipv4 on a dual-stack listener", "tcp", "[::]:0"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ln, err := net.Listen(tc.network, tc.addr)
			if err != nil {
				t.Skipf("no %s loopback here: %v", tc.network, err)
			}
			defer ln.Close()
			dial := ln.Addr().String()
			if tc.network == "tcp" {
				dial = net.JoinHostPort("127.0.0.1", portOf(t, ln.Addr()))
			}
			c, err := net.Dial("tcp", dial)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			s, err := ln.Accept()
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			uid, err := peerUID(s)
			if err != nil {
				t.Fatal(err)
			}
			if int(uid) != os.Getuid() {
				t.Fatalf("peer uid %d, want %d", uid, os.Getuid())
			}
		})
	}
}

func portOf(t *testing.T, a net.Addr) string {
	t.Helper()
	_, p, err := net.SplitHostPort(a.String())
	if err != nil {
		t.Fatal(err)
	}
	return p
}
