package benchnet

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"sync"
	"time"
)

// Origin request modes: the first byte a client sends on a connection.
const (
	// ModeBulk is followed by a big-endian uint64 n; the origin sends n
	// bytes and closes the connection.
	ModeBulk byte = 'b'
	// ModeEcho makes the origin echo every later byte until the client's EOF.
	ModeEcho byte = 'e'
)

// MaxBulk is the largest bulk request the origin serves (1 TiB).
const MaxBulk = 1 << 40

// writeChunk is the origin's write size for bulk responses.
const writeChunk = 256 << 10

// ServeOrigin serves origin requests on ln until ctx ends, then closes ln
// and every open connection and returns nil. A bad request closes its
// connection and is logged. With tlsConf set, a connection that starts with
// a TLS handshake gets HTTPS instead (see HTTPSProbe).
func ServeOrigin(ctx context.Context, ln net.Listener, tlsConf *tls.Config, log *slog.Logger) error {
	payload := bulkPayload()
	var wg sync.WaitGroup
	defer wg.Wait()
	ctx, cancel := context.WithCancel(ctx) // runs before wg.Wait: ends every connection
	defer cancel()
	stop := context.AfterFunc(ctx, func() { ln.Close() })
	defer stop()
	var https *connListener
	if tlsConf != nil {
		https = serveHTTPS(ctx, &wg, ln.Addr(), tlsConf, log)
	}
	for {
		c, err := ln.Accept()
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return fmt.Errorf("origin accept: %w", err)
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			handedOff, err := serveOriginConn(ctx, c, payload, https)
			if err != nil && ctx.Err() == nil {
				log.Warn("origin request failed", "remote", c.RemoteAddr().String(), "err", err)
			}
			if !handedOff {
				c.Close()
			}
		}()
	}
}

// serveOriginConn serves one request; handedOff means that the HTTPS
// server owns c now.
func serveOriginConn(ctx context.Context, c net.Conn, payload []byte, https *connListener) (handedOff bool, err error) {
	done := context.AfterFunc(ctx, func() { c.Close() })
	defer done()
	var mode [1]byte
	if _, err := io.ReadFull(c, mode[:]); err != nil {
		if errors.Is(err, io.EOF) {
			return false, nil // a readiness probe: connect and close
		}
		return false, fmt.Errorf("read the request mode: %w", err)
	}
	if mode[0] == tlsHandshake && https != nil {
		return https.push(&prefixConn{Conn: c, r: io.MultiReader(bytes.NewReader(mode[:]), c)}), nil
	}
	return false, serveRequest(c, mode[0], payload)
}

func serveRequest(c net.Conn, mode byte, payload []byte) error {
	switch mode {
	case ModeBulk:
		var size [8]byte
		if _, err := io.ReadFull(c, size[:]); err != nil {
			return fmt.Errorf("read the bulk size: %w", err)
		}
		n := binary.BigEndian.Uint64(size[:])
		if n > MaxBulk {
			return fmt.Errorf("bulk request of %d bytes is over the limit of %d", n, uint64(MaxBulk))
		}
		for left := int64(n); left > 0; {
			chunk := payload
			if left < int64(len(chunk)) {
				chunk = chunk[:left]
			}
			w, err := c.Write(chunk)
			if err != nil {
				return fmt.Errorf("send bulk bytes: %w", err)
			}
			left -= int64(w)
		}
		return nil
	case ModeEcho:
		// Plain reads and writes, not io.Copy's TCP-to-TCP splice: splice
		// holds a pipe (two more descriptors) per blocked echo, so an
		// origin holding 10,000 echo connections (BenchmarkFleetLoad)
		// would need 30,000 descriptors.
		if _, err := io.CopyBuffer(struct{ io.Writer }{c}, struct{ io.Reader }{c}, make([]byte, 32<<10)); err != nil {
			return fmt.Errorf("echo: %w", err)
		}
		if hc, ok := c.(interface{ CloseWrite() error }); ok {
			return hc.CloseWrite()
		}
		return nil
	default:
		return fmt.Errorf("unknown request mode %q", mode)
	}
}

// bulkPayload is what the origin sends, again and again, for a bulk
// request: not all zeros, in case a hop compresses.
func bulkPayload() []byte {
	payload := make([]byte, writeChunk)
	for i := range payload {
		payload[i] = byte(i*7 + i>>8)
	}
	return payload
}

// BulkIntact is Bulk that also checks every byte against what the origin
// sends, and says where the first wrong one is.
func BulkIntact(ctx context.Context, c net.Conn, n int64, buf []byte) error {
	return bulk(ctx, c, n, buf, bulkPayload())
}

// Bulk asks the origin behind c for n bytes and reads them until EOF. It
// returns an error unless exactly n bytes arrived. When ctx ends, the read
// is interrupted.
func Bulk(ctx context.Context, c net.Conn, n int64, buf []byte) error {
	return bulk(ctx, c, n, buf, nil)
}

// bulk is Bulk, checking the bytes against want (the origin's payload,
// repeated) unless it is nil.
func bulk(ctx context.Context, c net.Conn, n int64, buf, want []byte) error {
	if n < 0 || n > MaxBulk {
		return fmt.Errorf("bulk size %d is out of range [0, %d]", n, int64(MaxBulk))
	}
	stop := context.AfterFunc(ctx, func() { c.SetDeadline(time.Now()) })
	defer stop()
	var req [9]byte
	req[0] = ModeBulk
	binary.BigEndian.PutUint64(req[1:], uint64(n))
	if _, err := c.Write(req[:]); err != nil {
		return fmt.Errorf("send the bulk request: %w", ctxErr(ctx, err))
	}
	var got int64
	for {
		r, err := c.Read(buf)
		if want != nil {
			for i, b := range buf[:r] {
				if at := got + int64(i); b != want[at%int64(len(want))] {
					return fmt.Errorf("bulk byte %d of %d is %#x, the origin sent %#x", at, n, b, want[at%int64(len(want))])
				}
			}
		}
		got += int64(r)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return fmt.Errorf("read bulk bytes after %d of %d: %w", got, n, ctxErr(ctx, err))
		}
		if got > n {
			return fmt.Errorf("the origin sent more than the %d bytes asked for", n)
		}
	}
	if got != n {
		return fmt.Errorf("got %d bytes of %d before EOF", got, n)
	}
	return nil
}

// Echo sends ModeEcho and one byte on c and waits for that byte to come
// back: the first echoed byte of a new connection.
func Echo(ctx context.Context, c net.Conn) error {
	stop := context.AfterFunc(ctx, func() { c.SetDeadline(time.Now()) })
	defer stop()
	req := [2]byte{ModeEcho, 'x'}
	if _, err := c.Write(req[:]); err != nil {
		return fmt.Errorf("send the echo request: %w", ctxErr(ctx, err))
	}
	var b [1]byte
	if _, err := io.ReadFull(c, b[:]); err != nil {
		return fmt.Errorf("read the echoed byte: %w", ctxErr(ctx, err))
	}
	if b[0] != 'x' {
		return fmt.Errorf("echo returned %q, want 'x'", b[0])
	}
	return nil
}

func ctxErr(ctx context.Context, err error) error {
	if ctx.Err() != nil {
		return errors.Join(context.Cause(ctx), err)
	}
	return err
}
