package transport

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/yamux"

	"github.com/airlockhq/airlock/internal/wire"
)

// resetWait bounds how long CancelWrite waits to send its RESET frame
// (the peer's window may be full); without it the stream just ends, which
// the peer reads as cut: a reset all the same.
const resetWait = 250 * time.Millisecond

// errWriteClosed is a Write after Close.
var errWriteClosed = errors.New("transport: write on a closed stream")

// tcpStream is a yamux stream carrying DATA, FIN and RESET frames.
type tcpStream struct {
	s    *yamux.Stream
	conn *tcpConn
	done func() // gives the stream's slot back, once both directions ended

	rmu       sync.Mutex
	hdr       [3]byte
	hdrN      int    // header bytes read so far
	remaining uint32 // payload bytes left of the current DATA frame
	rerr      error  // sticky: io.EOF after FIN, the reset, the cut
	rcancel   atomic.Pointer[StreamError]

	wmu     sync.Mutex
	werr    error // sticky: closed, reset, broken
	wcancel atomic.Pointer[StreamError]

	mu                sync.Mutex
	readEnd, writeEnd bool
	finished          bool
}

func newTCPStream(c *tcpConn, s *yamux.Stream, done func()) *tcpStream {
	return &tcpStream{s: s, conn: c, done: done}
}

func (s *tcpStream) Read(p []byte) (int, error) {
	s.rmu.Lock()
	defer s.rmu.Unlock()
	if e := s.rcancel.Load(); e != nil {
		return 0, e
	}
	if s.rerr != nil {
		return 0, s.rerr
	}
	if len(p) == 0 {
		return 0, nil
	}
	for s.remaining == 0 {
		if err := s.readHeader(); err != nil {
			return 0, err
		}
	}
	n, err := s.s.Read(p[:min(uint32(len(p)), s.remaining)])
	s.remaining -= uint32(n)
	if err != nil {
		err = s.readFailed(err)
		if n > 0 && !errors.Is(err, os.ErrDeadlineExceeded) {
			return n, nil // the error again on the next Read: it is sticky
		}
	}
	return n, err
}

// readHeader reads (the rest of) a frame header and acts on it; a header
// cut by a deadline is resumed on the next Read.
func (s *tcpStream) readHeader() error {
	for {
		need := 1
		if s.hdrN > 0 && s.hdr[0] != frameFin {
			need = 3
		}
		if s.hdrN >= need {
			break
		}
		n, err := s.s.Read(s.hdr[s.hdrN:need])
		s.hdrN += n
		if err != nil && s.hdrN < need {
			return s.readFailed(err)
		}
	}
	f, err := readFrame(bytes.NewReader(s.hdr[:s.hdrN]))
	s.hdrN = 0
	switch {
	case err != nil:
		s.rerr = &StreamError{Code: wire.CodeBadRequest}
		s.readEnded()
		return fmt.Errorf("%w: %w", err, s.rerr)
	case f.typ == frameData:
		s.remaining = f.n
	case f.typ == frameFin:
		s.rerr = io.EOF
		s.readEnded()
		return io.EOF
	case f.typ == frameReset:
		s.rerr = &StreamError{Code: f.code, Remote: true}
		s.readEnded()
		return s.rerr
	default:
		s.rerr = &StreamError{Code: wire.CodeBadRequest}
		s.readEnded()
		return fmt.Errorf("%w: type %d in a stream: %w", errBadFrame, f.typ, s.rerr)
	}
	return nil
}

// readFailed turns an error of the yamux stream into the stream's: a
// deadline is not sticky; the end of a yamux stream that sent no FIN or
// RESET frame is a cut (or the connection's close), never io.EOF.
func (s *tcpStream) readFailed(err error) error {
	if e := s.rcancel.Load(); e != nil {
		return e
	}
	if errors.Is(err, yamux.ErrTimeout) {
		return os.ErrDeadlineExceeded
	}
	if s.conn.closed() {
		s.rerr = s.conn.cause()
	} else {
		s.rerr = fmt.Errorf("%w: %w", ErrCut, &StreamError{Code: wire.CodeInternal, Remote: true})
	}
	s.readEnded()
	return s.rerr
}

func (s *tcpStream) Write(p []byte) (int, error) {
	s.wmu.Lock()
	defer s.wmu.Unlock()
	if e := s.wcancel.Load(); e != nil {
		return 0, e
	}
	if s.werr != nil {
		return 0, s.werr
	}
	total := 0
	for len(p) > 0 {
		n := min(len(p), maxData)
		if err := s.writeFrame(frame{typ: frameData, n: uint32(n)}, p[:n]); err != nil {
			return total, err
		}
		total += n
		p = p[n:]
	}
	return total, nil
}

