package edgeclient

import (
	"net"
	"time"

	"github.com/airlockhq/airlock/internal/relay"
	"github.com/airlockhq/airlock/internal/transport"
	"github.com/airlockhq/airlock/internal/wire"
)

// StreamConn is a stream (QUIC or TCP) as a net.Conn, so that SOCKS servers, TLS and
// io.Copy can use it. Its addresses are *net.TCPAddr (SOCKS5 replies need
// one), CloseWrite sends FIN, Close closes both directions and Abort resets
// both with a code.
type StreamConn struct {
	s      transport.Stream
	local  *net.TCPAddr
	remote *net.TCPAddr
}

func newStreamConn(qc transport.Conn, s transport.Stream) *StreamConn {
	return &StreamConn{s: s, local: tcpAddr(qc.LocalAddr()), remote: tcpAddr(qc.RemoteAddr())}
}

func tcpAddr(a net.Addr) *net.TCPAddr {
	switch a := a.(type) {
	case *net.UDPAddr:
		return &net.TCPAddr{IP: a.IP, Port: a.Port, Zone: a.Zone}
	case *net.TCPAddr:
		return a
	}
	return &net.TCPAddr{IP: net.IPv4zero}
}

func (c *StreamConn) Read(p []byte) (int, error)  { return c.s.Read(p) }
func (c *StreamConn) Write(p []byte) (int, error) { return c.s.Write(p) }

// CloseWrite ends our direction of the stream (FIN); reads go on.
func (c *StreamConn) CloseWrite() error { return c.s.Close() }

// Close ends both directions: FIN for ours, and we stop reading theirs.
func (c *StreamConn) Close() error {
	err := c.s.Close()
	c.s.CancelRead(wire.CodeOK)
	return err
}

// Abort resets both directions with code.
func (c *StreamConn) Abort(code wire.Code) {
	transport.Abort(c.s, code)
}

func (c *StreamConn) LocalAddr() net.Addr                { return c.local }
func (c *StreamConn) RemoteAddr() net.Addr               { return c.remote }
func (c *StreamConn) SetDeadline(t time.Time) error      { return c.s.SetDeadline(t) }
func (c *StreamConn) SetReadDeadline(t time.Time) error  { return c.s.SetReadDeadline(t) }
func (c *StreamConn) SetWriteDeadline(t time.Time) error { return c.s.SetWriteDeadline(t) }

var (
	_ net.Conn         = (*StreamConn)(nil)
	_ relay.HalfCloser = (*StreamConn)(nil)
	_ relay.Aborter    = (*StreamConn)(nil)
)
