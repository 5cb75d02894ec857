package edgeclient_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"io"
	"math/big"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/quic-go/quic-go"

	"github.com/airlockhq/airlock/internal/edgeclient"
	"github.com/airlockhq/airlock/internal/relay"
	"github.com/airlockhq/airlock/internal/wire"
)

// fakeEdge is a bare QUIC server that speaks the handshake and hands each
// stream's Open to answer, with the index of its connection (0 for the
// first one accepted).
type fakeEdge struct {
	addr  string
	pool  *x509.CertPool
	conns atomic.Int32
}

func startFakeEdge(tb testing.TB, answer func(conn int, o *wire.Open) *wire.Result) *fakeEdge {
	tb.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		tb.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "fake edge"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		DNSNames: []string{"localhost"}, IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		tb.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		tb.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	ln, err := quic.ListenAddr("127.0.0.1:0", &tls.Config{
		Certificates: []tls.Certificate{{Certificate: [][]byte{der}, PrivateKey: key}},
		NextProtos:   []string{wire.ALPN},
	}, &quic.Config{})
	if err != nil {
		tb.Fatal(err)
	}
	fe := &fakeEdge{addr: ln.Addr().String(), pool: pool}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	tb.Cleanup(func() { cancel(); ln.Close(); wg.Wait() })
	wg.Go(func() {
		for {
			qc, err := ln.Accept(ctx)
			if err != nil {
				return
			}
			n := int(fe.conns.Add(1)) - 1
			wg.Go(func() {
				defer qc.CloseWithError(0, "")
				ctrl, err := qc.AcceptStream(ctx)
				if err != nil {
					return
				}
				if _, err := wire.ReadFrameOf[*wire.Hello](ctrl); err != nil {
					return
				}
				if wire.WriteFrame(ctrl, &wire.Welcome{Version: wire.Version, EdgeID: "fake"}) != nil {
					return
				}
				for {
					str, err := qc.AcceptStream(ctx)
					if err != nil {
						return
					}
					wg.Go(func() {
						o, err := wire.ReadFrameOf[*wire.Open](str)
						if err != nil {
							str.CancelWrite(quic.StreamErrorCode(wire.CodeBadRequest))
							return
						}
						res := answer(n, o)
						if wire.WriteFrame(str, res) != nil || res.Code != wire.CodeOK {
							str.Close()
							return
						}
						io.Copy(str, str) //nolint:errcheck // an echo
						str.Close()
					})
				}
			})
		}
	})
	return fe
}

// TestOpenRetriesWhenEdgeGoesAway: a stream the edge refuses with
// CodeGoingAway (it is shutting down; its Drain may not have arrived) is
// tried again on a new connection, and the old one gets no more streams.
func TestOpenRetriesWhenEdgeGoesAway(t *testing.T) {
	fe := startFakeEdge(t, func(conn int, _ *wire.Open) *wire.Result {
		if conn == 0 {
			return &wire.Result{Code: wire.CodeGoingAway, Message: "edge shutting down"}
		}
		return &wire.Result{}
	})
	c := edgeclient.NewClient(edgeclient.Config{Addr: fe.addr, ServerName: "localhost", RootCAs: fe.pool})
	t.Cleanup(func() { c.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for i := range 3 {
		s, err := c.Open(ctx, &wire.Open{App: "k8s.test", Token: "t"})
		if err != nil {
			t.Fatalf("stream %d: %v", i, err)
		}
		s.Close()
	}
	if n := fe.conns.Load(); n != 2 {
		t.Fatalf("the client made %d connections, want 2", n)
	}
}

// TestOpenDoesNotRetryRefusals: other refusals reach the caller at once,
// with no second connection.
func TestOpenDoesNotRetryRefusals(t *testing.T) {
	fe := startFakeEdge(t, func(int, *wire.Open) *wire.Result {
		return &wire.Result{Code: wire.CodeNoConnector, Message: "no connector"}
	})
	c := edgeclient.NewClient(edgeclient.Config{Addr: fe.addr, ServerName: "localhost", RootCAs: fe.pool})
	t.Cleanup(func() { c.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, err := c.Open(ctx, &wire.Open{App: "k8s.test", Token: "t"})
	if relay.CodeOf(err) != wire.CodeNoConnector {
		t.Fatalf("Open = %v, want no connector", err)
	}
	if n := fe.conns.Load(); n != 1 {
		t.Fatalf("the client made %d connections, want 1", n)
	}
}
