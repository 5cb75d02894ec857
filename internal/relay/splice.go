package relay

import (
	"errors"
	"io"
	"net"
	"sync"

	"github.com/airlockhq/airlock/internal/wire"
)

// SpliceBufferSize is the copy buffer for each direction of a spliced stream.
const SpliceBufferSize = 64 << 10

// HalfCloser is a stream whose write side can be closed while reads go on:
// *net.TCPConn's CloseWrite, or the FIN of a QUIC stream.
type HalfCloser interface {
	CloseWrite() error
}

// Aborter is a stream that can be torn down with a code in both directions,
// like a QUIC stream reset.
type Aborter interface {
	Abort(code wire.Code)
}

// AbortTCP tears a TCP connection down so that its peer sees a reset, not
// a clean end: with SO_LINGER 0, Close sends RST and drops what was not yet
// sent. A stream cut elsewhere on the path must not reach a TCP end as the
// FIN that would make a download without Content-Length look complete.
func AbortTCP(c *net.TCPConn) {
	c.SetLinger(0) //nolint:errcheck // Close below ends it either way
	c.Close()
}

// Splice copies a to b and b to a until both directions have ended, closing
// each write side when its reader reaches EOF (half-close), and returns the
// bytes copied each way. An error in one direction aborts both: an
// [Aborter] with its Abort, a *net.TCPConn with [AbortTCP] (its peer gets
// RST), anything else with Close. Splice does not close a or b after a
// clean end; the caller does.
func Splice(a, b io.ReadWriter) (aToB, bToA int64, err error) {
	var (
		wg   sync.WaitGroup
		once sync.Once
		ferr error
	)
	fail := func(e error) {
		once.Do(func() {
			ferr = e
			abort(a)
			abort(b)
		})
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		n, e := copyHalf(b, a)
		aToB = n
		if e != nil {
			fail(e)
		}
	}()
	n, e := copyHalf(a, b)
	bToA = n
	if e != nil {
		fail(e)
	}
	wg.Wait()
	return aToB, bToA, ferr
}

// spliceBuffers recycles copy buffers: a new 64 KiB buffer per direction
// per stream was most of what the daemon, edge and connector allocated per
// connection, and the garbage collections it caused showed in the latency of
// new connections. It is package-level, against the rule, because nothing
// in it can be observed: a pool owned by each caller (daemon, edge,
// connector) would add a parameter to Splice and change no behaviour.
var spliceBuffers = sync.Pool{New: func() any { return new([SpliceBufferSize]byte) }}

func copyHalf(dst io.Writer, src io.Reader) (int64, error) {
	buf := spliceBuffers.Get().(*[SpliceBufferSize]byte)
	n, err := io.CopyBuffer(onlyWriter{dst}, onlyReader{src}, buf[:])
	spliceBuffers.Put(buf)
	if err != nil {
		return n, err
	}
	if hc, ok := dst.(HalfCloser); ok {
		if err := hc.CloseWrite(); err != nil && !errors.Is(err, io.ErrClosedPipe) {
			return n, err
		}
	}
	return n, nil
}

func abort(x any) {
	switch c := x.(type) {
	case Aborter:
		c.Abort(wire.CodeGoingAway)
	case *net.TCPConn:
		AbortTCP(c)
	case io.Closer:
		c.Close()
	}
}

// onlyReader and onlyWriter hide WriterTo and ReaderFrom so that CopyBuffer
// uses our buffer rather than a small one of the stream's own.
type (
	onlyReader struct{ io.Reader }
	onlyWriter struct{ io.Writer }
)
