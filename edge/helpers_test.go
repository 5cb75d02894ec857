package edge

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"sync/atomic"
	"testing"
	"time"

	"github.com/airlockhq/airlock/internal/credentials"
	"github.com/airlockhq/airlock/internal/testenv"
	"github.com/airlockhq/airlock/internal/wire"
	"github.com/quic-go/quic-go"
)

const (
	testApp   = "k8s.demo.test"
	otherApp  = "web.demo.test"
	lonelyApp = "lonely.demo.test" // served by a tunnel with no connector
)

// syncBuffer is the audit log's writer: safe for concurrent use, read back
// as records.
type syncBuffer struct{ testenv.Buffer }

func (s *syncBuffer) records(tb testing.TB) []AuditRecord {
	tb.Helper()
	var out []AuditRecord
	sc := bufio.NewScanner(bytes.NewReader(s.Bytes()))
	for sc.Scan() {
		var r AuditRecord
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
			tb.Fatalf("audit line %q: %v", sc.Text(), err)
		}
		out = append(out, r)
	}
	return out
}

type testEdge struct {
	srv    *Server
	path   string
	cfg    *Config
	creds  *credentials.Credentials // tunnel "demo" serving testApp and otherApp
	lonely *credentials.Credentials // tunnel "lonely" serving lonelyApp
	audit  *syncBuffer
	pool   *x509.CertPool
	cancel context.CancelFunc
	done   chan error
}

func testLogger(tb testing.TB) *slog.Logger {
	if testing.Verbose() {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.DiscardHandler)
}

// startEdge runs an edge with tunnel "demo" (testApp allows example.com,
// otherApp allows bob@other.test) and tunnel "lonely"; each of set changes
// the configuration before the edge starts.
func startEdge(tb testing.TB, set ...func(*Config)) *testEdge {
	tb.Helper()
	path := initState(tb)
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	if _, err := UpdateConfig(path, func(c *Config) error {
		c.Listen, c.AdminListen = pc.LocalAddr().String(), "127.0.0.1:0"
		return nil
	}); err != nil {
		tb.Fatal(err)
	}
	ct, err := CreateTunnel(path, "demo", TunnelOptions{
		Hostnames: []string{testApp, otherApp},
		Policy:    Policy{Allow: Rule{EmailDomains: []string{"example.com"}}, Deny: Rule{Emails: []string{"mallory@example.com"}}},
	})
	if err != nil {
		tb.Fatal(err)
	}
	lt, err := CreateTunnel(path, "lonely", TunnelOptions{Hostnames: []string{lonelyApp}, Policy: Policy{Allow: Rule{EmailDomains: []string{"example.com"}}}})
	if err != nil {
		tb.Fatal(err)
	}
	cfg, err := LoadConfig(path)
	if err != nil {
		tb.Fatal(err)
	}
	for i := range cfg.Apps {
		if cfg.Apps[i].Hostname == otherApp {
			cfg.Apps[i].Policy = Policy{Allow: Rule{Emails: []string{"bob@other.test"}}}
		}
	}
	cfg.ShutdownGrace = Duration(2 * time.Second)
	for _, f := range set {
		f(cfg)
	}
	e := &testEdge{path: path, cfg: cfg, creds: ct.Credentials, lonely: lt.Credentials, audit: &syncBuffer{}}
	e.pool, err = ct.Credentials.CAPool()
	if err != nil {
		tb.Fatal(err)
	}
	tl, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	e.srv, err = New(cfg, Options{Logger: testLogger(tb), Audit: e.audit, PacketConn: pc, TCPListener: tl})
	if err != nil {
		tb.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	e.cancel, e.done = cancel, make(chan error, 1)
	go func() { e.done <- e.srv.Run(ctx) }()
	tb.Cleanup(func() { e.stop(tb) })
	return e
}

func (e *testEdge) stop(tb testing.TB) {
	e.cancel()
	select {
	case err := <-e.done:
		if err != nil {
			tb.Errorf("Run: %v", err)
		}
		e.done <- nil // later stops return at once
	case <-time.After(15 * time.Second):
		tb.Error("the edge did not stop within 15s")
	}
}

func (e *testEdge) mint(tb testing.TB, app, email string, ttl time.Duration) string {
	tb.Helper()
	s, err := e.cfg.Signer()
	if err != nil {
		tb.Fatal(err)
	}
	tok, err := s.Mint("service", app, email, nil, ttl)
	if err != nil {
		tb.Fatal(err)
	}
	return tok
}

// dial opens a raw QUIC connection to the edge and its control stream.
func (e *testEdge) dial(tb testing.TB) (*quic.Conn, *quic.Stream) {
	tb.Helper()
	return e.dialVia(tb, nil)
}

// mutePacketConn is a UDP socket that can fall silent: while muted, what
// is written to it is dropped, as from a SIGSTOPped or cut-off peer.
type mutePacketConn struct {
	net.PacketConn
	muted atomic.Bool
}

func (c *mutePacketConn) WriteTo(p []byte, addr net.Addr) (int, error) {
	if c.muted.Load() {
		return len(p), nil
	}
	return c.PacketConn.WriteTo(p, addr)
}

// dialVia is dial over pc (nil: a socket of its own).
func (e *testEdge) dialVia(tb testing.TB, pc net.PacketConn) (*quic.Conn, *quic.Stream) {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	tlsConf := &tls.Config{RootCAs: e.pool, ServerName: "localhost", NextProtos: []string{wire.ALPN}}
	qconf := &quic.Config{KeepAlivePeriod: time.Second}
	var conn *quic.Conn
	var err error
	if pc == nil {
		conn, err = quic.DialAddr(ctx, e.srv.Addr().String(), tlsConf, qconf)
	} else {
		tr := &quic.Transport{Conn: pc}
		tb.Cleanup(func() { tr.Close() })
		conn, err = tr.Dial(ctx, e.srv.Addr(), tlsConf, qconf)
	}
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { conn.CloseWithError(0, "") })
	ctrl, err := conn.OpenStreamSync(ctx)
	if err != nil {
		tb.Fatal(err)
	}
	return conn, ctrl
}

