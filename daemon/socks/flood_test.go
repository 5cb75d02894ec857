package socks

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"os"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/airlockhq/airlock/daemon/socks/sockstest"
	"github.com/airlockhq/airlock/daemon/tokens"
	"github.com/airlockhq/airlock/internal/testenv"
)

// fakeClock stands in for the handshake deadlines: they fire when the test
// says, not after a wall-clock duration.
type fakeClock struct {
	mu     sync.Mutex
	timers []*fakeTimer
}

type fakeTimer struct {
	f             func()
	stopped, done bool
}

func (c *fakeClock) after(_ time.Duration, f func()) func() bool {
	t := &fakeTimer{f: f}
	c.mu.Lock()
	c.timers = append(c.timers, t)
	c.mu.Unlock()
	return func() bool {
		c.mu.Lock()
		defer c.mu.Unlock()
		if t.stopped || t.done {
			return false
		}
		t.stopped = true
		return true
	}
}

// armed counts the deadlines neither stopped nor fired.
func (c *fakeClock) armed() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := 0
	for _, t := range c.timers {
		if !t.stopped && !t.done {
			n++
		}
	}
	return n
}

// fire runs every armed deadline, as if HandshakeTimeout had passed.
func (c *fakeClock) fire() {
	c.mu.Lock()
	var fs []func()
	for _, t := range c.timers {
		if !t.stopped && !t.done {
			t.done = true
			fs = append(fs, t.f)
		}
	}
	c.mu.Unlock()
	for _, f := range fs {
		f()
	}
}

// floodHarness is a listener with a small cap on unauthenticated
// connections.
type floodHarness struct {
	addr, user, pass string
	logs             *messageCount
}

// messageCount is a slog.Handler that counts the records by message.
type messageCount struct {
	mu    sync.Mutex
	n     map[string]int
	attrs map[string]string // the last value of each attribute
}

func (m *messageCount) Enabled(context.Context, slog.Level) bool { return true }
func (m *messageCount) WithAttrs([]slog.Attr) slog.Handler       { return m }
func (m *messageCount) WithGroup(string) slog.Handler            { return m }

func (m *messageCount) Handle(_ context.Context, r slog.Record) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.n[r.Message]++
	r.Attrs(func(a slog.Attr) bool {
		if m.attrs == nil {
			m.attrs = map[string]string{}
		}
		m.attrs[a.Key] = a.Value.String()
		return true
	})
	return nil
}

// attr is the last value logged for key.
func (m *messageCount) attr(key string) string {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.attrs[key]
}

// count is how many records had a message that starts with prefix.
func (m *messageCount) count(prefix string) int {
	m.mu.Lock()
	defer m.mu.Unlock()
	n := 0
	for msg, k := range m.n {
		if strings.HasPrefix(msg, prefix) {
			n += k
		}
	}
	return n
}

// startCapped starts a listener capped at max unauthenticated
// connections. Its clients count as another user's (uid 65534) unless
// realUIDs: the flood tests are about what a foreign process can hold.
func startCapped(t *testing.T, max int, timeout time.Duration, clock *fakeClock, realUIDs ...bool) *floodHarness {
	t.Helper()
	user, pass, err := NewCredentials(nil)
	if err != nil {
		t.Fatal(err)
	}
	h := &floodHarness{user: user, pass: pass, logs: &messageCount{n: map[string]int{}}}
	srv := New(Config{
		App: "k8s.example.com", Username: user, Password: pass,
		Tokens: tokens.Static("tok"), Edge: &fakeEdge{origin: origin(t)},
		Logger:             slog.New(h.logs),
		MaxUnauthenticated: max, HandshakeTimeout: timeout,
	})
	if clock != nil {
		srv.after = clock.after
	}
	if len(realUIDs) == 0 || !realUIDs[0] {
		srv.peerUID = func(net.Conn) (uint32, error) { return 65534, nil }
	}
	h.addr = serve(t, srv)
	return h
}

// silent opens a connection that never sends a byte.
func silent(t *testing.T, addr string) net.Conn {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// closedByServer waits for the server to close c: a read that ends in
// EOF or a reset, bounded only by the test's own deadline.
func closedByServer(t *testing.T, c net.Conn) {
	t.Helper()
	if d, ok := testenv.Context(t).Deadline(); ok {
		c.SetReadDeadline(d)
	}
	var b [1]byte
	n, err := c.Read(b[:])
	switch {
	case n > 0:
		t.Fatalf("the server sent %#02x to a client that sent nothing", b[0])
	case errors.Is(err, os.ErrDeadlineExceeded):
		t.Fatalf("still open at the test's deadline")
	case err == nil, !errors.Is(err, io.EOF) && !isReset(err):
		t.Fatalf("read: %v, want EOF or a reset", err)
	}
}

func isReset(err error) bool {
	return errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE)
}

