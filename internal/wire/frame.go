package wire

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"unicode/utf8"
)

// ALPN is the TLS application protocol of every Airlock QUIC connection. The
// trailing number changes only with an incompatible framing.
const ALPN = "airlock/1"

// Version is the protocol version this package speaks, sent in [Hello] and
// [Welcome]. Versions add fields and frames; an edge answers a Hello whose
// version it does not speak with [CodeUnsupportedVersion].
const Version = 1

// MaxFrameSize is the largest payload of one frame. Headers are small; the
// limit bounds what a peer can make us buffer before it is authenticated.
const MaxFrameSize = 16 << 10

// Limits on single fields, checked when decoding.
const (
	MaxHostnameLen = 253
	MaxTokenLen    = 8 << 10
	MaxTextLen     = 1 << 10
)

// FrameType identifies a frame.
type FrameType uint8

// Frame types. Their numbers are part of the wire protocol.
const (
	FrameHello   FrameType = 1
	FrameWelcome FrameType = 2
	FrameDrain   FrameType = 3
	FrameKeys    FrameType = 4
	FrameOpen    FrameType = 5
	FrameDial    FrameType = 6
	FrameResult  FrameType = 7
	FramePing    FrameType = 8
	FrameMembers FrameType = 9
)

func (t FrameType) String() string {
	switch t {
	case FrameHello:
		return "hello"
	case FrameWelcome:
		return "welcome"
	case FrameDrain:
		return "drain"
	case FrameKeys:
		return "keys"
	case FrameOpen:
		return "open"
	case FrameDial:
		return "dial"
	case FrameResult:
		return "result"
	case FramePing:
		return "ping"
	case FrameMembers:
		return "members"
	}
	return fmt.Sprintf("frame type %d", uint8(t))
}

// Frame is a message that can travel in one frame.
type Frame interface {
	FrameType() FrameType
	appendFields(b []byte) []byte
	decodeField(tag uint8, v []byte) error
	validate() error
}

// ErrFrameTooLarge is returned when a frame's payload exceeds MaxFrameSize.
var ErrFrameTooLarge = errors.New("frame too large")

// AppendFrame appends the encoding of f to b.
func AppendFrame(b []byte, f Frame) ([]byte, error) {
	start := len(b)
	b = append(b, byte(f.FrameType()), 0, 0)
	b = f.appendFields(b)
	n := len(b) - start - 3
	if n > MaxFrameSize {
		return b[:start], fmt.Errorf("encode %s: %w (%d bytes, limit %d)", f.FrameType(), ErrFrameTooLarge, n, MaxFrameSize)
	}
	binary.BigEndian.PutUint16(b[start+1:], uint16(n))
	return b, nil
}

// WriteFrame writes f to w in one Write call.
func WriteFrame(w io.Writer, f Frame) error {
	b, err := AppendFrame(make([]byte, 0, 256), f)
	if err != nil {
		return err
	}
	_, err = w.Write(b)
	return err
}

// ReadFrame reads one frame of any type from r. Malformed input returns an
// *Error with CodeBadRequest that names the cause; I/O errors are returned
// as they are (io.EOF before the first byte, io.ErrUnexpectedEOF inside one).
func ReadFrame(r io.Reader) (Frame, error) {
	var hdr [3]byte
	if _, err := io.ReadFull(r, hdr[:]); err != nil {
		return nil, err
	}
	f := newFrame(FrameType(hdr[0]))
	if f == nil {
		return nil, Errorf(CodeBadRequest, "unknown %s", FrameType(hdr[0]))
	}
	n := int(binary.BigEndian.Uint16(hdr[1:]))
	if n > MaxFrameSize {
		return nil, Errorf(CodeBadRequest, "%s frame of %d bytes exceeds the limit of %d", f.FrameType(), n, MaxFrameSize)
	}
	var payload []byte
	if br, ok := r.(*bufio.Reader); ok && n <= br.Size() {
		p, err := br.Peek(n)
		if err != nil {
			return nil, unexpected(err)
		}
		payload = p
		defer br.Discard(n) //nolint:errcheck // Peek returned n bytes, Discard cannot fail
	} else {
		payload = make([]byte, n)
		if _, err := io.ReadFull(r, payload); err != nil {
			return nil, unexpected(err)
		}
	}
	if err := decodeFields(f, payload); err != nil {
		return nil, err
	}
	return f, nil
}