// hello sends h and returns the Welcome.
func hello(tb testing.TB, ctrl *quic.Stream, h *wire.Hello) *wire.Welcome {
	tb.Helper()
	if err := wire.WriteFrame(ctrl, h); err != nil {
		tb.Fatal(err)
	}
	ctrl.SetReadDeadline(time.Now().Add(5 * time.Second))
	w, err := wire.ReadFrameOf[*wire.Welcome](ctrl)
	if err != nil {
		tb.Fatalf("reading welcome: %v", err)
	}
	ctrl.SetReadDeadline(time.Time{})
	return w
}

// client connects as a daemon.
func (e *testEdge) client(tb testing.TB) *quic.Conn {
	tb.Helper()
	conn, ctrl := e.dial(tb)
	if w := hello(tb, ctrl, &wire.Hello{Version: wire.Version, Role: wire.RoleClient}); w.Code != wire.CodeOK {
		tb.Fatalf("client welcome: %v", w.Err())
	}
	return conn
}

// open opens a stream, sends Open and returns the stream and the Result.
func open(tb testing.TB, conn *quic.Conn, o *wire.Open) (*quic.Stream, *wire.Result) {
	tb.Helper()
	str, res, err := tryOpen(conn, o)
	if err != nil {
		tb.Fatal(err)
	}
	return str, res
}

// tryOpen is open for a goroutine other than the test's: it returns what
// open would fail the test with.
func tryOpen(conn *quic.Conn, o *wire.Open) (*quic.Stream, *wire.Result, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	str, err := conn.OpenStreamSync(ctx)
	if err != nil {
		return nil, nil, err
	}
	if err := wire.WriteFrame(str, o); err != nil {
		return nil, nil, err
	}
	str.SetReadDeadline(time.Now().Add(10 * time.Second))
	res, err := wire.ReadFrameOf[*wire.Result](str)
	if err != nil {
		return nil, nil, fmt.Errorf("reading result: %w", err)
	}
	str.SetReadDeadline(time.Time{})
	return str, res, nil
}

// fakeConnector is a connector that serves as its own origin: it answers
// Dial with its configured result, then echoes the bytes back prefixed by
// its name.
type fakeConnector struct {
	name    string
	conn    *quic.Conn
	ctrl    *quic.Stream
	welcome *wire.Welcome
	result  atomic.Pointer[wire.Result]
	reset   atomic.Bool                   // reset each stream with CodeGoingAway instead of answering
	hold    atomic.Pointer[chan struct{}] // when set: answer each Dial once it is closed
	dials   chan *wire.Dial
	frames  chan wire.Frame // control frames from the edge
}

