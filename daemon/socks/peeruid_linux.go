//go:build linux

package socks

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"net/netip"

	"golang.org/x/sys/unix"
)

// peerUID returns the uid that owns the client end of c, a loopback TCP
// connection the listener accepted. SO_PEERCRED exists for unix sockets
// only; for TCP the kernel's socket table knows the owner, and
// NETLINK_SOCK_DIAG looks one socket up by its four-tuple (what `ss -p`
// does, one hash lookup, never a walk of /proc/net/tcp). The client's
// socket is the one whose source is c's remote end.
func peerUID(c net.Conn) (uint32, error) {
	local, ok1 := c.LocalAddr().(*net.TCPAddr)
	remote, ok2 := c.RemoteAddr().(*net.TCPAddr)
	if !ok1 || !ok2 {
		return 0, fmt.Errorf("peer uid: not a TCP connection (%T)", c)
	}
	src, dst := remote.AddrPort(), local.AddrPort()
	uid, err := sockDiagUID(src, dst, src.Addr().Unmap().Is4())
	if errors.Is(err, unix.ENOENT) && src.Addr().Is4In6() {
		uid, err = sockDiagUID(src, dst, false) // an IPv6 socket with a mapped address
	}
	if err != nil {
		return 0, fmt.Errorf("peer uid of %s: %w", src, err)
	}
	return uid, nil
}

// Sizes of the kernel's structs (linux/netlink.h, linux/inet_diag.h).
const (
	sizeofNlMsghdr   = 16
	sizeofDiagReqV2  = 56 // inet_diag_req_v2
	sizeofDiagMsg    = 72 // inet_diag_msg
	diagMsgUIDOffset = 64 // idiag_uid in inet_diag_msg
)

// sockDiagUID asks the kernel for the TCP socket from src to dst (as IPv4
// or IPv6) and returns its idiag_uid.
func sockDiagUID(src, dst netip.AddrPort, v4 bool) (uint32, error) {
	fd, err := unix.Socket(unix.AF_NETLINK, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, unix.NETLINK_SOCK_DIAG)
	if err != nil {
		return 0, fmt.Errorf("netlink socket: %w", err)
	}
	defer unix.Close(fd)
	// The kernel answers at once; the timeout only keeps a lookup from
	// ever holding the accept loop.
	if err := unix.SetsockoptTimeval(fd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &unix.Timeval{Sec: 1}); err != nil {
		return 0, fmt.Errorf("netlink socket: %w", err)
	}
	req := make([]byte, sizeofNlMsghdr+sizeofDiagReqV2)
	ne := binary.NativeEndian
	ne.PutUint32(req[0:], uint32(len(req)))
	ne.PutUint16(req[4:], unix.SOCK_DIAG_BY_FAMILY)
	ne.PutUint16(req[6:], unix.NLM_F_REQUEST)
	ne.PutUint32(req[8:], 1) // sequence number
	r := req[sizeofNlMsghdr:]
	r[0] = unix.AF_INET6
	if v4 {
		r[0] = unix.AF_INET
	}
	r[1] = unix.IPPROTO_TCP
	ne.PutUint32(r[4:], ^uint32(0)) // any state
	// inet_diag_sockid: ports and addresses in network order.
	binary.BigEndian.PutUint16(r[8:], src.Port())
	binary.BigEndian.PutUint16(r[10:], dst.Port())
	putDiagAddr(r[12:28], src.Addr(), v4)
	putDiagAddr(r[28:44], dst.Addr(), v4)
	ne.PutUint32(r[48:], ^uint32(0)) // INET_DIAG_NOCOOKIE
	ne.PutUint32(r[52:], ^uint32(0))
	if err := unix.Sendto(fd, req, 0, &unix.SockaddrNetlink{Family: unix.AF_NETLINK}); err != nil {
		return 0, fmt.Errorf("netlink send: %w", err)
	}
	buf := make([]byte, 1024)
	n, _, err := unix.Recvfrom(fd, buf, 0)
	if err != nil {
		return 0, fmt.Errorf("netlink receive: %w", err)
	}
	return parseDiagAnswer(buf[:n])
}

func putDiagAddr(b []byte, a netip.Addr, v4 bool) {
	if v4 {
		a4 := a.Unmap().As4()
		copy(b, a4[:])
		return
	}
	a16 := a.As16()
	copy(b, a16[:])
}

// parseDiagAnswer reads the uid from the kernel's answer to one lookup:
// an inet_diag_msg, or an error message with the errno.
func parseDiagAnswer(b []byte) (uint32, error) {
	ne := binary.NativeEndian
	if len(b) < sizeofNlMsghdr {
		return 0, fmt.Errorf("netlink answer of %d bytes", len(b))
	}
	l, typ := ne.Uint32(b[0:]), ne.Uint16(b[4:])
	if int(l) > len(b) || l < sizeofNlMsghdr {
		return 0, fmt.Errorf("netlink answer length %d of %d bytes", l, len(b))
	}
	body := b[sizeofNlMsghdr:l]
	switch typ {
	case unix.NLMSG_ERROR:
		if len(body) < 4 {
			return 0, errors.New("short netlink error")
		}
		if errno := int32(ne.Uint32(body)); errno != 0 {
			return 0, unix.Errno(-errno)
		}
		return 0, errors.New("netlink acknowledged without an answer")
	case unix.SOCK_DIAG_BY_FAMILY:
		if len(body) < sizeofDiagMsg {
			return 0, fmt.Errorf("inet_diag_msg of %d bytes", len(body))
		}
		return ne.Uint32(body[diagMsgUIDOffset:]), nil
	}
	return 0, fmt.Errorf("netlink answer of type %d", typ)
}
