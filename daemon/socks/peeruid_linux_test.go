//go:build linux

package socks

import (
	"encoding/binary"
	"errors"
	"net"
	"os"
	"testing"

	"golang.org/x/sys/unix"
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

// TestParseDiagAnswer reads the kernel's answers: a socket's uid, an
// errno, and answers too short to hold what they claim.
func TestParseDiagAnswer(t *testing.T) {
	msg := func(typ uint16, body []byte) []byte {
		b := make([]byte, sizeofNlMsghdr, sizeofNlMsghdr+len(body))
		binary.NativeEndian.PutUint32(b[0:], uint32(sizeofNlMsghdr+len(body)))
		binary.NativeEndian.PutUint16(b[4:], typ)
		return append(b, body...)
	}
	diag := make([]byte, sizeofDiagMsg)
	binary.NativeEndian.PutUint32(diag[diagMsgUIDOffset:], 65534)
	errno := make([]byte, 20)
	neg := -int32(unix.ENOENT)
	binary.NativeEndian.PutUint32(errno, uint32(neg))
	for _, tc := range []struct {
		name    string
		b       []byte
		uid     uint32
		wantErr error // nil: any error; with ok, none
		ok      bool
	}{
		{"a socket", msg(unix.SOCK_DIAG_BY_FAMILY, diag), 65534, nil, true},
		{"no such socket", msg(unix.NLMSG_ERROR, errno), 0, unix.ENOENT, false},
		{"short header", []byte{1, 2, 3}, 0, nil, false},
		{"short diag message", msg(unix.SOCK_DIAG_BY_FAMILY, diag[:10]), 0, nil, false},
		{"length past the end", msg(unix.SOCK_DIAG_BY_FAMILY, diag)[:40], 0, nil, false},
		{"another type", msg(99, diag), 0, nil, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			uid, err := parseDiagAnswer(tc.b)
			switch {
			case tc.ok && (err != nil || uid != tc.uid):
				t.Fatalf("uid %d, %v; want %d", uid, err, tc.uid)
			case !tc.ok && err == nil:
				t.Fatalf("uid %d accepted, want an error", uid)
			case tc.wantErr != nil && !errors.Is(err, tc.wantErr):
				t.Fatalf("%v, want %v", err, tc.wantErr)
			}
		})
	}
}
