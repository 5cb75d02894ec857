package transport

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"

	"github.com/airlockhq/airlock/internal/wire"
)

// The frames of the TCP transport. Each yamux stream carries stream frames
// (DATA, FIN, RESET); the first stream each side opens, the session stream,
// carries session frames (LIMIT, CLOSE, STOP). Their numbers are part of the
// protocol (ALPN [ALPNTCP]).
const (
	frameData  byte = 1 // u16 length (1..maxData), then that many bytes
	frameFin   byte = 2 // our direction ends cleanly
	frameReset byte = 3 // u16 code: our direction ends with a reset
	frameLimit byte = 16
	frameClose byte = 17 // u16 code, u16 length (≤ wire.MaxTextLen), message
	frameStop  byte = 18 // u32 stream id, u16 code: stop writing that stream (QUIC's STOP_SENDING)
)

// ALPNTCP is the TLS application protocol of the TCP transport: the
// stream protocol of package wire over yamux and these frames.
const ALPNTCP = wire.ALPN + "+tcp"

// maxData is the largest DATA payload; a larger write is split.
const maxData = 32 << 10

// frame is a decoded frame header (a DATA frame's payload stays in the
// reader).
type frame struct {
	typ  byte
	n    uint32    // DATA: payload length; LIMIT: the stream limit; STOP: the stream id
	code wire.Code // RESET, CLOSE
	msg  string    // CLOSE
}

// errBadFrame is a frame no peer of ours sends.
var errBadFrame = errors.New("transport: malformed frame")

// readFrame reads one frame header (and a CLOSE frame's message) from r.
// Every field is bounded: a DATA length by maxData, a message by
// wire.MaxTextLen.
func readFrame(r io.Reader) (frame, error) {
	var b [4]byte
	if _, err := io.ReadFull(r, b[:1]); err != nil {
		return frame{}, err
	}
	f := frame{typ: b[0]}
	switch f.typ {
	case frameFin:
		return f, nil
	case frameData, frameReset:
		if _, err := io.ReadFull(r, b[:2]); err != nil {
			return f, unexpected(err)
		}
		v := binary.BigEndian.Uint16(b[:2])
		if f.typ == frameReset {
			f.code = wire.Code(v)
			return f, nil
		}
		if v == 0 || v > maxData {
			return f, fmt.Errorf("%w: DATA of %d bytes (1 to %d)", errBadFrame, v, maxData)
		}
		f.n = uint32(v)
		return f, nil
	case frameLimit:
		if _, err := io.ReadFull(r, b[:4]); err != nil {
			return f, unexpected(err)
		}
		f.n = binary.BigEndian.Uint32(b[:4])
		return f, nil
	case frameStop:
		var s [6]byte
		if _, err := io.ReadFull(r, s[:]); err != nil {
			return f, unexpected(err)
		}
		f.n = binary.BigEndian.Uint32(s[:4])
		f.code = wire.Code(binary.BigEndian.Uint16(s[4:]))
		return f, nil
	case frameClose:
		if _, err := io.ReadFull(r, b[:4]); err != nil {
			return f, unexpected(err)
		}
		f.code = wire.Code(binary.BigEndian.Uint16(b[:2]))
		n := binary.BigEndian.Uint16(b[2:4])
		if n > wire.MaxTextLen {
			return f, fmt.Errorf("%w: CLOSE message of %d bytes (at most %d)", errBadFrame, n, wire.MaxTextLen)
		}
		msg := make([]byte, n)
		if _, err := io.ReadFull(r, msg); err != nil {
			return f, unexpected(err)
		}
		f.msg = string(msg)
		return f, nil
	}
	return f, fmt.Errorf("%w: unknown type %d", errBadFrame, f.typ)
}

func unexpected(err error) error {
	if errors.Is(err, io.EOF) {
		return io.ErrUnexpectedEOF
	}
	return err
}

// appendFrame appends the header of f (and a CLOSE frame's message) to b.
func appendFrame(b []byte, f frame) []byte {
	b = append(b, f.typ)
	switch f.typ {
	case frameData:
		b = binary.BigEndian.AppendUint16(b, uint16(f.n))
	case frameReset:
		b = binary.BigEndian.AppendUint16(b, uint16(f.code))
	case frameLimit:
		b = binary.BigEndian.AppendUint32(b, f.n)
	case frameStop:
		b = binary.BigEndian.AppendUint32(b, f.n)
		b = binary.BigEndian.AppendUint16(b, uint16(f.code))
	case frameClose:
		msg := wire.TruncateText(f.msg)
		b = binary.BigEndian.AppendUint16(b, uint16(f.code))
		b = binary.BigEndian.AppendUint16(b, uint16(len(msg)))
		b = append(b, msg...)
	}
	return b
}
