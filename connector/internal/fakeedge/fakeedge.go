// Package fakeedge is a minimal stand-in for an Airlock edge, for the
// connector's tests: it accepts connector connections, answers their Hello,
// and lets a test open streams with any Dial frame it likes (forged tokens
// included) and send control frames. It checks nothing a real edge checks
// apart from the tunnel secret: the point is to reach the connector's own
// defences.
package fakeedge

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/airlockhq/airlock/internal/credentials"
	"github.com/airlockhq/airlock/internal/edgeclient"
	"github.com/airlockhq/airlock/internal/testenv"
	"github.com/airlockhq/airlock/internal/wire"
	"github.com/quic-go/quic-go"
)

// ServerName is the name on the fake edge's certificate.
const ServerName = "fake-edge.airlock.test"

// Edge is a fake edge listening on a loopback UDP port.
type Edge struct {
	tb      testing.TB
	addr    string
	tlsConf *tls.Config
	caPEM   string

	TunnelID string
	Secret   string
	// KeepDrained keeps a connection open after the connector sends Drain;
	// by default the fake edge closes it at once, as a real edge does once
	// the connection's streams are done.
	KeepDrained atomic.Bool

	mu      sync.Mutex
	keys    []wire.PublicKey
	ln      *quic.Listener
	tr      *quic.Transport
	conns   []*Conn
	changed chan struct{} // closed and replaced whenever conns change
	refusal *wire.Error   // when set, every Hello is refused with it
	refused int
	wg      sync.WaitGroup
}

// Conn is one connector connection the fake edge accepted.
type Conn struct {
	Hello wire.Hello
	qc    *quic.Conn
	ctrl  *quic.Stream
	wmu   sync.Mutex

	mu     sync.Mutex
	drains []string // Drain reasons the connector sent
}

// Start starts a fake edge on 127.0.0.1:0 for tunnel "tun-test" that
// welcomes connectors with keys. It stops at the end of the test.
func Start(tb testing.TB, keys ...wire.PublicKey) *Edge {
	tb.Helper()
	return StartTunnel(tb, "tun-test", "s3cret", keys...)
}

// StartTunnel is Start for the tunnel of the given id and secret: for
// instance a real edge's tunnel, with that edge's keys, so that the test
// can hand a real connector of that tunnel what the real edge signed.
func StartTunnel(tb testing.TB, tunnelID, secret string, keys ...wire.PublicKey) *Edge {
	tb.Helper()
	caPEM, cert := newCert(tb)
	e := &Edge{
		tb:       tb,
		caPEM:    caPEM,
		tlsConf:  &tls.Config{Certificates: []tls.Certificate{cert}, NextProtos: []string{wire.ALPN}, MinVersion: tls.VersionTLS13},
		TunnelID: tunnelID,
		Secret:   secret,
		keys:     keys,
		changed:  make(chan struct{}),
	}
	e.listen("127.0.0.1:0")
	tb.Cleanup(e.Stop)
	return e
}

// Addr returns the edge's UDP address.
func (e *Edge) Addr() string { return e.addr }

// Credentials returns a connector credentials file's contents for this edge.
func (e *Edge) Credentials() *credentials.Credentials {
	return &credentials.Credentials{
		TunnelID: e.TunnelID, TunnelName: "test", Secret: e.Secret,
		Edges: []string{e.addr}, ServerName: ServerName, CAPEM: e.caPEM,
	}
}

func (e *Edge) listen(addr string) {
	e.tb.Helper()
	ua, err := net.ResolveUDPAddr("udp", addr)
	if err != nil {
		e.tb.Fatal(err)
	}
	udp, err := net.ListenUDP("udp", ua)
	if err != nil {
		e.tb.Fatalf("fake edge: listen %s: %v", addr, err)
	}
	tr := &quic.Transport{Conn: udp}
	ln, err := tr.Listen(e.tlsConf, edgeclient.DefaultQUICConfig())
	if err != nil {
		e.tb.Fatalf("fake edge: listen %s: %v", addr, err)
	}
	e.mu.Lock()
	e.ln, e.tr = ln, tr
	e.addr = ln.Addr().String()
	e.mu.Unlock()
	e.wg.Go(func() { e.acceptLoop(ln) })
}