// DecodeFrame decodes one whole frame from b, which must hold exactly one.
func DecodeFrame(b []byte) (Frame, error) {
	if len(b) < 3 {
		return nil, Errorf(CodeBadRequest, "frame of %d bytes is shorter than its header", len(b))
	}
	if n := int(binary.BigEndian.Uint16(b[1:])); n != len(b)-3 {
		return nil, Errorf(CodeBadRequest, "frame says %d payload bytes but holds %d", n, len(b)-3)
	}
	f := newFrame(FrameType(b[0]))
	if f == nil {
		return nil, Errorf(CodeBadRequest, "unknown %s", FrameType(b[0]))
	}
	if err := decodeFields(f, b[3:]); err != nil {
		return nil, err
	}
	return f, nil
}

// ReadFrameOf reads one frame and checks that it is a T, e.g.
// ReadFrameOf[*Open](r).
func ReadFrameOf[T Frame](r io.Reader) (T, error) {
	var zero T
	f, err := ReadFrame(r)
	if err != nil {
		return zero, err
	}
	t, ok := f.(T)
	if !ok {
		return zero, Errorf(CodeBadRequest, "expected a %s frame, got %s", zero.FrameType(), f.FrameType())
	}
	return t, nil
}

func unexpected(err error) error {
	if errors.Is(err, io.EOF) {
		return io.ErrUnexpectedEOF
	}
	return err
}

func newFrame(t FrameType) Frame {
	switch t {
	case FrameHello:
		return new(Hello)
	case FrameWelcome:
		return new(Welcome)
	case FrameDrain:
		return new(Drain)
	case FrameKeys:
		return new(Keys)
	case FrameOpen:
		return new(Open)
	case FrameDial:
		return new(Dial)
	case FrameResult:
		return new(Result)
	case FramePing:
		return new(Ping)
	case FrameMembers:
		return new(Members)
	}
	return nil
}

func decodeFields(f Frame, p []byte) error {
	for len(p) > 0 {
		tag := p[0]
		l, n := binary.Uvarint(p[1:])
		if n <= 0 {
			return Errorf(CodeBadRequest, "%s frame: field %d has a bad length", f.FrameType(), tag)
		}
		p = p[1+n:]
		if l > uint64(len(p)) {
			return Errorf(CodeBadRequest, "%s frame: field %d says %d bytes but %d remain", f.FrameType(), tag, l, len(p))
		}
		if err := f.decodeField(tag, p[:l]); err != nil {
			return Errorf(CodeBadRequest, "%s frame: %v", f.FrameType(), err)
		}
		p = p[l:]
	}
	if err := f.validate(); err != nil {
		return Errorf(CodeBadRequest, "%s frame: %v", f.FrameType(), err)
	}
	return nil
}

// Field encoding helpers. Zero values are omitted.

func appendBytes(b []byte, tag uint8, v []byte) []byte {
	b = append(b, tag)
	b = binary.AppendUvarint(b, uint64(len(v)))
	return append(b, v...)
}

func appendString(b []byte, tag uint8, v string) []byte {
	if v == "" {
		return b
	}
	b = append(b, tag)
	b = binary.AppendUvarint(b, uint64(len(v)))
	return append(b, v...)
}

func appendUint(b []byte, tag uint8, v uint64) []byte {
	if v == 0 {
		return b
	}
	var tmp [binary.MaxVarintLen64]byte
	return appendBytes(b, tag, tmp[:binary.PutUvarint(tmp[:], v)])
}

func appendBool(b []byte, tag uint8, v bool) []byte {
	if !v {
		return b
	}
	return appendUint(b, tag, 1)
}

func decodeBool(v []byte, name string) (bool, error) {
	x, err := decodeUint(v, name, 1)
	return x == 1, err
}

func decodeString(v []byte, name string, limit int) (string, error) {
	if len(v) > limit {
		return "", fmt.Errorf("%s is %d bytes, limit %d", name, len(v), limit)
	}
	if !utf8.Valid(v) {
		return "", fmt.Errorf("%s is not valid UTF-8", name)
	}
	return string(v), nil
}

func decodeUint(v []byte, name string, limit uint64) (uint64, error) {
	x, n := binary.Uvarint(v)
	if n <= 0 || n != len(v) {
		return 0, fmt.Errorf("%s is not a valid uvarint", name)
	}
	if x > limit {
		return 0, fmt.Errorf("%s %d exceeds %d", name, x, limit)
	}
	return x, nil
}
