package transport

import (
	"context"
	"net"

	"github.com/quic-go/quic-go"

	"github.com/airlockhq/airlock/internal/wire"
)

// QUIC returns qc as a Conn.
func QUIC(qc *quic.Conn) Conn { return quicConn{qc} }

// QUICOf returns the QUIC connection under c, nil for another transport
// (the daemon's migration needs quic-go's own).
func QUICOf(c Conn) *quic.Conn {
	if q, ok := c.(quicConn); ok {
		return q.qc
	}
	return nil
}

type quicConn struct{ qc *quic.Conn }

func (c quicConn) OpenStream(ctx context.Context) (Stream, error) {
	s, err := c.qc.OpenStreamSync(ctx)
	if err != nil {
		return nil, err
	}
	return quicStream{s}, nil
}

func (c quicConn) AcceptStream(ctx context.Context) (Stream, error) {
	s, err := c.qc.AcceptStream(ctx)
	if err != nil {
		return nil, err
	}
	return quicStream{s}, nil
}

func (c quicConn) CloseWithError(code wire.Code, msg string) error {
	return c.qc.CloseWithError(quic.ApplicationErrorCode(code), msg)
}

func (c quicConn) Context() context.Context { return c.qc.Context() }
func (c quicConn) LocalAddr() net.Addr      { return c.qc.LocalAddr() }
func (c quicConn) RemoteAddr() net.Addr     { return c.qc.RemoteAddr() }
func (c quicConn) Name() string             { return NameQUIC }

func (c quicConn) Stats() Stats {
	st := c.qc.ConnectionStats()
	return Stats{Received: st.PacketsReceived, SmoothedRTT: st.SmoothedRTT, MeanDeviation: st.MeanDeviation}
}

// quicStream maps codes to quic-go's stream error codes.
type quicStream struct{ *quic.Stream }

func (s quicStream) CancelRead(code wire.Code)  { s.Stream.CancelRead(quic.StreamErrorCode(code)) }
func (s quicStream) CancelWrite(code wire.Code) { s.Stream.CancelWrite(quic.StreamErrorCode(code)) }
