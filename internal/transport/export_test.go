package transport

import "github.com/airlockhq/airlock/internal/wire"

// KillTCP closes a TCP connection's socket without a CLOSE frame, as a
// crashed peer or a cut path would.
func KillTCP(c Conn) { c.(*tcpConn).raw.Conn.Close() }

// ReadFrame is readFrame for the fuzz target.
var ReadFrame = func(r interface{ Read([]byte) (int, error) }) (byte, error) {
	f, err := readFrame(r)
	return f.typ, err
}

// AppendFrame encodes a frame for tests.
func AppendFrame(b []byte, typ byte, n uint32, code uint16, msg string) []byte {
	return appendFrame(b, frame{typ: typ, n: n, code: wire.Code(code), msg: msg})
}

// ReceivedBytes is what a TCP connection has read from its socket.
func ReceivedBytes(c Conn) int64 { return c.(*tcpConn).raw.bytes.Load() }

// Limits are a TCP connection's stream limit and window after defaults.
func Limits(o TCPOptions) (streams int, window uint32) {
	o.setDefaults()
	return o.MaxIncomingStreams, o.StreamWindow
}
