package socks

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/airlockhq/airlock/daemon/socks/sockstest"
	"github.com/airlockhq/airlock/daemon/tokens"
	"github.com/airlockhq/airlock/internal/edgeclient"
	"github.com/airlockhq/airlock/internal/testenv"
	"github.com/airlockhq/airlock/internal/wire"
)

// origin is a TCP server that answers each connection with "hello " + what
// it read until EOF (so it also checks half-close).
func origin(t testing.TB) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				b, _ := io.ReadAll(c)
				c.Write(append([]byte("hello "), b...))
			}()
		}
	}()
	return ln.Addr().String()
}

// fakeEdge dials origin for every Open, or fails with err; it records the
// Open frames it was given.
type fakeEdge struct {
	origin string
	mu     sync.Mutex
	opens  []wire.Open
	err    error
}

func (f *fakeEdge) Open(ctx context.Context, o *wire.Open) (net.Conn, error) {
	f.mu.Lock()
	f.opens = append(f.opens, *o)
	err := f.err
	f.mu.Unlock()
	if err != nil {
		return nil, err
	}
	var d net.Dialer
	return d.DialContext(ctx, "tcp", f.origin)
}

func (f *fakeEdge) last() wire.Open {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.opens[len(f.opens)-1]
}

type harness struct {
	addr, user, pass string
	edge             *fakeEdge
	logs             *testenv.Buffer
	outcomes         chan error
}

func start(t testing.TB, fe *fakeEdge) *harness {
	t.Helper()
	user, pass, err := NewCredentials(nil)
	if err != nil {
		t.Fatal(err)
	}
	h := &harness{user: user, pass: pass, edge: fe, logs: &testenv.Buffer{}, outcomes: make(chan error, 100)}
	srv := New(Config{
		App: "k8s.example.com", Username: user, Password: pass,
		Tokens: tokens.Static("tok"), Edge: fe,
		Logger:    slog.New(slog.NewTextHandler(h.logs, nil)),
		OnOutcome: func(err error) { h.outcomes <- err },
	})
	h.addr = serve(t, srv)
	return h
}

func ctxT(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func TestConnectHostnameNotResolved(t *testing.T) {
	h := start(t, &fakeEdge{origin: origin(t)})
	// A name that cannot resolve anywhere (RFC 6761 .invalid): the proxy
	// must hand it to the edge as is.
	c, err := sockstest.Dial(ctxT(t), h.addr, h.user, h.pass, "kube.does-not-exist.invalid:6443")
	if err != nil {
		t.Fatalf("CONNECT: %v", err)
	}
	defer c.Close()
	if _, err := c.Write([]byte("world")); err != nil {
		t.Fatal(err)
	}
	c.(*net.TCPConn).CloseWrite()
	got, err := io.ReadAll(c)
	if err != nil || string(got) != "hello world" {
		t.Fatalf("read %q, %v; want \"hello world\" (half-close through the proxy)", got, err)
	}
	o := h.edge.last()
	if o.Target != "kube.does-not-exist.invalid:6443" || o.App != "k8s.example.com" || o.Token != "tok" {
		t.Errorf("edge got Open %+v", o)
	}
	if err := <-h.outcomes; err != nil {
		t.Errorf("outcome = %v, want nil", err)
	}
}

func TestAuth(t *testing.T) {
	h := start(t, &fakeEdge{origin: origin(t)})
	tests := []struct {
		name, user, pass string
	}{
		{"wrong password", h.user, h.pass + "x"},
		{"wrong user", h.user + "x", h.pass},
		{"blank password", h.user, " "},
		{"no auth offered", "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := sockstest.Dial(ctxT(t), h.addr, tt.user, tt.pass, "example.com:443")
			if !errors.Is(err, sockstest.ErrAuthFailed) {
				t.Fatalf("err = %v, want authentication refused", err)
			}
		})
	}
	h.edge.mu.Lock()
	defer h.edge.mu.Unlock()
	if len(h.edge.opens) != 0 {
		t.Errorf("the edge saw %d opens from unauthenticated clients", len(h.edge.opens))
	}
}

