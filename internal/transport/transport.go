package transport

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"time"

	"github.com/airlockhq/airlock/internal/wire"
)

// Names of the transports, as `airlock status` shows them.
const (
	NameQUIC = "QUIC"
	NameTCP  = "TCP"
)

// Conn is a connection to a peer that carries streams.
type Conn interface {
	// OpenStream opens a stream, waiting while the peer allows no more.
	OpenStream(ctx context.Context) (Stream, error)
	// AcceptStream waits for a stream the peer opens.
	AcceptStream(ctx context.Context) (Stream, error)
	// CloseWithError closes the connection; the peer reads code and msg.
	CloseWithError(code wire.Code, msg string) error
	// Context ends when the connection closes; its cause says why.
	Context() context.Context
	LocalAddr() net.Addr
	RemoteAddr() net.Addr
	// Stats are counters of the connection, cheap to read.
	Stats() Stats
	// Name is NameQUIC or NameTCP.
	Name() string
}

// Stats describe a connection.
type Stats struct {
	// Received counts what arrived from the peer: QUIC packets, or reads
	// of the TCP socket that returned bytes. It grows while the peer is
	// heard.
	Received uint64
	// SmoothedRTT and MeanDeviation estimate the round trip (QUIC's from
	// its acknowledgements, TCP's from the multiplexer's pings).
	SmoothedRTT   time.Duration
	MeanDeviation time.Duration
	// Streams counts the streams open now, both ways, on TCP (0 on QUIC,
	// which does not say).
	Streams int
}

// Stream is one bidirectional stream.
type Stream interface {
	io.Reader
	io.Writer
	// Close ends our direction cleanly (FIN); reads go on.
	Close() error
	// CancelRead stops reading: the peer's direction ends here, reads fail.
	CancelRead(code wire.Code)
	// CancelWrite resets our direction with code: the peer's reads fail
	// with a *StreamError (or quic-go's) carrying it.
	CancelWrite(code wire.Code)
	SetDeadline(t time.Time) error
	SetReadDeadline(t time.Time) error
	SetWriteDeadline(t time.Time) error
}

// Abort resets both directions of s with code.
func Abort(s Stream, code wire.Code) {
	s.CancelWrite(code)
	s.CancelRead(code)
}

// StreamError is a stream reset on the TCP transport: by the peer
// (Remote) with its code, or here.
type StreamError struct {
	Code   wire.Code
	Remote bool
}

func (e *StreamError) Error() string {
	who := "local"
	if e.Remote {
		who = "remote"
	}
	return fmt.Sprintf("stream reset (%s): %s", who, e.Code)
}

// ApplicationError is a connection closed with a code on the TCP
// transport: by the peer (Remote), or here.
type ApplicationError struct {
	Code    wire.Code
	Message string
	Remote  bool
}

func (e *ApplicationError) Error() string {
	who := "local"
	if e.Remote {
		who = "remote"
	}
	return fmt.Sprintf("connection closed (%s): %s: %s", who, e.Code, e.Message)
}

// ErrIdle closes a TCP connection that heard nothing for its idle timeout.
var ErrIdle = errors.New("transport: no recent network activity")

// ErrCut is a stream whose TCP stream ended without a FIN or RESET frame:
// its peer or the connection went away mid-stream. It reads as a reset
// (CodeInternal), never as a clean end.
var ErrCut = errors.New("transport: stream cut")