// Stop closes the listener and every connection.
func (e *Edge) Stop() {
	e.mu.Lock()
	ln, tr := e.ln, e.tr
	e.ln, e.tr = nil, nil
	conns := e.conns
	e.conns = nil
	e.notifyLocked()
	e.mu.Unlock()
	for _, c := range conns {
		c.qc.CloseWithError(quic.ApplicationErrorCode(wire.CodeGoingAway), "fake edge stopping")
	}
	if ln != nil {
		ln.Close()
		tr.Close()
		tr.Conn.Close()
	}
	e.wg.Wait()
}

// Refuse makes the edge answer every Hello from now on with code and msg
// (nil: accept again).
func (e *Edge) Refuse(refusal *wire.Error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.refusal = refusal
}

// Refused returns how many Hellos were refused by Refuse's refusal.
func (e *Edge) Refused() int {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.refused
}

// Restart starts listening again on the same address after Stop.
func (e *Edge) Restart() { e.listen(e.addr) }

func (e *Edge) notifyLocked() {
	close(e.changed)
	e.changed = make(chan struct{})
}

func (e *Edge) acceptLoop(ln *quic.Listener) {
	for {
		qc, err := ln.Accept(context.Background())
		if err != nil {
			return
		}
		e.wg.Go(func() { e.serve(qc) })
	}
}

func (e *Edge) serve(qc *quic.Conn) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	ctrl, err := qc.AcceptStream(ctx)
	if err != nil {
		qc.CloseWithError(1, "no control stream")
		return
	}
	hello, err := wire.ReadFrameOf[*wire.Hello](ctrl)
	if err != nil {
		qc.CloseWithError(quic.ApplicationErrorCode(wire.CodeBadRequest), err.Error())
		return
	}
	e.mu.Lock()
	keys := e.keys
	e.mu.Unlock()
	w := &wire.Welcome{Version: wire.Version, EdgeID: "fake-edge", ConnID: fmt.Sprintf("c%d", hello.ConnIndex), Keys: keys}
	e.mu.Lock()
	refusal := e.refusal
	if refusal != nil {
		e.refused++
		e.notifyLocked()
	}
	e.mu.Unlock()
	if refusal != nil {
		w.Code, w.Message, w.Keys = refusal.Code, refusal.Message, nil
		wire.WriteFrame(ctrl, w)
		ctrl.Close()
		<-qc.Context().Done()
		return
	}
	if hello.Role != wire.RoleConnector || hello.TunnelID != e.TunnelID || hello.Secret != e.Secret {
		w.Code, w.Message, w.Keys = wire.CodeUnauthenticated, "unknown tunnel or bad secret", nil
		wire.WriteFrame(ctrl, w)
		ctrl.Close()
		<-qc.Context().Done()
		return
	}
	if err := wire.WriteFrame(ctrl, w); err != nil {
		return
	}
	c := &Conn{Hello: *hello, qc: qc, ctrl: ctrl}
	e.mu.Lock()
	if e.ln == nil { // stopped meanwhile
		e.mu.Unlock()
		qc.CloseWithError(quic.ApplicationErrorCode(wire.CodeGoingAway), "fake edge stopping")
		return
	}
	e.conns = append(e.conns, c)
	e.notifyLocked()
	e.mu.Unlock()
	for {
		f, err := wire.ReadFrame(ctrl)
		if err != nil {
			break
		}
		if d, ok := f.(*wire.Drain); ok {
			c.mu.Lock()
			c.drains = append(c.drains, d.Reason)
			c.mu.Unlock()
			e.mu.Lock()
			e.notifyLocked()
			e.mu.Unlock()
			if !e.KeepDrained.Load() {
				qc.CloseWithError(quic.ApplicationErrorCode(wire.CodeOK), "drained")
			}
		}
	}
	<-qc.Context().Done()
	e.mu.Lock()
	for i, x := range e.conns {
		if x == c {
			e.conns = append(e.conns[:i], e.conns[i+1:]...)
			break
		}
	}
	e.notifyLocked()
	e.mu.Unlock()
}

// Conns returns the live connections, oldest first.
func (e *Edge) Conns() []*Conn {
	e.mu.Lock()
	defer e.mu.Unlock()
	var out []*Conn
	for _, c := range e.conns {
		if c.qc.Context().Err() == nil {
			out = append(out, c)
		}
	}
	return out
}