func TestRefusalReplies(t *testing.T) {
	fe := &fakeEdge{origin: origin(t)}
	h := start(t, fe)
	tests := []struct {
		name  string
		err   error
		reply uint8
		cause string
	}{
		{"unauthenticated", wire.Errorf(wire.CodeUnauthenticated, "token expired"), ReplyNotAllowed, "unauthenticated"},
		{"forbidden", wire.Errorf(wire.CodeForbidden, "bob@example.com is not allowed"), ReplyNotAllowed, "forbidden"},
		{"no connector", wire.Errorf(wire.CodeNoConnector, "no connector for k8s.example.com"), ReplyNetworkUnreachable, "no_connector"},
		{"unknown app", wire.Errorf(wire.CodeUnknownApp, "no app"), ReplyHostUnreachable, "unknown_app"},
		{"origin unreachable", wire.Errorf(wire.CodeOriginUnreachable, "dial 10.0.0.1:6443: connection refused"), ReplyConnectionRefused, "origin_unreachable"},
		{"overloaded", wire.Errorf(wire.CodeOverloaded, "busy"), ReplyGeneralFailure, "overloaded"},
		{"edge unreachable", &edgeclient.DialError{Addr: "127.0.0.1:7844", Err: errors.New("timeout: no recent network activity")}, ReplyNetworkUnreachable, CauseEdgeUnreachable},
		{"token unavailable", fmt.Errorf("%w: sign in needed", tokens.ErrUnavailable), ReplyNotAllowed, CauseTokenUnavailable},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fe.mu.Lock()
			fe.err = tt.err
			fe.mu.Unlock()
			_, err := sockstest.Dial(ctxT(t), h.addr, h.user, h.pass, "kubernetes.default:443")
			if got := sockstest.Reply(err); got != tt.reply {
				t.Fatalf("reply = %#02x (%v), want %#02x", got, err, tt.reply)
			}
			if out := <-h.outcomes; !errors.Is(out, tt.err) {
				t.Errorf("outcome = %v, want %v", out, tt.err)
			}
			line := "cause=" + tt.cause
			if logs := h.logs.String(); !strings.Contains(logs, line) || !strings.Contains(logs, "app=k8s.example.com") || !strings.Contains(logs, "level=WARN") {
				t.Errorf("log %q lacks a warn line with app and %s", logs, line)
			}
			if strings.Contains(h.logs.String(), "tok") && strings.Contains(h.logs.String(), "token=") {
				t.Error("log carries the token")
			}
		})
	}
}

func TestOnlyConnect(t *testing.T) {
	h := start(t, &fakeEdge{origin: origin(t)})
	for _, cmd := range []struct {
		name string
		code byte
	}{{"bind", 2}, {"udp associate", 3}} {
		t.Run(cmd.name, func(t *testing.T) {
			c, err := net.Dial("tcp", h.addr)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			c.SetDeadline(time.Now().Add(10 * time.Second))
			msg := []byte{5, 1, 2, 1, byte(len(h.user))}
			msg = append(msg, h.user...)
			msg = append(msg, byte(len(h.pass)))
			msg = append(msg, h.pass...)
			msg = append(msg, 5, cmd.code, 0, 1, 127, 0, 0, 1, 0, 80)
			c.Write(msg)
			resp := make([]byte, 2+2+4)
			if _, err := io.ReadFull(c, resp); err != nil {
				t.Fatal(err)
			}
			if resp[5] != 0x02 {
				t.Errorf("reply = %#02x, want 0x02 (not allowed by ruleset)", resp[5])
			}
		})
	}
}

func TestServeStopsAndClosesConnections(t *testing.T) {
	fe := &fakeEdge{origin: origin(t)}
	user, pass, _ := NewCredentials(nil)
	srv := New(Config{App: "a.example.com", Username: user, Password: pass, Tokens: tokens.Static("t"), Edge: fe})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx, ln) }()
	c, err := sockstest.Dial(ctxT(t), ln.Addr().String(), user, pass, "x.example:1")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	cancel()
	// Serve must return with a connection open; a hang is the test's own
	// -timeout, not a clock of its own.
	if err := <-done; err != nil {
		t.Fatalf("Serve = %v", err)
	}
	// The stop cut an open stream: the client sees a reset, never the clean
	// end (EOF) that would make a cut download look complete.
	if _, err := io.ReadAll(c); !errors.Is(err, syscall.ECONNRESET) {
		t.Errorf("open connection after the listener stopped: %v, want a reset", err)
	}
	if _, err := net.Dial("tcp", ln.Addr().String()); err == nil {
		t.Error("listener still accepts after Serve returned")
	}
}