// writeFrame writes one frame (header and payload): small ones in one
// write, large ones in two (no copy). A frame cut short breaks the
// direction for good. wmu is held.
func (s *tcpStream) writeFrame(f frame, payload []byte) error {
	var small [3 + 1024]byte
	b := appendFrame(small[:0], f)
	var err error
	var n int
	if len(payload) <= 1024 {
		b = append(b, payload...)
		n, err = s.s.Write(b)
	} else if n, err = s.s.Write(b); err == nil {
		var m int
		m, err = s.s.Write(payload)
		n += m
	}
	if err == nil {
		return nil
	}
	if e := s.wcancel.Load(); e != nil {
		s.werr = e
		return e
	}
	switch {
	case errors.Is(err, yamux.ErrTimeout) && n == 0:
		return os.ErrDeadlineExceeded
	case s.conn.closed():
		s.werr = s.conn.cause()
	case errors.Is(err, yamux.ErrTimeout):
		s.werr = fmt.Errorf("%w (the stream can no longer be written)", os.ErrDeadlineExceeded)
	default:
		s.werr = fmt.Errorf("%w: %w", ErrCut, &StreamError{Code: wire.CodeInternal, Remote: true})
	}
	s.writeEnded()
	return s.werr
}

func (s *tcpStream) Close() error {
	s.wmu.Lock()
	defer s.wmu.Unlock()
	if s.werr != nil || s.wcancel.Load() != nil {
		return nil
	}
	if err := s.writeFrame(frame{typ: frameFin}, nil); err != nil {
		return err
	}
	s.werr = errWriteClosed
	s.writeEnded()
	return nil
}

func (s *tcpStream) CancelWrite(code wire.Code) {
	e := &StreamError{Code: code}
	if !s.wcancel.CompareAndSwap(nil, e) {
		return
	}
	s.s.SetWriteDeadline(time.Now()) //nolint:errcheck // ends a blocked Write
	s.wmu.Lock()
	defer s.wmu.Unlock()
	if s.werr == nil {
		s.s.SetWriteDeadline(time.Now().Add(resetWait))       //nolint:errcheck
		s.writeFrame(frame{typ: frameReset, code: code}, nil) //nolint:errcheck // not sent: the peer reads a cut
	}
	s.werr = e
	s.writeEnded()
}

func (s *tcpStream) CancelRead(code wire.Code) {
	if !s.rcancel.CompareAndSwap(nil, &StreamError{Code: code}) {
		return
	}
	s.s.SetReadDeadline(time.Now()) //nolint:errcheck // ends a blocked Read
	s.mu.Lock()
	peerWriting := !s.readEnd
	s.mu.Unlock()
	if peerWriting {
		s.conn.stop(s.s.StreamID(), code)
	}
	s.readEnded()
}

// stopped is the peer's STOP for this stream: it reads no more, so our
// direction ends with its code (writes fail, a blocked one at once). No
// RESET follows, unlike QUIC's answer to STOP_SENDING: the peer's reading
// side has ended already, and its full window could hold a RESET up.
func (s *tcpStream) stopped(code wire.Code) {
	e := &StreamError{Code: code, Remote: true}
	if !s.wcancel.CompareAndSwap(nil, e) {
		return
	}
	s.s.SetWriteDeadline(time.Now()) //nolint:errcheck // ends a blocked Write
	s.wmu.Lock()
	s.werr = e
	s.wmu.Unlock()
	s.writeEnded()
}

func (s *tcpStream) readEnded()  { s.end(&s.readEnd) }
func (s *tcpStream) writeEnded() { s.end(&s.writeEnd) }

// end marks one direction ended; once both are, the yamux stream is closed
// and the stream's slot given back.
func (s *tcpStream) end(dir *bool) {
	s.mu.Lock()
	*dir = true
	fin := s.readEnd && s.writeEnd && !s.finished
	if fin {
		s.finished = true
	}
	s.mu.Unlock()
	if fin {
		s.s.Close()
		s.done()
	}
}

func (s *tcpStream) SetDeadline(t time.Time) error {
	s.SetReadDeadline(t)  //nolint:errcheck
	s.SetWriteDeadline(t) //nolint:errcheck
	return nil
}

func (s *tcpStream) SetReadDeadline(t time.Time) error {
	if s.rcancel.Load() != nil {
		return nil
	}
	return s.s.SetReadDeadline(t)
}

func (s *tcpStream) SetWriteDeadline(t time.Time) error {
	if s.wcancel.Load() != nil {
		return nil
	}
	return s.s.SetWriteDeadline(t)
}
