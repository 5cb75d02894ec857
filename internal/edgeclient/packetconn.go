package edgeclient

import (
	"errors"
	"net"
	"sync/atomic"
	"syscall"
)

// lossyConn is a connection's UDP socket as quic-go sees it: a send that the
// kernel refuses for that one packet is reported as sent, so that QUIC's loss
// recovery resends it, instead of failing the whole connection. quic-go
// v0.65's send queue ends the connection on any write error but EMSGSIZE
// (send_queue.go, Run), so one packet rejected by a local firewall (EPERM),
// a full device queue (ENOBUFS) or a route or address that has just gone
// away (ENETUNREACH, EADDRNOTAVAIL: the moment a laptop changes networks)
// would cut every stream. A link that rejects every packet still ends, by
// the idle timeout, and the network follower (migrate.go) meanwhile moves
// the connection to a path that works.
//
// It embeds the *net.UDPConn so that quic-go still finds the batch reads,
// ECN and GSO of an OOBCapablePacketConn. EMSGSIZE (path MTU discovery) and
// EIO (quic-go's GSO fallback) pass through.
type lossyConn struct {
	*net.UDPConn
	dropped *atomic.Uint64 // sends refused by the kernel, counted as lost
}

func (c lossyConn) WriteMsgUDP(b, oob []byte, addr *net.UDPAddr) (int, int, error) {
	n, oobn, err := c.UDPConn.WriteMsgUDP(b, oob, addr)
	if err != nil && packetLost(err) {
		c.dropped.Add(1)
		return len(b), len(oob), nil
	}
	return n, oobn, err
}

func (c lossyConn) WriteTo(b []byte, addr net.Addr) (int, error) {
	n, err := c.UDPConn.WriteTo(b, addr)
	if err != nil && packetLost(err) {
		c.dropped.Add(1)
		return len(b), nil
	}
	return n, err
}

// packetLost reports whether a send error concerns that one packet (or the
// path of the moment) rather than the socket.
func packetLost(err error) bool {
	var errno syscall.Errno
	if !errors.As(err, &errno) {
		return false
	}
	switch errno {
	case syscall.EPERM, syscall.EACCES, syscall.ENOBUFS, syscall.ENOMEM,
		syscall.ENETUNREACH, syscall.EHOSTUNREACH, syscall.ENETDOWN,
		syscall.EADDRNOTAVAIL, syscall.EINVAL:
		return true
	}
	return false
}