func (e *testEdge) connector(tb testing.TB, name string, c *credentials.Credentials) *fakeConnector {
	tb.Helper()
	return e.connectorVia(tb, name, c, nil)
}

// connectorVia is connector over pc (nil: a socket of its own).
func (e *testEdge) connectorVia(tb testing.TB, name string, c *credentials.Credentials, pc net.PacketConn) *fakeConnector {
	tb.Helper()
	conn, ctrl := e.dialVia(tb, pc)
	w := hello(tb, ctrl, &wire.Hello{Version: wire.Version, Role: wire.RoleConnector,
		TunnelID: c.TunnelID, Secret: c.Secret, ConnectorID: name, Software: "fake", Assertions: true})
	if w.Code != wire.CodeOK {
		tb.Fatalf("connector welcome: %v", w.Err())
	}
	fc := &fakeConnector{name: name, conn: conn, ctrl: ctrl, welcome: w,
		dials: make(chan *wire.Dial, 100), frames: make(chan wire.Frame, 10)}
	fc.result.Store(&wire.Result{})
	go func() {
		for {
			f, err := wire.ReadFrame(ctrl)
			if err != nil {
				close(fc.frames)
				return
			}
			fc.frames <- f
		}
	}()
	go func() {
		for {
			str, err := conn.AcceptStream(context.Background())
			if err != nil {
				return
			}
			go fc.serve(str)
		}
	}()
	return fc
}

func (fc *fakeConnector) serve(str *quic.Stream) {
	d, err := wire.ReadFrameOf[*wire.Dial](str)
	if err != nil {
		str.CancelRead(quic.StreamErrorCode(wire.CodeBadRequest))
		str.CancelWrite(quic.StreamErrorCode(wire.CodeBadRequest))
		return
	}
	select {
	case fc.dials <- d:
	default:
	}
	if hold := fc.hold.Load(); hold != nil {
		<-*hold
	}
	if fc.reset.Load() {
		str.CancelWrite(quic.StreamErrorCode(wire.CodeGoingAway))
		str.CancelRead(quic.StreamErrorCode(wire.CodeGoingAway))
		return
	}
	res := fc.result.Load()
	if err := wire.WriteFrame(str, res); err != nil || res.Code != wire.CodeOK {
		str.Close()
		return
	}
	io.WriteString(str, fc.name+":")
	io.Copy(str, str)
	str.Close()
}

// ping sends a Ping on the control stream, as a live connector does.
func (fc *fakeConnector) ping(tb testing.TB) {
	tb.Helper()
	if err := wire.WriteFrame(fc.ctrl, &wire.Ping{Padding: wire.PingPadding}); err != nil {
		tb.Fatalf("connector %s ping: %v", fc.name, err)
	}
}

// roundTrip writes msg, half-closes, and returns everything read back.
func roundTrip(tb testing.TB, str *quic.Stream, msg string) string {
	tb.Helper()
	got, err := tryRoundTrip(str, msg)
	if err != nil {
		tb.Fatal(err)
	}
	return got
}

// tryRoundTrip is roundTrip for a goroutine other than the test's.
func tryRoundTrip(str *quic.Stream, msg string) (string, error) {
	if _, err := io.WriteString(str, msg); err != nil {
		return "", err
	}
	str.Close()
	str.SetReadDeadline(time.Now().Add(10 * time.Second))
	b, err := io.ReadAll(str)
	if err != nil {
		return "", fmt.Errorf("reading the relayed bytes: %w", err)
	}
	return string(b), nil
}

// auditFor waits for the audit line of the stream with the given predicate.
func (e *testEdge) auditFor(tb testing.TB, match func(AuditRecord) bool) AuditRecord {
	tb.Helper()
	var got AuditRecord
	testenv.Eventually(tb, "an audit line", func() bool {
		for _, r := range e.audit.records(tb) {
			if match(r) {
				got = r
				return true
			}
		}
		return false
	})
	return got
}

func streamErrCode(err error) (wire.Code, bool) {
	var se *quic.StreamError
	if errors.As(err, &se) {
		return wire.Code(se.ErrorCode), true
	}
	return 0, false
}