func TestClassify(t *testing.T) {
	tests := []struct {
		name  string
		err   error
		reply uint8
		cause string
	}{
		{"nil", nil, 0x00, "ok"},
		{"unauthenticated", wire.Errorf(wire.CodeUnauthenticated, ""), 0x02, "unauthenticated"},
		{"forbidden", wire.Errorf(wire.CodeForbidden, ""), 0x02, "forbidden"},
		{"no connector", wire.Errorf(wire.CodeNoConnector, ""), 0x03, "no_connector"},
		{"unknown app", wire.Errorf(wire.CodeUnknownApp, ""), 0x04, "unknown_app"},
		{"origin unreachable", wire.Errorf(wire.CodeOriginUnreachable, ""), 0x05, "origin_unreachable"},
		{"bad request", wire.Errorf(wire.CodeBadRequest, ""), 0x01, "bad_request"},
		{"internal", wire.Errorf(wire.CodeInternal, ""), 0x01, "internal_error"},
		{"wrapped edge error", fmt.Errorf("open: %w", wire.Errorf(wire.CodeForbidden, "x")), 0x02, "forbidden"},
		{"dial error", &edgeclient.DialError{Addr: "a:1", Err: errors.New("x")}, 0x03, CauseEdgeUnreachable},
		{"conn error", &edgeclient.ConnError{Err: errors.New("x")}, 0x03, CauseEdgeUnreachable},
		{"token", fmt.Errorf("x: %w", tokens.ErrUnavailable), 0x02, CauseTokenUnavailable},
		{"timeout", fmt.Errorf("wait: %w", context.DeadlineExceeded), 0x06, CauseTimeout},
		{"other", errors.New("boom"), 0x01, CauseInternal},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := Classify(tt.err)
			if f.Reply != tt.reply || f.Cause != tt.cause {
				t.Errorf("Classify = reply %#02x cause %q; want %#02x %q", f.Reply, f.Cause, tt.reply, tt.cause)
			}
		})
	}
}

func TestNewCredentials(t *testing.T) {
	u1, p1, err := NewCredentials(nil)
	if err != nil {
		t.Fatal(err)
	}
	u2, p2, _ := NewCredentials(nil)
	if u1 == u2 || p1 == p2 || len(p1) < 20 {
		t.Errorf("credentials not random or too short: %s/%s %s/%s", u1, p1, u2, p2)
	}
	if strings.ContainsAny(u1+p1, ":@/%?#") {
		t.Errorf("credentials need escaping in a URL: %s:%s", u1, p1)
	}
}

// A client that half-closed, with an origin that never answers: stopping
// the server must still end the stream rather than wait on the edge.
func TestServeStopsHalfClosedStream(t *testing.T) {
	silent, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer silent.Close()
	held := make(chan net.Conn, 1)
	go func() {
		c, err := silent.Accept()
		if err == nil {
			held <- c
		}
	}()
	fe := &fakeEdge{origin: silent.Addr().String()}
	user, pass, _ := NewCredentials(nil)
	srv := New(Config{App: "a.example.com", Username: user, Password: pass, Tokens: tokens.Static("t"), Edge: fe})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx, ln) }()
	c, err := sockstest.Dial(ctxT(t), ln.Addr().String(), user, pass, "x.example:1")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.(*net.TCPConn).CloseWrite()
	oc := <-held
	defer oc.Close()
	oc.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.ReadAll(oc); err != nil {
		t.Fatalf("origin did not see the half-close: %v", err)
	}
	cancel()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("Serve did not return: a stream blocked on a silent origin")
	}
}

// serve runs srv on a loopback listener until the test ends, failing it
// if Serve returns an error, and returns the listener's address.
func serve(t testing.TB, srv *Server) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx, ln) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Serve: %v", err)
		}
	})
	return ln.Addr().String()
}