// roundTrip sends msg through an open CONNECT and checks the origin's
// answer.
func roundTrip(t *testing.T, c net.Conn, msg string) {
	t.Helper()
	if _, err := io.WriteString(c, msg); err != nil {
		t.Fatal(err)
	}
	c.(*net.TCPConn).CloseWrite()
	if d, ok := testenv.Context(t).Deadline(); ok {
		c.SetReadDeadline(d)
	}
	b, err := io.ReadAll(c)
	if err != nil || string(b) != "hello "+msg {
		t.Fatalf("through the proxy: %q, %v; want %q", b, err, "hello "+msg)
	}
}

// authOnly greets and authenticates on c, and sends no request.
func authOnly(t *testing.T, c net.Conn, user, pass string) {
	t.Helper()
	msg := append([]byte{5, 1, 2, 1, byte(len(user))}, user...)
	msg = append(append(msg, byte(len(pass))), pass...)
	if _, err := c.Write(msg); err != nil {
		t.Fatal(err)
	}
	var b [4]byte
	if _, err := io.ReadFull(c, b[:]); err != nil || b != [4]byte{5, 2, 1, 0} {
		t.Fatalf("auth answer %x, %v; want 05 02 01 00", b, err)
	}
}

// TestUnauthenticatedFlood is issue 10's flood of a SOCKS listener (4000
// connections that never authenticate, held 10 s each): with a cap of N,
// N+10 silent connections leave 10 closed at once, unread, while the N
// are held only until the handshake deadline (here fired by the test);
// authenticated connections neither count against the cap nor lose their
// stream, and the listener serves again once the flood is dropped.
func TestUnauthenticatedFlood(t *testing.T) {
	const max = 8
	clock := &fakeClock{}
	h := startCapped(t, max, time.Hour, clock) // the real clock never fires: the test does
	ctx := ctxT(t)

	// Two clients connected before the flood, and one that authenticated
	// and stalls: none of them holds a place.
	before, err := sockstest.Dial(ctx, h.addr, h.user, h.pass, "kubernetes.default.svc:443")
	if err != nil {
		t.Fatal(err)
	}
	defer before.Close()
	later, err := sockstest.Dial(ctx, h.addr, h.user, h.pass, "kubernetes.default.svc:443")
	if err != nil {
		t.Fatal(err)
	}
	defer later.Close()
	stalled := silent(t, h.addr)
	authOnly(t, stalled, h.user, h.pass)
	testenv.Eventually(t, "the stalled client's deadline armed", func() bool { return clock.armed() == 1 })

	held := make([]net.Conn, max)
	for i := range held {
		held[i] = silent(t, h.addr)
	}
	testenv.Eventually(t, "every held connection admitted", func() bool { return clock.armed() == 1+max })

	t.Run("excess closed at once", func(t *testing.T) {
		for range 10 {
			closedByServer(t, silent(t, h.addr))
		}
		if n := clock.armed(); n != 1+max {
			t.Errorf("%d deadlines armed after the excess, want %d: no deadline fired, none admitted", n, 1+max)
		}
		if n := h.logs.count("SOCKS connections refused"); n != 1 {
			t.Errorf("%d refusal warnings, want 1 (rate limited)", n)
		}
	})
	t.Run("an authenticated stream works during the flood", func(t *testing.T) {
		roundTrip(t, before, "during")
	})
	t.Run("held ones closed at the deadline", func(t *testing.T) {
		clock.fire()
		for _, c := range held {
			closedByServer(t, c)
		}
		closedByServer(t, stalled) // authenticated, but no request by the deadline
	})
	t.Run("streams outlive the deadline", func(t *testing.T) {
		roundTrip(t, later, "after")
	})
	t.Run("listener serves again", func(t *testing.T) {
		c, err := sockstest.Dial(ctx, h.addr, h.user, h.pass, "kubernetes.default.svc:443")
		if err != nil {
			t.Fatalf("CONNECT after the flood: %v", err)
		}
		defer c.Close()
		roundTrip(t, c, "again")
	})
}

// TestHandshakeDeadline: with the real clock and a short injected
// deadline, a connection that sends nothing, or stops in its greeting, is
// closed (the test waits for that, with no bound of its own). One that
// authenticated and stops is TestUnauthenticatedFlood's stalled client:
// here the deadline could pass before its authentication did.
func TestHandshakeDeadline(t *testing.T) {
	h := startCapped(t, 4, 50*time.Millisecond, nil)
	tests := []struct {
		name string
		send func(t *testing.T, c net.Conn)
	}{
		{"nothing", func(*testing.T, net.Conn) {}},
		{"half a greeting", func(t *testing.T, c net.Conn) { c.Write([]byte{5}) }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := silent(t, h.addr)
			tt.send(t, c)
			closedByServer(t, c)
		})
	}
}
