package benchnet

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"sync"

	"github.com/airlockhq/airlock/internal/relay"
	"github.com/airlockhq/airlock/internal/wire"
	"github.com/quic-go/quic-go"
)

// The three stages of the bare relay, each meant to run in its own process
// like Airlock's daemon, edge and connector:
//
//	client ─TCP→ entry ─QUIC→ relay ─QUIC→ exit ─TCP→ origin
//
// Every TCP connection becomes one QUIC stream on each hop, carrying raw
// bytes: no frames, no tokens, no policy.

// RunEntry accepts TCP connections on ln and splices each with a new stream
// on next, until ctx ends or next dies.
func RunEntry(ctx context.Context, ln net.Listener, next *quic.Conn, log *slog.Logger) error {
	return acceptLoop(ctx, "entry", func(ctx context.Context) (func(), error) {
		c, err := ln.Accept()
		if err != nil {
			return nil, err
		}
		return func() {
			defer c.Close()
			defer context.AfterFunc(ctx, func() { c.Close() })()
			s, err := next.OpenStreamSync(ctx)
			if err != nil {
				log.Warn("entry: open a stream to the relay", "err", err)
				return
			}
			splice(log, "entry", c, newStream(s))
		}, nil
	}, func() { ln.Close() }, next)
}

// RunRelay accepts QUIC connections on ln and splices each of their streams
// with a new stream on next, until ctx ends or next dies.
func RunRelay(ctx context.Context, ln *quic.Listener, next *quic.Conn, log *slog.Logger) error {
	return acceptStreams(ctx, ln, "relay", func(ctx context.Context, s *quic.Stream) {
		out, err := next.OpenStreamSync(ctx)
		if err != nil {
			s.CancelRead(quic.StreamErrorCode(wire.CodeNoConnector))
			s.CancelWrite(quic.StreamErrorCode(wire.CodeNoConnector))
			log.Warn("relay: open a stream to the exit", "err", err)
			return
		}
		splice(log, "relay", newStream(s), newStream(out))
	}, next)
}

// RunExit accepts QUIC connections on ln and splices each of their streams
// with a new TCP connection to origin, until ctx ends.
func RunExit(ctx context.Context, ln *quic.Listener, origin string, log *slog.Logger) error {
	var d net.Dialer
	return acceptStreams(ctx, ln, "exit", func(ctx context.Context, s *quic.Stream) {
		c, err := d.DialContext(ctx, "tcp", origin)
		if err != nil {
			s.CancelRead(quic.StreamErrorCode(wire.CodeOriginUnreachable))
			s.CancelWrite(quic.StreamErrorCode(wire.CodeOriginUnreachable))
			log.Warn("exit: dial the origin", "err", err)
			return
		}
		defer c.Close()
		defer context.AfterFunc(ctx, func() { c.Close() })()
		splice(log, "exit", newStream(s), c)
	}, nil)
}

// acceptStreams accepts QUIC connections and runs handle for each stream.
func acceptStreams(ctx context.Context, ln *quic.Listener, stage string, handle func(context.Context, *quic.Stream), next *quic.Conn) error {
	return acceptLoop(ctx, stage, func(ctx context.Context) (func(), error) {
		qc, err := ln.Accept(ctx)
		if err != nil {
			return nil, err
		}
		return func() {
			defer context.AfterFunc(ctx, func() {
				qc.CloseWithError(quic.ApplicationErrorCode(wire.CodeGoingAway), stage+" stopping")
			})()
			var wg sync.WaitGroup
			defer wg.Wait()
			for {
				s, err := qc.AcceptStream(ctx)
				if err != nil {
					return
				}
				wg.Add(1)
				go func() {
					defer wg.Done()
					handle(ctx, s)
				}()
			}
		}, nil
	}, func() { ln.Close() }, next)
}

// acceptLoop calls accept until it fails and runs each returned handler on
// its own goroutine. It returns nil once ctx ends, an error if next (the
// stage's onward connection, if any) dies first, and waits for every
// handler, which see a context that ends when acceptLoop returns.
func acceptLoop(ctx context.Context, stage string, accept func(context.Context) (func(), error), closeListener func(), next *quic.Conn) error {
	ctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	defer wg.Wait()
	defer cancel()
	if next != nil {
		stop := context.AfterFunc(next.Context(), cancel)
		defer stop()
	}
	stopLn := context.AfterFunc(ctx, closeListener)
	defer stopLn()
	for {
		h, err := accept(ctx)
		if err != nil {
			if next != nil && next.Context().Err() != nil {
				return fmt.Errorf("%s: the onward connection died: %w", stage, context.Cause(next.Context()))
			}
			if ctx.Err() != nil || errors.Is(err, net.ErrClosed) {
				return nil
			}
			return fmt.Errorf("%s accept: %w", stage, err)
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			h()
		}()
	}
}

func splice(log *slog.Logger, stage string, a, b io.ReadWriter) {
	if _, _, err := relay.Splice(a, b); err != nil {
		log.Debug(stage+": stream ended with an error", "err", err)
	}
}

// stream is a QUIC stream as relay.Splice wants it, like edgeclient's
// StreamConn: CloseWrite sends FIN, Abort resets both directions.
type stream struct{ s *quic.Stream }

func newStream(s *quic.Stream) *stream { return &stream{s: s} }

func (s *stream) Read(p []byte) (int, error)  { return s.s.Read(p) }
func (s *stream) Write(p []byte) (int, error) { return s.s.Write(p) }
func (s *stream) CloseWrite() error           { return s.s.Close() }
func (s *stream) Abort(code wire.Code) {
	s.s.CancelWrite(quic.StreamErrorCode(code))
	s.s.CancelRead(quic.StreamErrorCode(code))
}

var (
	_ relay.HalfCloser = (*stream)(nil)
	_ relay.Aborter    = (*stream)(nil)
)
