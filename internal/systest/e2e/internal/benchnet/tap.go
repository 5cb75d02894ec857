package benchnet

import (
	"bytes"
	"context"
	"io"
	"net"
	"sync"
	"time"
)

// Tap is a TCP forwarder that counts what a client does through it: each
// connection it accepts, when, how long it lasted, the bytes each way and
// whether the client's first bytes hold a TLS ClientHello (a full TLS
// handshake, after a SOCKS5 handshake if there is one). Put in front of an
// apiserver or a SOCKS5 listener, it is the trace of one kubectl run:
// connections opened, handshakes, bytes.
type Tap struct {
	ln     net.Listener
	target string
	wg     sync.WaitGroup

	mu    sync.Mutex
	conns []*TapConn
}

// TapConn is one connection through a Tap.
type TapConn struct {
	Opened, Closed time.Time
	Up, Down       int64 // bytes client → target, target → client
	ClientHello    bool  // a TLS ClientHello in the client's first 4 KiB
}

// NewTap listens on a free loopback port and forwards every connection
// to target until ctx ends or Close.
func NewTap(ctx context.Context, target string) (*Tap, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	t := &Tap{ln: ln, target: target}
	stop := context.AfterFunc(ctx, func() { ln.Close() })
	t.wg.Go(func() {
		defer stop()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			tc := &TapConn{Opened: time.Now()}
			t.mu.Lock()
			t.conns = append(t.conns, tc)
			t.mu.Unlock()
			t.wg.Go(func() { t.forward(ctx, c.(*net.TCPConn), tc) })
		}
	})
	return t, nil
}

// Addr is the tap's host:port.
func (t *Tap) Addr() string { return t.ln.Addr().String() }

// Take returns the connections since the last Take, once every one of them
// has closed (or ctx ends), and forgets them.
func (t *Tap) Take(ctx context.Context) ([]TapConn, error) {
	for {
		t.mu.Lock()
		open := 0
		for _, c := range t.conns {
			if c.Closed.IsZero() {
				open++
			}
		}
		if open == 0 {
			out := make([]TapConn, len(t.conns))
			for i, c := range t.conns {
				out[i] = *c
			}
			t.conns = nil
			t.mu.Unlock()
			return out, nil
		}
		t.mu.Unlock()
		select {
		case <-ctx.Done():
			return nil, context.Cause(ctx)
		case <-time.After(time.Millisecond):
		}
	}
}

// Close stops the listener and waits for the connections to end.
func (t *Tap) Close() {
	t.ln.Close()
	t.wg.Wait()
}

func (t *Tap) forward(ctx context.Context, c *net.TCPConn, tc *TapConn) {
	defer c.Close()
	var d net.Dialer
	n, err := d.DialContext(ctx, "tcp", t.target)
	if err != nil {
		t.done(tc, 0, 0, false)
		return
	}
	defer n.Close()
	var head bytes.Buffer // the client's first bytes
	var wg sync.WaitGroup
	var up, down int64
	wg.Go(func() {
		up, _ = io.Copy(n, io.TeeReader(c, &limited{&head, 4096}))
		n.(*net.TCPConn).CloseWrite()
	})
	down, _ = io.Copy(c, n)
	c.CloseWrite()
	wg.Wait()
	t.done(tc, up, down, hasClientHello(head.Bytes()))
}

func (t *Tap) done(tc *TapConn, up, down int64, hello bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	tc.Closed, tc.Up, tc.Down, tc.ClientHello = time.Now(), up, down, hello
}

// hasClientHello reports whether b holds a TLS handshake record
// (0x16 0x03 0x01, a length) whose first message is a ClientHello (1).
func hasClientHello(b []byte) bool {
	for i := 0; i+5 < len(b); i++ {
		if b[i] == 0x16 && b[i+1] == 3 && b[i+2] <= 3 && b[i+5] == 1 {
			return true
		}
	}
	return false
}

// limited writes at most n bytes into w, then discards.
type limited struct {
	w *bytes.Buffer
	n int
}

func (l *limited) Write(p []byte) (int, error) {
	if room := l.n - l.w.Len(); room > 0 {
		l.w.Write(p[:min(room, len(p))])
	}
	return len(p), nil
}