// WaitFor waits until cond holds for the live connections, failing the test
// when it does not by the test's deadline.
func (e *Edge) WaitFor(what string, cond func([]*Conn) bool) []*Conn {
	e.tb.Helper()
	ctx := testenv.Context(e.tb)
	for {
		e.mu.Lock()
		ch := e.changed
		e.mu.Unlock()
		if conns := e.Conns(); cond(conns) {
			return conns
		}
		select {
		case <-ch:
		case <-time.After(50 * time.Millisecond): // connections also die without a notification
		case <-ctx.Done():
			e.tb.Fatalf("fake edge: waiting for %s: %v (have %d connections)", what, context.Cause(ctx), len(e.Conns()))
		}
	}
}

// WaitConns waits for n live connections.
func (e *Edge) WaitConns(n int) []*Conn {
	e.tb.Helper()
	return e.WaitFor(fmt.Sprintf("%d connections", n), func(c []*Conn) bool { return len(c) == n })
}

// SetKeys changes the keys later Welcomes carry.
func (e *Edge) SetKeys(keys ...wire.PublicKey) {
	e.mu.Lock()
	e.keys = keys
	e.mu.Unlock()
}

// Send writes a control frame (Keys, Drain) to the connector.
func (c *Conn) Send(f wire.Frame) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	return wire.WriteFrame(c.ctrl, f)
}

// Drains returns the Drain reasons the connector sent on this connection.
func (c *Conn) Drains() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]string(nil), c.drains...)
}

// Closed is done once the connection has closed.
func (c *Conn) Closed() <-chan struct{} { return c.qc.Context().Done() }

// Dial opens a stream to the connector, sends d and reads the Result. The
// stream is returned for an OK result so the test can use it.
func (c *Conn) Dial(ctx context.Context, d *wire.Dial) (*Stream, *wire.Result, error) {
	s, err := c.qc.OpenStreamSync(ctx)
	if err != nil {
		return nil, nil, err
	}
	return c.Raw(s, d)
}

// DialRaw opens a stream and writes raw bytes as its header, then reads the
// connector's Result.
func (c *Conn) DialRaw(ctx context.Context, header []byte) (*wire.Result, error) {
	s, err := c.qc.OpenStreamSync(ctx)
	if err != nil {
		return nil, err
	}
	if _, err := s.Write(header); err != nil {
		return nil, err
	}
	s.SetReadDeadline(time.Now().Add(5 * time.Second))
	res, err := wire.ReadFrameOf[*wire.Result](s)
	s.CancelRead(0)
	s.Close()
	return res, err
}

// Raw sends d on an opened stream s and reads the Result.
func (c *Conn) Raw(s *quic.Stream, d *wire.Dial) (*Stream, *wire.Result, error) {
	sc := &Stream{s}
	if err := wire.WriteFrame(sc, d); err != nil {
		return nil, nil, err
	}
	sc.SetReadDeadline(time.Now().Add(10 * time.Second))
	res, err := wire.ReadFrameOf[*wire.Result](sc)
	if err != nil {
		sc.Abort(wire.CodeInternal)
		return nil, nil, err
	}
	sc.SetReadDeadline(time.Time{})
	if res.Code != wire.CodeOK {
		sc.Close()
		return nil, res, nil
	}
	return sc, res, nil
}

func newCert(tb testing.TB) (caPEM string, cert tls.Certificate) {
	tb.Helper()
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		tb.Fatal(err)
	}
	now := time.Now()
	caTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "fake edge CA"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		tb.Fatal(err)
	}
	ca, _ := x509.ParseCertificate(caDER)
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		tb.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: ServerName},
		DNSNames: []string{ServerName}, IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
	if err != nil {
		tb.Fatal(err)
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER})),
		tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
}

// Stream is the edge's end of a stream to the connector.
type Stream struct{ *quic.Stream }

// CloseWrite sends FIN; reads go on.
func (s *Stream) CloseWrite() error { return s.Stream.Close() }

// Close ends both directions.
func (s *Stream) Close() error {
	err := s.Stream.Close()
	s.CancelRead(quic.StreamErrorCode(wire.CodeOK))
	return err
}

// Abort resets both directions with code.
func (s *Stream) Abort(code wire.Code) {
	s.CancelWrite(quic.StreamErrorCode(code))
	s.CancelRead(quic.StreamErrorCode(code))
}
