package connector_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/airlockhq/airlock/connector"
	"github.com/airlockhq/airlock/connector/ingress"
	"github.com/airlockhq/airlock/internal/backoff"
	"github.com/airlockhq/airlock/internal/credentials"
	"github.com/airlockhq/airlock/internal/testenv"
	"github.com/airlockhq/airlock/internal/token"
	"github.com/airlockhq/airlock/internal/wire"
)

const (
	testApp   = "k8s.example.com"
	testEmail = "ada@example.com"
)

// echoServer is a TCP origin on loopback that echoes what it reads and
// counts the connections it accepts.
type echoServer struct {
	ln       net.Listener
	accepted atomic.Int64
	wg       sync.WaitGroup
}

func startEcho(tb testing.TB) *echoServer {
	tb.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	e := &echoServer{ln: ln}
	e.wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			e.accepted.Add(1)
			e.wg.Go(func() {
				defer c.Close()
				io.Copy(c, c)
				c.(*net.TCPConn).CloseWrite()
			})
		}
	})
	tb.Cleanup(func() { ln.Close(); e.wg.Wait() })
	return e
}

func (e *echoServer) addr() string { return e.ln.Addr().String() }
func (e *echoServer) url() string  { return "tcp://" + e.addr() }

// closedPort returns a loopback address where nothing listens.
func newSigner(tb testing.TB) *token.Signer {
	tb.Helper()
	kid, key, err := token.GenerateKey()
	if err != nil {
		tb.Fatal(err)
	}
	s, err := token.NewSigner(kid, key, "test-edge")
	if err != nil {
		tb.Fatal(err)
	}
	return s
}

// signDial gives d an assertion signed by s, as the edge of tunnel
// tunnelID does, naming d's app, stream and identity, and returns d. A
// Dial without a stream id gets a new one.
func signDial(tb testing.TB, s *token.Signer, tunnelID string, d *wire.Dial) *wire.Dial {
	tb.Helper()
	if d.StreamID == "" {
		d.StreamID = fmt.Sprintf("st-%d", streamSeq.Add(1))
	}
	sub := d.Subject
	if sub == "" {
		sub = d.Email
	}
	a, err := s.Assert(token.Assertion{TunnelID: tunnelID, App: d.App, StreamID: d.StreamID,
		Subject: sub, Email: d.Email, Kind: token.KindService}, token.DefaultAssertionTTL)
	if err != nil {
		tb.Fatal(err)
	}
	d.Assertion = a
	return d
}

// streamSeq numbers the stream ids signDial makes up.
var streamSeq atomic.Int64

func testLogger(tb testing.TB) *slog.Logger {
	return slog.New(slog.NewTextHandler(tb.Output(), &slog.HandlerOptions{Level: slog.LevelDebug}))
}

func rules(tb testing.TB, flags ...string) *ingress.Rules {
	tb.Helper()
	var rs []ingress.Rule
	for _, f := range flags {
		r, err := ingress.ParseFlag(f, "--ingress")
		if err != nil {
			tb.Fatal(err)
		}
		rs = append(rs, r)
	}
	out, err := ingress.New(rs)
	if err != nil {
		tb.Fatal(err)
	}
	return out
}

// running is a connector under test.
type running struct {
	c     *connector.Connector
	admin string // base URL of the admin endpoints
	stop  context.CancelFunc
	done  chan error
}

// startConnector runs a connector against creds with the rules; mod may
// adjust the config. It stops at the end of the test.
func startConnector(tb testing.TB, creds *credentials.Credentials, rs *ingress.Rules, mod func(*connector.Config)) *running {
	tb.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	cfg := connector.Config{
		Credentials:   creds,
		Rules:         rs,
		AdminListener: ln,
		Backoff:       backoff.Config{Base: 20 * time.Millisecond, Max: 200 * time.Millisecond, StableAfter: time.Second},
		Grace:         5 * time.Second,
		Logger:        testLogger(tb),
	}
	if mod != nil {
		mod(&cfg)
	}
	c, err := connector.New(cfg)
	if err != nil {
		tb.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	r := &running{c: c, admin: "http://" + ln.Addr().String(), stop: cancel, done: make(chan error, 1)}
	go func() { r.done <- c.Run(ctx) }()
	tb.Cleanup(func() {
		cancel()
		select {
		case err := <-r.done:
			if err != nil {
				tb.Errorf("Run = %v", err)
			}
			r.done <- err
		case <-time.After(15 * time.Second):
			tb.Error("connector did not stop")
		}
	})
	return r
}

// wait returns Run's result, failing after d.
func (r *running) wait(tb testing.TB, d time.Duration) error {
	tb.Helper()
	select {
	case err := <-r.done:
		r.done <- err
		return err
	case <-time.After(d):
		tb.Fatalf("connector still running after %v", d)
		return nil
	}
}

func (r *running) ready(tb testing.TB) (int, connector.Status) {
	tb.Helper()
	resp, err := http.Get(r.admin + "/ready")
	if err != nil {
		tb.Fatal(err)
	}
	defer resp.Body.Close()
	var st connector.Status
	if err := json.NewDecoder(resp.Body).Decode(&st); err != nil {
		tb.Fatalf("/ready: %v", err)
	}
	return resp.StatusCode, st
}

// waitReady polls /ready until cond holds.
func (r *running) waitReady(tb testing.TB, what string, cond func(code int, st connector.Status) bool) connector.Status {
	tb.Helper()
	var st connector.Status
	testenv.Eventually(tb, what, func() error {
		var code int
		code, st = r.ready(tb)
		if cond(code, st) {
			return nil
		}
		return fmt.Errorf("/ready = %d %+v", code, st)
	})
	return st
}

func (r *running) metrics(tb testing.TB) string {
	tb.Helper()
	resp, err := http.Get(r.admin + "/metrics")
	if err != nil {
		tb.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		tb.Fatal(err)
	}
	return string(b)
}

// metricValue returns the value of the metric line that starts with name.
func metricValue(tb testing.TB, text, name string) string {
	tb.Helper()
	for _, line := range strings.Split(text, "\n") {
		if strings.HasPrefix(line, name+" ") {
			return strings.TrimPrefix(line, name+" ")
		}
	}
	tb.Fatalf("metric %s not found", name)
	return ""
}

// waitMetric polls /metrics until the series has the value: byte counters
// move a moment after the bytes do.
func (r *running) waitMetric(tb testing.TB, name, want string) {
	tb.Helper()
	testenv.Eventually(tb, name+" = "+want, func() error {
		if got := metricValue(tb, r.metrics(tb), name); got != want {
			return fmt.Errorf("%s = %s", name, got)
		}
		return nil
	})
}

// echoRoundTrip writes msg, half-closes and expects msg back, then EOF.
func echoRoundTrip(tb testing.TB, s io.ReadWriter, closeWrite func() error, msg string) {
	tb.Helper()
	if _, err := io.WriteString(s, msg); err != nil {
		tb.Fatal(err)
	}
	if err := closeWrite(); err != nil {
		tb.Fatal(err)
	}
	got, err := io.ReadAll(s)
	if err != nil {
		tb.Fatalf("read echo: %v", err)
	}
	if string(got) != msg {
		tb.Fatalf("echo = %q, want %q", got, msg)
	}
}

func isCode(err error, code wire.Code) bool {
	var e *wire.Error
	return errors.As(err, &e) && e.Code == code
}
